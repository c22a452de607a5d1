// Loading a converted optical-flow weight file (tools/convert.ts output) onto the GPU.

import type { Gpu } from '../../engine/index.ts';
import { flowConfig } from '../config.ts';
import { loadPreset, finishLoad, type ModelSource, type ModelLoadOptions } from '../load.ts';
import { OpticalFlow } from './api.ts';

/**
 * Loads a converted optical-flow weight file (bytes, a fetch Response or a
 * stream, or a function giving one), streaming tensors to the GPU with
 * optional progress, then compiles the pipelines of a first call
 * (perceiver/load.ts ModelLoadOptions).
 */
export async function loadOpticalFlow(gpu: Gpu, source: ModelSource, opts: ModelLoadOptions = {}): Promise<OpticalFlow> {
  const { config, tensors, weights } = await loadPreset(gpu, source, opts, ['optical-flow'], flowConfig);
  return finishLoad((g) => new OpticalFlow(g, config, tensors), weights, opts, flowFirstCall);
}

/** The call whose pipelines loading compiles: a blank frame pair of one tile, with its picture. */
export function flowFirstCall(m: OpticalFlow): Promise<unknown> {
  const [h, w] = m.config.trainSize;
  return m.flowNormalized(new Float32Array(2 * h * w * 3), h, w, { picture: true });
}
