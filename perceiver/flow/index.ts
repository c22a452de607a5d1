// Optical flow: the browser/Node entry point for the optical-flow preset.
export { OpticalFlow, flowPicture, toImageData, drawFlow, type FlowResult, type SequenceResult, type EstimateOptions } from './api.ts';
export { loadOpticalFlow } from './load.ts';
export { estimateFlow, normalizeFrame, type FlowOptions } from './pipeline.ts';
export type { FlowColorOptions, LegendOptions } from './colorwheel.ts';
export { readFlo, writeFlo, FloError, type FlowField } from './flo.ts';
export { endPointError, constantFlow, type EndPointError } from './metrics.ts';
export { tileOrigins, tentWeight, TRAIN_SIZE, MIN_OVERLAP } from './tiling.ts';
