// Converts a released Perceiver IO checkpoint (a Haiku pickle: .pystate /
// .pickle) into the project's weight format (engine/weights.ts).
//
//   npm run convert -- IN OUT --preset P [--overrides JSON|FILE] [--dtype f32|f16] [--force]
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
// The module is browser-safe (node: modules are imported only by the CLI).

import { parsePickle, flattenArrays, NdArray, type PyValue } from './pickle.ts';
import { expectedParams, applyLayout, storedShapes, fmtShape as fmt } from '../perceiver/params.ts';
import { presetConfig, defaultConfig, PRESETS, type ModelConfig, type Overrides, type PresetName } from '../perceiver/config.ts';
import { WeightWriter, encodeWeights, widenF16, type HostTensor, type WeightDType, type WeightData, type WeightSpec } from '../engine/weights.ts';
import { f32ToF16 } from '../engine/f16.ts';
import { hfTable, hfModelConfig, fmtHf, HF_IGNORED, type HfModel } from '../perceiver/hf.ts';
import { readSafetensors } from './safetensors.ts';
import { readTorchStateDict } from './torch.ts';

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

/** An n-d array with all axes reversed (np.transpose with no axes): the inverse of itself. */
export function reverseAxes(a: NdArray): NdArray {
  const shape = a.shape;
  const r = shape.length;
  if (r < 2) return a;
  const out = new (a.data.constructor as { new (n: number): typeof a.data })(a.data.length);
  // output strides of the reversed shape, read in input-axis order
  const ostride = new Array<number>(r);
  let s = 1;
  for (let k = 0; k < r; k++) {
    ostride[k] = s; // input axis k is output axis r-1-k, whose stride is prod(out dims after it) = prod(shape[0..k-1])
    s *= shape[k];
  }
  const idx = new Array<number>(r).fill(0);
  let o = 0;
  const n = a.data.length;
  for (let i = 0; i < n; i++) {
    out[o] = a.data[i];
    for (let k = r - 1; k >= 0; k--) {
      idx[k]++;
      o += ostride[k];
      if (idx[k] < shape[k]) break;
      o -= ostride[k] * shape[k];
      idx[k] = 0;
    }
  }
  return new NdArray(a.dtype, [...shape].reverse(), out, a.sourceDtype);
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

// ---------------- CLI ----------------

const USAGE = `usage: npm run convert -- IN OUT --preset P [--overrides JSON|FILE] [--dtype f32|f16] [--force]
       npm run convert -- HF OUT [--dtype f32|f16] [--force]
  IN          a released checkpoint (.pystate / .pickle)
  HF          a HuggingFace checkpoint: its folder, or model.safetensors,
              model.safetensors.index.json or pytorch_model.bin with
              config.json beside it (preset and sizes come from config.json)
  OUT         the weight file to write
  --preset    ${PRESETS.join(' | ')} (for HF input: checked against config.json)
  --overrides size overrides as JSON ('{"num_latents":32}') or a JSON file
              (an overrides object, or a fixture's STEM.json with "overrides")
  --dtype     f32 (default) or f16 storage for float tensors
  --force     overwrite OUT if it exists`;

export interface CliArgs {
  input: string;
  output: string;
  /** null: from the HF config.json (HF input only) */
  preset: PresetName | null;
  overrides: string | null;
  dtype: StoreDtype;
  force: boolean;
}

export function parseArgs(argv: string[]): CliArgs | 'help' {
  const pos: string[] = [];
  let preset = '';
  let overrides: string | null = null;
  let dtype = 'f32';
  let force = false;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value\n${USAGE}`);
      return v;
    };
    if (a === '--help' || a === '-h') return 'help';
    else if (a === '--preset') preset = val();
    else if (a.startsWith('--preset=')) preset = a.slice(9);
    else if (a === '--overrides') overrides = val();
    else if (a.startsWith('--overrides=')) overrides = a.slice(12);
    else if (a === '--dtype') dtype = val();
    else if (a.startsWith('--dtype=')) dtype = a.slice(8);
    else if (a === '--force') force = true;
    else if (a.startsWith('--')) throw new Error(`unknown option ${a}\n${USAGE}`);
    else pos.push(a);
  }
  if (pos.length !== 2) throw new Error(`expected IN and OUT, got ${pos.length} paths\n${USAGE}`);
  if (preset && !PRESETS.includes(preset as PresetName)) throw new Error(`--preset must be one of ${PRESETS.join(', ')}${preset ? `, not '${preset}'` : ''}\n${USAGE}`);
  if (dtype !== 'f32' && dtype !== 'f16') throw new Error(`--dtype must be f32 or f16, not '${dtype}'`);
  return { input: pos[0], output: pos[1], preset: (preset || null) as PresetName | null, overrides, dtype, force };
}

function parseOverrides(text: string, from: string): Overrides {
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new Error(`--overrides ${from}: not valid JSON (${(e as Error).message})`);
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`--overrides ${from}: expected a JSON object`);
  const o = v as Record<string, unknown>;
  const inner = 'overrides' in o && typeof o.overrides === 'object' ? (o.overrides as Overrides) : (o as Overrides);
  return inner ?? {};
}

export async function main(argv: string[]): Promise<number> {
  const fs = await import('node:fs');
  const path = await import('node:path');
  const log = (s: string) => process.stderr.write(`${s}\n`);
  let args: CliArgs | 'help';
  try {
    args = parseArgs(argv);
  } catch (e) {
    log((e as Error).message);
    return 2;
  }
  if (args === 'help') {
    log(USAGE);
    return 0;
  }
  const { input, output, dtype, force } = args;
  let preset = args.preset;
  const partial = `${output}.partial`;
  let fd: number | null = null;
  try {
    if (!fs.existsSync(input)) throw new Error(`${input}: no such file`);
    const hf = fs.statSync(input).isDirectory() || /(\.safetensors|\.bin|\.index\.json)$/.test(input);
    if (!hf && !preset) throw new Error(`--preset is needed for a pickle (only HuggingFace checkpoints name their model)\n${USAGE}`);
    if (hf && args.overrides !== null) throw new Error('--overrides is for pickles: a HuggingFace checkpoint takes its sizes from config.json');
    let overrides: Overrides = {};
    if (args.overrides !== null) {
      const o = args.overrides.trim();
      overrides = o.startsWith('{') ? parseOverrides(o, 'argument') : parseOverrides(fs.readFileSync(o, 'utf8'), o);
    }
    if (preset) presetConfig(preset, overrides); // validates the overrides early
    if (fs.existsSync(output) && !force) throw new Error(`${output} exists; pass --force to overwrite it`);
    if (path.resolve(input) === path.resolve(output)) throw new Error('IN and OUT are the same file');
    const size = hf && fs.statSync(input).isDirectory() ? 0 : fs.statSync(input).size;
    const mb = (n: number) => `${(n / 2 ** 20).toFixed(1)} MB`;
    log(size ? `reading ${input} (${mb(size)})` : `reading the HuggingFace checkpoint in ${input}`);
    const t0 = performance.now();
    let plan: ConversionPlan;
    if (hf) {
      const { readHfCheckpoint } = await import('../perceiver/hub/node.ts');
      const ck = await readHfCheckpoint(input);
      plan = planHfConversion(ck.configText, ck.tensors, dtype, path.basename(ck.source));
      if (preset && plan.meta.preset !== preset) throw new Error(`${input}: config.json describes ${String(plan.meta.preset)}, not --preset ${preset}`);
      preset = plan.meta.preset as PresetName;
    } else {
      let bytes: Uint8Array | null = fs.readFileSync(input);
      const tree = parsePickle(bytes);
      bytes = null; // the parsed arrays are copies: let the file's bytes go
      void bytes;
      plan = planConversion(flattenCheckpoint(tree), preset!, overrides, dtype, path.basename(input));
    }
    log(`parsed and matched ${plan.entries.length + plan.dropped.length} tensors for ${preset} in ${((performance.now() - t0) / 1000).toFixed(1)} s` +
      (plan.dropped.length ? ` (dropped on purpose: ${plan.dropped.map((n) => n.split('/').slice(-2).join('/')).join(', ')})` : ''));
    fd = fs.openSync(partial, 'w');
    const out = fd;
    let lastStep = -1;
    const big = size > 64 * 2 ** 20;
    const result = await writePlan(
      plan,
      (chunk) => {
        let off = 0;
        while (off < chunk.byteLength) off += fs.writeSync(out, chunk, off, chunk.byteLength - off);
      },
      (written, total) => {
        const step = Math.floor((written / total) * 10);
        if (big && step !== lastStep) {
          lastStep = step;
          log(`  writing ${output}: ${step * 10}% (${mb(written)} of ${mb(total)})`);
        }
      },
    );
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(partial, output);
    for (const w of result.f16Overflow) log(`warning: ${w}`);
    log(`wrote ${output}: ${plan.entries.length} tensors, ${mb(result.bytes)}, ${dtype}, in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    return 0;
  } catch (e) {
    if (fd !== null) fs.closeSync(fd);
    if (fs.existsSync(partial)) fs.unlinkSync(partial);
    log(`convert: ${(e as Error).message}`);
    return 1;
  }
}

function invokedDirectly(): boolean {
  if (typeof process === 'undefined' || !Array.isArray(process.argv) || !process.argv[1]) return false;
  const self = decodeURIComponent(new URL(import.meta.url).pathname).replace(/^\/([A-Za-z]:)/, '$1');
  const arg = process.argv[1].replace(/\\/g, '/');
  return self === arg || self.endsWith(`/${arg.replace(/^\.\//, '')}`);
}

if (invokedDirectly()) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
