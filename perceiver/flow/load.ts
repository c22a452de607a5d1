// Loading a converted optical-flow weight file (tools/convert.ts output) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import type { WeightSource, LoadOptions } from '../../engine/weights.ts';
import { flowConfig } from '../config.ts';
import { loadPreset } from '../load.ts';
import { OpticalFlow } from './api.ts';

/**
 * Loads a converted optical-flow weight file (bytes, a fetch Response or a
 * stream), streaming tensors to the GPU with optional progress.
 */
export async function loadOpticalFlow(gpu: Gpu, source: WeightSource, opts: LoadOptions = {}): Promise<OpticalFlow> {
  const { config, tensors } = await loadPreset(gpu, source, opts, ['optical-flow'], flowConfig);
  return new OpticalFlow(gpu, config, tensors);
}
