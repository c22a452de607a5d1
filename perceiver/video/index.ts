// Video + audio + label autoencoding: the browser/Node entry point for the
// multimodal-autoencoder preset (DeepMind's Kinetics-700 model).
export {
  VideoAutoencoder,
  loadVideoAutoencoder,
  SAMPLE_RATE,
  type VideoClip,
  type FrameSelection,
  type AutoencodeOptions,
  type WindowResult,
  type ClipResult,
  type EncodedWindow,
  type WindowRequest,
  type WindowOutputs,
} from './api.ts';
export {
  MultimodalAutoencoderModel,
  multimodalInputs,
  modalityQueries,
  encodeFolded,
  releasedGeometry,
  windowCounts,
  defaultChunkSize,
  allIndices,
  frameIndices,
  rectIndices,
  audioPatchIndices,
  scatterImage,
  scatterAudio,
  MODALITIES,
  type Modality,
  type WindowGeometry,
  type PixelRect,
  type QuerySelection,
  type DecodeOptions,
  type DecodedOutputs,
  type ProjectionMode,
  type CrossAttentionMode,
} from './model.ts';
export { planWindows, windowFrames, windowAudio, type WindowPlan } from './windows.ts';
export { preprocessFrame, resizeBilinearU8, centerSquare, toRgbaBytes } from './preprocess.ts';
export { psnr, type PsnrResult, type PsnrOptions } from './psnr.ts';
export { KINETICS700_CLASSES } from './labels.ts';
