// Loading a converted optical-flow weight file (tools/convert.ts output) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import { loadWeights, type WeightSource, type LoadOptions } from '../../engine/weights.ts';
import { withOverrides, defaultConfig, type FlowConfig } from '../config.ts';
import { OpticalFlow } from './api.ts';

/**
 * Loads a converted optical-flow weight file (bytes, a fetch Response or a
 * stream), streaming tensors to the GPU with optional progress.
 */
export async function loadOpticalFlow(gpu: Gpu, source: WeightSource, opts: LoadOptions = {}): Promise<OpticalFlow> {
  let config: FlowConfig | null = null;
  const { tensors } = await loadWeights(gpu, source, {
    ...opts,
    expectMeta(meta: Record<string, unknown>) {
      if (meta.preset !== 'optical-flow') throw new Error(`this weight file is for preset '${String(meta.preset)}', not optical-flow`);
      config = withOverrides(defaultConfig('optical-flow') as FlowConfig, (meta.overrides ?? {}) as Record<string, number>);
      opts.expectMeta?.(meta);
    },
  });
  return new OpticalFlow(gpu, config!, tensors);
}
