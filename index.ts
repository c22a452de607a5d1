// perceiver-io-webgpu: the engine and weight loading, browser-safe. Each
// task has its own subpath (perceiver-io-webgpu/imagenet, /language, /flow,
// /video), the converter is /convert and the Node helpers /node: an app
// bundles only what it imports.

export * from './engine/index.ts';
export {
  loadWeights,
  parseWeightHeader,
  WeightFormatError,
  WEIGHT_FORMAT_VERSION,
  type WeightSource,
  type LoadOptions,
  type LoadedWeights,
  type WeightHeader,
  type WeightTensorInfo,
  type WeightDType,
} from './engine/weights.ts';
export { fetchWeights, forgetWeights, WEIGHT_CACHE, type FetchWeightsOptions, type FetchedWeights } from './engine/fetch.ts';
