// The multimodal autoencoder's checkpoint leaves (perceiver/params.ts).

import type { MultimodalConfig } from '../config.ts';
import { fourierChannels, type CheckpointBuilder } from '../checkpoint.ts';

/** Per-modality widths of the multimodal autoencoder (sorted: audio, image, label). */
export function multimodalWidths(c: MultimodalConfig): {
  inputs: Record<'audio' | 'image' | 'label', number>;
  inputWidth: number;
  queries: Record<'audio' | 'image' | 'label', number>;
  queryWidth: number;
} {
  const inputs = {
    audio: c.samplesPerPatch + fourierChannels(1, c.audioBands),
    image: c.spaceToDepth * c.spaceToDepth * 3 + fourierChannels(3, c.imageBands),
    label: c.numClasses,
  };
  const queries = {
    audio: fourierChannels(1, c.audioBands),
    image: fourierChannels(3, c.imageBands),
    label: c.labelQueryChannels,
  };
  const inputWidth = Math.max(...Object.values(inputs)) + c.inputPadding;
  const queryWidth = Math.max(...Object.values(queries)) + c.queryPadding;
  return { inputs, inputWidth, queries, queryWidth };
}

export function multimodalCheckpoint(b: CheckpointBuilder, c: MultimodalConfig): void {
  const w = multimodalWidths(c);
  for (const m of ['audio', 'image', 'label'] as const) {
    b.posEmbs(`multimodal_preprocessor/${m}_mask_token`, 1, w.inputWidth);
    b.posEmbs(`multimodal_preprocessor/${m}_padding`, 1, w.inputWidth - w.inputs[m]);
    b.posEmbs(`multimodal_decoder/~decoder_query/${m}_padding`, 1, w.queryWidth - w.queries[m]);
  }
  b.encoder(c.encoder, w.inputWidth);
  b.posEmbs('classification_decoder/~/basic_decoder/~/trainable_position_encoding', 1, c.labelQueryChannels);
  const dec = 'multimodal_decoder/~/basic_decoder';
  b.cross(`${dec}/cross_attention`, w.queryWidth, c.encoder.latentChannels, c.decoderHeads);
  b.linear(`${dec}/output`, w.queryWidth, c.decoderOutputChannels);
  b.linear('audio_postprocessor/linear', c.decoderOutputChannels, c.samplesPerPatch);
  b.linear('projection_postprocessor/linear', c.decoderOutputChannels, 3);
  b.linear('classification_postprocessor/linear', c.decoderOutputChannels, c.numClasses);
}
