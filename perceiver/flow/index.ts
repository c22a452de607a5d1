// Optical flow: the browser/Node entry point for the optical-flow preset.
// Evaluation and file helpers are modules of their own, outside the entry
// point (an app that only estimates and shows flow does not carry them):
// flo.ts (Middlebury .flo read/write, browser-safe), metrics.ts (end-point
// error), tiling.ts (the colab's tile plan), node.ts (files and PNGs in Node).
export { OpticalFlow, flowPicture, toImageData, drawFlow, type FlowResult, type SequenceResult, type EstimateOptions, type TileAttention } from './api.ts';
export type { AttentionMap, AttentionMaps, AttentionRequest } from '../attention_grid.ts';
export { loadOpticalFlow } from './load.ts';
export { estimateFlow, normalizeFrame, type FlowOptions } from './pipeline.ts';
export type { FlowColorOptions, LegendOptions } from './colorwheel.ts';
export type { ModelLoadOptions, ModelSource } from '../load.ts';
