// The masked language model's checkpoint leaves (perceiver/params.ts).

import type { LanguageConfig } from '../config.ts';
import type { CheckpointBuilder } from '../checkpoint.ts';

export function languageCheckpoint(b: CheckpointBuilder, c: LanguageConfig): void {
  b.add('embed/embeddings', [c.vocabSize, c.dModel]);
  b.posEmbs('trainable_position_encoding', c.maxSeqLen, c.dModel);
  b.encoder(c.encoder, c.dModel);
  b.posEmbs('basic_decoder/~/trainable_position_encoding', c.maxSeqLen, c.dModel);
  b.cross('basic_decoder/cross_attention', c.dModel, c.encoder.latentChannels, c.decoderHeads, c.decoderQkChannels, c.decoderVChannels);
  b.add('embedding_decoder/bias', [c.vocabSize]);
}
