// perceiver-io-webgpu/node: the Node-only helpers (node:fs, node:zlib, and
// Dawn's `webgpu` package, an optional peer dependency: `npm i webgpu`).
// Nothing else in the package imports this module, so browser bundles never
// see it.
//
//   import { nodeGpu, readPng, convertFile } from 'perceiver-io-webgpu/node';

export { nodeGpu, nodeWebGpu, type NodeGpuOptions } from './engine/node.ts';
export { decodePng, encodePng, readPng, writePng, PngError, type DecodeOptions, type EncodeOptions, type RgbaImage } from './tools/png.ts';
export { readFlo, writeFlo, FloError, type FlowField } from './perceiver/flow/flo.ts';
export { readFloFile, writeFloFile, writeFlowPng } from './perceiver/flow/node.ts';
export { convertFile, type ConvertFileOptions, type ConvertFileResult } from './tools/convert-file.ts';
export { writeAttentionMaps, type WriteMapsOptions } from './tools/attention-maps.ts';
export { nodeHubCache, hfFiles, readHfCheckpoint } from './perceiver/hub/node.ts';
