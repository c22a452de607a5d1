// ImageNet classification: the browser/Node entry point for the three
// imagenet-* presets.
export { ImageClassifier, imagenetClasses, type Prediction, type ClassifyOptions, type ClassifyResult } from './classify.ts';
export { imagenetLogits, imagenetInputs, imagenetInputGrid } from './model.ts';
export type { AttentionMap, AttentionMaps, AttentionRequest } from '../attention_grid.ts';
export { preprocessImageNet } from './preprocess.ts';
// The class names: `await imagenetClasses()` (a lazily loaded chunk), or
// import { IMAGENET_CLASSES } from './labels.ts' to bundle them eagerly.
export { loadImageClassifier } from './load.ts';
export type { ModelLoadOptions, ModelSource } from '../load.ts';
