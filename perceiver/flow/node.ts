// Node-only file helpers for optical flow (node:fs; not part of the browser
// entry point perceiver/flow/index.ts): Middlebury .flo files and the
// colour-wheel picture as a PNG (tools/png.ts).
//
//   const r = await model.flow(readPng('a.png'), readPng('b.png'), { picture: { legend: true } });
//   writeFloFile('a_b.flo', { width: r.width, height: r.height, data: r.flow });
//   writeFlowPng('a_b.png', r.picture!);

import { readFileSync, writeFileSync } from 'node:fs';
import { encodePng } from '../../tools/png.ts';
import type { RgbaImage } from '../image.ts';
import { readFlo, writeFlo, type FlowField } from './flo.ts';

/** Reads a .flo file; a malformed file is a FloError naming the path. */
export function readFloFile(path: string): FlowField {
  try {
    return readFlo(readFileSync(path));
  } catch (e) {
    if ((e as Error).name === 'FloError') (e as Error).message = `${path}: ${(e as Error).message}`;
    throw e;
  }
}

export function writeFloFile(path: string, flow: FlowField): void {
  writeFileSync(path, writeFlo(flow));
}

/** Writes a flow picture (RGBA, opaque) as an RGB PNG. */
export function writeFlowPng(path: string, picture: RgbaImage): void {
  writeFileSync(path, encodePng(picture.width, picture.height, picture.data));
}
