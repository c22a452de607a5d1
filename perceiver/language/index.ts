// Masked language modelling on raw UTF-8 bytes: the browser/Node entry point
// for the language-mlm preset (DeepMind's 201M-parameter released model).
export {
  encode,
  decode,
  utf8,
  fromUtf8,
  bytesToIds,
  idsToBytes,
  idToken,
  BytesTokenizer,
  PAD_ID,
  BOS_ID,
  EOS_ID,
  MASK_ID,
  CLS_ID,
  SEP_ID,
  NUM_RESERVED_TOKENS,
  VOCAB_SIZE,
} from './tokenizer.ts';
export { languageLogits, languageInputs } from './model.ts';
export {
  MaskedLanguageModel,
  FillMaskSyntaxError,
  parseFillMask,
  rangesToGaps,
  planWindows,
  fillGaps,
  predictByte,
  type Gap,
  type ByteRange,
  type ByteCandidate,
  type BytePrediction,
  type FilledGap,
  type FillMaskResult,
  type FillMaskOptions,
  type LogitsFn,
} from './fillmask.ts';
export { loadMaskedLanguageModel } from './load.ts';
export type { ModelLoadOptions, ModelSource } from '../load.ts';
