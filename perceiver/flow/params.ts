// The optical-flow model's checkpoint leaves (perceiver/params.ts).

import type { FlowConfig } from '../config.ts';
import { fourierChannels, type CheckpointBuilder } from '../checkpoint.ts';

/** Input width of the flow encoder: projected patches + 2-D Fourier features. */
export function flowInputChannels(c: FlowConfig): number {
  return c.patchChannels + fourierChannels(2, c.fourierBands);
}

export function flowCheckpoint(b: CheckpointBuilder, c: FlowConfig): void {
  // Two frames of 3x3 patches of RGB, stacked along channels.
  b.linear('image_preprocessor/patches_linear', 2 * 3 * 3 * 3, c.patchChannels);
  const inC = flowInputChannels(c);
  b.encoder(c.encoder, inC);
  const dec = 'flow_decoder/~/basic_decoder';
  b.cross(`${dec}/cross_attention`, inC, c.encoder.latentChannels, c.decoderHeads);
  b.linear(`${dec}/output`, inC, 2);
}
