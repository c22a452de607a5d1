// Converts a released Perceiver IO checkpoint (a Haiku pickle: .pystate /
// .pickle) into the project's weight format (engine/weights.ts).
//
//   perceiver-io convert IN OUT --preset P [--overrides JSON|FILE] [--dtype f32|f16] [--force]
//   perceiver-io convert model.safetensors|pytorch_model.bin|DIR OUT [--dtype f16]   (HuggingFace; see below)
//   (npm run convert -- ... in a clone; the command is tools/cli/convert.ts)
//
// HuggingFace checkpoints (convertHf, planHfConversion) are mapped back to
// the released Haiku leaves by perceiver/hf.ts's table and then follow the
// same path, so they give the same bits as DeepMind's pickle.
//
// Names: every leaf of the checkpoint is flattened to Haiku's flat name
// `module/path/param` (for ImageNet files, the `params` and `state` mappings
// are merged; their names never collide) and must match
// perceiver/params.ts's expectedParams(config) exactly: missing, left-over,
// mis-shaped or non-float tensors are reported together in one error.
//
// Layout: what a converted file holds for a config is perceiver/params.ts's
// storedShapes (its layout rules: Linear and Conv2D weights as they are,
// batch-norm tensors squeezed to [C], the EMA averages stored as the
// batch-norm mean and variance, their counter and hidden dropped). Then:
//
//  dtype: float tensors (numpy f4/f8/f2) are stored as f32, or as f16
//     with --dtype f16 (round to nearest even; the loader widens them back
//     to f32 unless asked to keep f16). Integer tensors would be stored as
//     i32 (none remain after rule 5).
//
// meta written to the file: { preset, config, overrides, source, converter,
// dtype }. The output is written incrementally (only one converted tensor
// in flight) to OUT.partial, then renamed; an existing OUT is refused unless
// --force.
//
// The module is browser-safe (no node: imports; it is the package's
// `perceiver-io-webgpu/convert` subpath). Files on disk: convertFile in
// tools/convert-file.ts (Node, `perceiver-io-webgpu/node`), used by the CLI.

import { parsePickle, flattenArrays, NdArray, type PyValue } from './pickle.ts';
import { expectedParams, applyLayout, storedShapes, fmtShape as fmt } from '../perceiver/params.ts';
import { presetConfig, defaultConfig, PRESETS, type ModelConfig, type Overrides, type PresetName } from '../perceiver/config.ts';
import { WeightWriter, encodeWeights, widenF16, type HostTensor, type WeightDType, type WeightData, type WeightSpec } from '../engine/weights.ts';
import { f32ToF16 } from '../engine/f16.ts';
import { hfTable, hfModelConfig, fmtHf, HF_IGNORED, type HfModel } from '../perceiver/hf.ts';
import { readSafetensors } from './safetensors.ts';
import { readTorchStateDict } from './torch.ts';
import { fortranToC } from './ndarray.ts';

// What a browser app needs besides the converter: the presets, the pickle
// reader and the .npy/.npz readers (all browser-safe).
export { PRESETS, presetConfig, type PresetName, type Overrides } from '../perceiver/config.ts';
export { parsePickle, PickleError, type PyValue } from './pickle.ts';
export { NdArray } from './ndarray.ts';
export { readNpz, parseNpy, NpyError } from './npy.ts';

export const CONVERTER_VERSION = 'perceiver-io convert 1';

export type StoreDtype = 'f32' | 'f16';

export interface ConversionPlan {
  meta: Record<string, unknown>;
  /** stored tensors in name order, each with its checkpoint source */
  entries: { spec: WeightSpec; source: NdArray; from: string }[];
  /** names dropped by the layout rules */
  dropped: string[];
}

function listSome(title: string, items: string[], max = 40): string {
  if (!items.length) return '';
  const shown = items.slice(0, max).map((x) => `    ${x}`);
  if (items.length > max) shown.push(`    ... and ${items.length - max} more`);
  return `  ${title} (${items.length}):\n${shown.join('\n')}\n`;
}

/** Flattens a parsed checkpoint: {'params', 'state'} (ImageNet) or the bare params mapping. */
export function flattenCheckpoint(root: PyValue): Map<string, NdArray> {
  if (!(root instanceof Map)) throw new Error(`checkpoint: the pickle holds a ${Array.isArray(root) ? 'list' : typeof root}, not a mapping`);
  const keys = [...root.keys()];
  const split = keys.includes('params') && keys.every((k) => k === 'params' || k === 'state');
  if (!split) return flattenArrays(root);
  const out = flattenArrays(root.get('params')!);
  if (root.has('state')) {
    for (const [k, v] of flattenArrays(root.get('state')!)) {
      if (out.has(k)) throw new Error(`checkpoint: '${k}' is in both params and state`);
      out.set(k, v);
    }
  }
  return out;
}

/** Which preset's released names best match these (a hint for error messages). */
function guessPreset(names: Set<string>): string {
  let best = '';
  let bestScore = 0;
  for (const p of PRESETS) {
    const exp = expectedParams(defaultConfig(p));
    let hit = 0;
    for (const n of names) if (exp.has(n)) hit++;
    const score = hit / Math.max(exp.size, names.size);
    if (score > bestScore) {
      bestScore = score;
      best = p;
    }
  }
  return bestScore > 0.5 ? best : '';
}

/** Maps a flattened checkpoint onto the preset's expected names and the layout rules. */
export function planConversion(
  flat: Map<string, NdArray>,
  preset: PresetName,
  overrides: Overrides = {},
  dtype: StoreDtype = 'f32',
  source = '',
  /** leaves the layout rules drop may be absent (HF files lack them) */
  droppedOptional = false,
): ConversionPlan {
  if (!PRESETS.includes(preset)) throw new Error(`unknown preset '${preset}' (known: ${PRESETS.join(', ')})`);
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`--dtype must be f32 or f16, not '${dtype as string}'`);
  const config = presetConfig(preset, overrides);
  const expected = expectedParams(config);
  const missing: string[] = [];
  const extra: string[] = [];
  const shapes: string[] = [];
  const dtypes: string[] = [];
  for (const [name, shape] of expected) {
    if (!flat.has(name) && !(droppedOptional && !applyLayout(name, shape))) missing.push(`${name} ${fmt(shape)}`);
  }
  for (const [name, arr] of flat) {
    const want = expected.get(name);
    if (!want) extra.push(`${name} ${fmt(arr.shape)}`);
    else if (fmt(want) !== fmt(arr.shape)) shapes.push(`${name}: file ${fmt(arr.shape)}, expected ${fmt(want)}`);
    else if (applyLayout(name, want) && arr.dtype !== 'f32' && arr.dtype !== 'f16') {
      dtypes.push(`${name}: ${arr.sourceDtype}, expected a float array`);
    }
  }
  if (missing.length || extra.length || shapes.length || dtypes.length) {
    const guess = guessPreset(new Set(flat.keys()));
    const hint = guess && guess !== preset ? `  hint: the names look like preset '${guess}'\n` : '';
    throw new Error(
      `checkpoint${source ? ` ${source}` : ''} does not match preset '${preset}' with overrides ${JSON.stringify(overrides)}:\n` +
        listSome('missing', missing) +
        listSome('not expected', extra) +
        listSome('wrong shape', shapes) +
        listSome('wrong dtype', dtypes) +
        hint,
    );
  }
  const entries: ConversionPlan['entries'] = [];
  const dropped: string[] = [];
  for (const [name, shape] of expected) {
    const stored = applyLayout(name, shape);
    if (!stored) {
      if (flat.has(name)) dropped.push(name);
      continue;
    }
    const src = flat.get(name)!;
    const isFloat = src.dtype === 'f32' || src.dtype === 'f16';
    const d: WeightDType = isFloat ? dtype : 'i32';
    entries.push({ spec: { name: stored.name, dtype: d, shape: stored.shape }, source: src, from: name });
  }
  entries.sort((a, b) => (a.spec.name < b.spec.name ? -1 : a.spec.name > b.spec.name ? 1 : 0));
  const meta = { preset, config, overrides, source, converter: CONVERTER_VERSION, dtype };
  return { meta, entries, dropped };
}

/** The stored data of one planned tensor (f32 -> f16 or f16 -> f32 as needed). */
export function storedData(spec: WeightSpec, src: NdArray): WeightData {
  if (spec.dtype === 'i32') {
    if (!(src.data instanceof Int32Array)) throw new Error(`${spec.name}: expected int32 data`);
    return src.data;
  }
  const f32 = src.dtype === 'f16' ? null : (src.data as Float32Array);
  if (spec.dtype === 'f32') return f32 ?? widenF16(src.data as Uint16Array);
  return f32 ? f32ToF16(f32) : (src.data as Uint16Array);
}

/**
 * Converts a checkpoint held in memory: parse, match, apply the layout
 * rules. Returns tensors ready for encodeWeights (f16 as Uint16Array bits).
 */
export function convertPickle(
  bytes: Uint8Array,
  preset: PresetName,
  overrides: Overrides = {},
  dtype: StoreDtype = 'f32',
  source = '',
): { meta: Record<string, unknown>; tensors: HostTensor[]; dropped: string[] } {
  const plan = planConversion(flattenCheckpoint(parsePickle(bytes)), preset, overrides, dtype, source);
  const tensors = plan.entries.map(({ spec, source: src }) => ({ ...spec, data: storedData(spec, src) }));
  return { meta: plan.meta, tensors, dropped: plan.dropped };
}

/** convertPickle + encodeWeights: a complete weight file in memory. */
export function convertToWeightFile(bytes: Uint8Array, preset: PresetName, overrides: Overrides = {}, dtype: StoreDtype = 'f32', source = ''): Uint8Array {
  const { meta, tensors } = convertPickle(bytes, preset, overrides, dtype, source);
  return encodeWeights(meta, tensors);
}

/** Streams a plan to a sink, one tensor at a time; reports progress. */
export async function writePlan(
  plan: ConversionPlan,
  sink: (chunk: Uint8Array) => void | Promise<void>,
  onProgress?: (written: number, total: number, name: string) => void,
): Promise<{ bytes: number; f16Overflow: string[] }> {
  const writer = new WeightWriter(plan.meta, plan.entries.map((e) => e.spec), sink);
  const overflow: string[] = [];
  for (let i = 0; i < plan.entries.length; i++) {
    const { spec, source } = plan.entries[i];
    if (spec.dtype === 'f16' && source.data instanceof Float32Array) {
      let n = 0;
      for (const v of source.data) if (Math.abs(v) > 65504) n++;
      if (n) overflow.push(`${spec.name} (${n} values beyond ±65504 became ±inf)`);
    }
    await writer.write(spec.name, storedData(spec, source));
    const info = writer.header.tensors[i];
    onProgress?.(info.offset + info.bytes, writer.header.totalBytes, spec.name);
  }
  const header = await writer.finish();
  return { bytes: header.totalBytes, f16Overflow: overflow };
}

// ---------------- HuggingFace checkpoints ----------------
//
// HF's files (safetensors or a torch .bin, plus config.json) are turned back
// into the released Haiku leaves by perceiver/hf.ts's table (every transform
// HF's converter applied undone exactly), then go through planConversion like
// a pickle: the same names, layout rules and weight format, so a model loaded
// from HF files holds the same bits as one converted from DeepMind's pickle.

/**
 * An n-d array with all axes reversed (np.transpose with no axes): the inverse
 * of itself. C-order data of a shape is Fortran-order data of the reversed
 * shape, so this is fortranToC over the reversed shape.
 */
export function reverseAxes(a: NdArray): NdArray {
  if (a.shape.length < 2) return a;
  const shape = [...a.shape].reverse();
  return new NdArray(a.dtype, shape, fortranToC(a.data, shape), a.sourceDtype);
}

/**
 * HF state dict -> the released Haiku leaves for `config` (perceiver/hf.ts).
 * Missing, left-over and mis-shaped tensors are listed in one error;
 * num_batches_tracked is accepted and ignored.
 */
export function hfToHaiku(hf: ReadonlyMap<string, NdArray>, config: ModelConfig, source = ''): Map<string, NdArray> {
  const table = hfTable(config);
  const missing: string[] = [];
  const extra: string[] = [];
  const shapes: string[] = [];
  for (const [key, e] of table) if (!hf.has(key)) missing.push(fmtHf(key, e));
  for (const [key, a] of hf) {
    const e = table.get(key);
    if (!e) {
      if (!HF_IGNORED.test(key)) extra.push(`${key} ${fmt(a.shape)}`);
    } else if (fmt(a.shape) !== fmt(e.hfShape)) shapes.push(`${key}: file ${fmt(a.shape)}, expected ${fmt(e.hfShape)}`);
  }
  if (missing.length || extra.length || shapes.length) {
    throw new Error(
      `HuggingFace checkpoint${source ? ` ${source}` : ''} does not match ${config.preset} with its config.json sizes:\n` +
        listSome('missing', missing) +
        listSome('not expected', extra) +
        listSome('wrong shape', shapes),
    );
  }
  const out = new Map<string, NdArray>();
  for (const [key, e] of table) {
    const a = hf.get(key)!;
    out.set(e.haiku, e.transform === 'reverse' ? reverseAxes(a) : new NdArray(a.dtype, [...e.haikuShape], a.data, a.sourceDtype));
  }
  return out;
}

/** config.json text -> preset, overrides, labels (perceiver/hf.ts), with the file named in errors. */
export function parseHfConfig(text: string): HfModel {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new Error(`config.json: not JSON (${(e as Error).message.slice(0, 120)})`);
  }
  return hfModelConfig(json);
}

/** Plans the conversion of an HF checkpoint (its config.json text and state dict). */
export function planHfConversion(configText: string, hf: ReadonlyMap<string, NdArray>, dtype: StoreDtype = 'f32', source = ''): ConversionPlan {
  const model = parseHfConfig(configText);
  const config = presetConfig(model.preset, model.overrides);
  const plan = planConversion(hfToHaiku(hf, config, source), model.preset, model.overrides, dtype, source, true);
  if (model.labels) plan.meta.labels = model.labels;
  return plan;
}

/** Reads an HF weight file held in memory: safetensors, or a torch zip archive (by its first bytes). */
export function readHfWeights(bytes: Uint8Array, name = ''): Map<string, NdArray> {
  const zip = bytes.byteLength >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  if (zip || /\.bin$/.test(name)) return readTorchStateDict(bytes);
  return readSafetensors(bytes);
}

/** An HF checkpoint in memory -> a complete weight file (like convertToWeightFile for a pickle). */
export function convertHf(configText: string, hf: ReadonlyMap<string, NdArray>, dtype: StoreDtype = 'f32', source = ''): Uint8Array {
  const plan = planHfConversion(configText, hf, dtype, source);
  return encodeWeights(plan.meta, plan.entries.map(({ spec, source: src }) => ({ ...spec, data: storedData(spec, src) })));
}
