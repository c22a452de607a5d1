// Node helpers for HuggingFace checkpoints (re-exported by the `/node`
// subpath): a cache folder for hub() and loading an HF folder or files from
// disk directly.
//
//   const cache = nodeHubCache('.cache/perceiver-io');
//   await loadImageClassifier(gpu, hub('deepmind/vision-perceiver-conv', { cache }));
//   await loadImageClassifier(gpu, hfFiles('vision-perceiver-conv/'));   // a downloaded repo folder
//   await loadImageClassifier(gpu, hfFiles('dir/pytorch_model.bin'));    // its config.json beside it

import { mkdirSync, readFileSync, writeFileSync, renameSync, rmSync, existsSync, statSync, createReadStream } from 'node:fs';
import { join, dirname, basename } from 'node:path';
import { Readable } from 'node:stream';
import type { WeightProvider } from '../../engine/weights.ts';
import type { NdArray } from '../../tools/ndarray.ts';
import { convertHf, readHfWeights, type StoreDtype } from '../../tools/convert.ts';
import { streamSafetensors, parseSafetensorsIndex, joinShards } from '../../tools/safetensors.ts';
import type { HubCache } from './index.ts';

/**
 * A cache folder: one converted weight file per key, written to a
 * `.partial` file and renamed once complete (so an interrupted write is
 * never read as a cached file).
 */
export function nodeHubCache(dir: string): HubCache {
  const file = (key: string) => {
    // keys are URLs: keep them readable and safe as one file name
    const name = key.replace(/^https?:\/\//, '').replace(/[^A-Za-z0-9._-]+/g, '_').slice(-200);
    return join(dir, name);
  };
  return {
    async get(key) {
      const f = file(key);
      return existsSync(f) ? new Uint8Array(readFileSync(f)) : null;
    },
    async put(key, bytes) {
      mkdirSync(dir, { recursive: true });
      const f = file(key);
      writeFileSync(`${f}.partial`, bytes);
      renameSync(`${f}.partial`, f);
    },
    async delete(key) {
      rmSync(file(key), { force: true });
    },
  };
}

/**
 * Reads an HF checkpoint on disk: a folder (config.json with
 * model.safetensors, model.safetensors.index.json and its shards, or
 * pytorch_model.bin) or one of those weight files (config.json beside it).
 * safetensors are streamed (never held whole); progress counts bytes read.
 */
export async function readHfCheckpoint(
  path: string,
  onProgress?: (loaded: number, total: number, name: string) => void,
): Promise<{ configText: string; tensors: Map<string, NdArray>; source: string }> {
  if (!existsSync(path)) throw new Error(`${path}: no such file or folder`);
  const isDir = statSync(path).isDirectory();
  const dir = isDir ? path : dirname(path);
  const configPath = join(dir, 'config.json');
  if (!existsSync(configPath)) throw new Error(`${dir}: no config.json beside the weights (it names the model and its sizes)`);
  const configText = readFileSync(configPath, 'utf8');
  const pick = isDir ? ['model.safetensors', 'model.safetensors.index.json', 'pytorch_model.bin'].find((f) => existsSync(join(dir, f))) : basename(path);
  if (!pick) throw new Error(`${dir}: none of model.safetensors, model.safetensors.index.json, pytorch_model.bin`);
  let total = 0;
  let loaded = 0;
  const read = async (file: string): Promise<Map<string, NdArray>> => {
    const p = join(dir, file);
    const size = statSync(p).size;
    total += size;
    if (!file.endsWith('.safetensors')) {
      const m = readHfWeights(new Uint8Array(readFileSync(p)), file);
      loaded += size;
      onProgress?.(loaded, total, file);
      return m;
    }
    const base = loaded;
    return streamSafetensors(Readable.toWeb(createReadStream(p)) as ReadableStream<Uint8Array>, {
      length: size,
      onBytes: (n) => onProgress?.((loaded = base + n), total, file),
    });
  };
  let tensors: Map<string, NdArray>;
  if (pick.endsWith('.index.json')) {
    const shards = parseSafetensorsIndex(readFileSync(join(dir, pick), 'utf8'));
    const got = new Map<string, Map<string, NdArray>>();
    for (const f of shards.keys()) got.set(f, await read(f));
    tensors = joinShards(shards, got);
  } else tensors = await read(pick);
  return { configText, tensors, source: join(dir, pick) };
}

/** An HF checkpoint on disk (readHfCheckpoint) for any task loader, converted in memory when asked for. */
export function hfFiles(path: string, opts: { dtype?: StoreDtype } = {}): WeightProvider {
  return {
    async weightFile({ onProgress }) {
      const { configText, tensors, source } = await readHfCheckpoint(path, onProgress);
      return convertHf(configText, tensors, opts.dtype ?? 'f32', source);
    },
  };
}
