// What the model commands share: the device (Dawn in Node), reading a
// weight file with progress, reading PNG inputs with the file named in errors.

import { existsSync, readFileSync, statSync } from 'node:fs';
import { setupNodeGpu } from '../setup-driver.ts';
import type { Gpu } from '../../engine/index.ts';
import type { LoadOptions } from '../../engine/weights.ts';
import { readPng, type RgbaImage } from '../png.ts';
import { progressReporter, type Io } from './args.ts';

/** Weight files larger than this report their loading progress. */
const PROGRESS_FROM_BYTES = 32 * 2 ** 20;

/** Runs `work` on a Node WebGPU device (the adapter named on stderr), destroying it afterwards. */
export async function withGpu<T>(io: Io, work: (gpu: Gpu) => Promise<T>): Promise<T> {
  const gpu = await setupNodeGpu(); // with no adapter: lavapipe if installed, else installs it where allowed (tools/setup-driver.ts)
  io.err(`adapter: ${gpu.adapterName}`);
  try {
    return await work(gpu);
  } finally {
    gpu.destroy();
  }
}

/** A weight file's bytes and the loader options that report its upload. */
export function readWeightFile(path: string, io: Io): { bytes: Uint8Array; opts: LoadOptions } {
  if (!existsSync(path)) throw new Error(`${path}: no such weight file (convert a checkpoint with \`perceiver-io convert\`)`);
  const size = statSync(path).size;
  io.err(`loading ${path} (${(size / 2 ** 20).toFixed(1)} MB)`);
  const report = progressReporter(io, `uploading ${path}`, PROGRESS_FROM_BYTES);
  return { bytes: readFileSync(path), opts: { onProgress: (done, total) => report(done, total) } };
}

/** A PNG input; other formats are refused with the file named. */
export function readImage(path: string): RgbaImage {
  if (!existsSync(path)) throw new Error(`${path}: no such file`);
  try {
    return readPng(path);
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message} (images are read as PNG; convert others first)`);
  }
}

/** Refuses to overwrite a user's file unless asked. */
export function checkWritable(path: string, force: boolean): void {
  if (existsSync(path) && !force) throw new Error(`${path} exists; pass --force to overwrite it`);
}
