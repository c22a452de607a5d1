// Converting a checkpoint file on disk (Node: node:fs). The conversion itself
// is tools/convert.ts (browser-safe); this adds the file handling the CLI and
// Node apps need: the output is written tensor by tensor to OUT.partial and
// renamed when complete, an existing OUT is refused unless `force`, and a
// failed conversion leaves nothing behind.
//
//   import { convertFile } from 'perceiver-io-webgpu/node';
//   await convertFile('imagenet_conv_preprocessing.pystate', 'imagenet_conv.weights', { preset: 'imagenet-conv' });
//   await convertFile('vision-perceiver-conv/', 'imagenet_conv.weights');   // a HuggingFace checkpoint: preset from its config.json
//
// HuggingFace input (a folder, model.safetensors, model.safetensors.index.json
// or pytorch_model.bin, with config.json beside it) is read by
// perceiver/hub/node.ts's readHfCheckpoint and converted by
// planHfConversion: the preset and sizes come from config.json (a given
// preset is checked against it; overrides are refused).

import { closeSync, existsSync, openSync, readFileSync, renameSync, statSync, unlinkSync, writeSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { parsePickle } from './pickle.ts';
import { flattenCheckpoint, planConversion, planHfConversion, writePlan, type ConversionPlan, type StoreDtype } from './convert.ts';
import { readHfCheckpoint } from '../perceiver/hub/node.ts';
import { presetConfig, type Overrides, type PresetName } from '../perceiver/config.ts';

export interface ConvertFileOptions {
  /** the model (needed for a pickle; for HuggingFace input it comes from config.json and is only checked) */
  preset?: PresetName;
  overrides?: Overrides;
  dtype?: StoreDtype;
  /** overwrite an existing output file */
  force?: boolean;
  /** progress lines (reading, matching, writing) */
  onMessage?: (line: string) => void;
  /** bytes of the output written so far, of the total */
  onProgress?: (written: number, total: number, name: string) => void;
}

export interface ConvertFileResult {
  /** the output's size in bytes */
  bytes: number;
  tensors: number;
  /** checkpoint tensors the layout rules drop on purpose (batch-norm counters, ...) */
  dropped: string[];
  /** f16 storage: tensors with values beyond f16's range (they became +-inf) */
  f16Overflow: string[];
}

/** HuggingFace weight files by name (a folder is HuggingFace input too). */
export const isHfFile = (path: string) => /(\.safetensors|\.bin|\.safetensors\.index\.json)$/.test(path);

const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;

export async function convertFile(input: string, output: string, opts: ConvertFileOptions): Promise<ConvertFileResult> {
  const { overrides = {}, dtype = 'f32', force = false } = opts;
  let preset = opts.preset;
  const say = opts.onMessage ?? (() => {});
  if (!existsSync(input)) throw new Error(`${input}: no such file`);
  const hf = statSync(input).isDirectory() || isHfFile(input);
  if (!hf && !preset) throw new Error(`${input}: a pickle needs a preset (only HuggingFace checkpoints name their model, in config.json)`);
  if (hf && Object.keys(overrides).length) throw new Error('overrides are for pickles: a HuggingFace checkpoint takes its sizes from config.json');
  if (preset) presetConfig(preset, overrides); // checks the overrides before any file is read
  if (resolve(input) === resolve(output)) throw new Error('the input and the output are the same file');
  if (existsSync(output) && !force) throw new Error(`${output} exists; pass --force (force: true) to overwrite it`);
  const t0 = performance.now();
  let plan: ConversionPlan;
  if (hf) {
    say(`reading the HuggingFace checkpoint ${input}`);
    const ck = await readHfCheckpoint(input);
    plan = planHfConversion(ck.configText, ck.tensors, dtype, basename(ck.source));
    if (preset && plan.meta.preset !== preset) throw new Error(`${input}: config.json describes ${String(plan.meta.preset)}, not ${preset}`);
    preset = plan.meta.preset as PresetName;
  } else {
    say(`reading ${input} (${mb(statSync(input).size)})`);
    // parsePickle copies every array out of the file's bytes, so they can go once it returns
    const tree = parsePickle(readFileSync(input));
    plan = planConversion(flattenCheckpoint(tree), preset!, overrides, dtype, basename(input));
  }
  say(`parsed and matched ${plan.entries.length + plan.dropped.length} tensors for ${preset} in ${((performance.now() - t0) / 1000).toFixed(1)} s` +
    (plan.dropped.length ? ` (dropped on purpose: ${plan.dropped.map((n) => n.split('/').slice(-2).join('/')).join(', ')})` : ''));
  const partial = `${output}.partial`;
  let fd: number | null = openSync(partial, 'w');
  try {
    const out = fd;
    const result = await writePlan(
      plan,
      (chunk) => {
        let off = 0;
        while (off < chunk.byteLength) off += writeSync(out, chunk, off, chunk.byteLength - off);
      },
      opts.onProgress,
    );
    closeSync(fd);
    fd = null;
    renameSync(partial, output);
    say(`wrote ${output}: ${plan.entries.length} tensors, ${mb(result.bytes)}, ${dtype}, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return { bytes: result.bytes, tensors: plan.entries.length, dropped: plan.dropped, f16Overflow: result.f16Overflow };
  } catch (e) {
    if (fd !== null) closeSync(fd);
    if (existsSync(partial)) unlinkSync(partial);
    throw e;
  }
}
