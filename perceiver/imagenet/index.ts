// ImageNet classification: the browser/Node entry point for the three
// imagenet-* presets.
export { ImageClassifier, type Prediction } from './classify.ts';
export { imagenetLogits, imagenetInputs } from './model.ts';
export { preprocessImageNet } from './preprocess.ts';
export { IMAGENET_CLASSES } from './labels.ts';
export { loadImageClassifier } from './load.ts';
