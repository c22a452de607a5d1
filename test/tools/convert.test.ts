// tools/convert.ts: golden fixtures convert with every name mapped and every
// value preserved; f16 round trip through the GPU loader; mismatches are
// listed together; the CLI refuses to overwrite.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, existsSync, mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { spawnSync } from 'node:child_process';
import { testGpu } from '../gpu.ts';
import { readF32 } from '../../engine/index.ts';
import { encodeWeights, loadWeights, parseWeightHeader, widenF16 } from '../../engine/weights.ts';
import { f32ToF16 } from '../../engine/f16.ts';
import { convertPickle, CONVERTER_VERSION } from '../../tools/convert.ts';
import { main as cli } from '../../tools/cli.ts';
import { parsePickle, flattenArrays, NdArray, type PyValue } from '../../tools/pickle.ts';
import { expectedParams, storedShapes, applyLayout, BATCHNORM_MEAN, BATCHNORM_VARIANCE, CONV_STEM } from '../../perceiver/params.ts';
import { presetConfig, type PresetName, type Overrides } from '../../perceiver/config.ts';
import { GOLDEN_DIR, COMPACT_DIR, REPO, checkpointPickle, treeFromFlat, randomF32Bytes, skipNote, type LeafSpec, type Tree } from './helpers.ts';

interface Fx {
  dir: string;
  stem: string;
  preset: PresetName;
  overrides: Overrides;
  file: string;
}

function fixtures(): Fx[] {
  const out: Fx[] = [];
  for (const dir of [GOLDEN_DIR, COMPACT_DIR]) {
    if (!dir) continue;
    for (const f of readdirSync(dir)) {
      if (!f.endsWith('.json') || f.startsWith('manifest_') || f === 'bytes_tokenizer.json') continue;
      const stem = f.slice(0, -5);
      const file = ['pystate', 'pickle'].map((e) => join(dir, `${stem}.${e}`)).find((x) => existsSync(x));
      if (!file) continue;
      const spec = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      out.push({ dir, stem, preset: spec.preset, overrides: spec.overrides ?? {}, file });
    }
  }
  return out;
}

test('layout rules: batch-norm squeeze and renames, EMA counter/hidden dropped, the rest unchanged', () => {
  assert.equal(applyLayout(`${CONV_STEM}/batchnorm/~/mean_ema/average`, [1, 1, 1, 64]), { name: `${CONV_STEM}/batchnorm/${BATCHNORM_MEAN}`, shape: [64] });
  assert.equal(applyLayout(`${CONV_STEM}/batchnorm/~/var_ema/average`, [1, 1, 1, 64]), { name: `${CONV_STEM}/batchnorm/${BATCHNORM_VARIANCE}`, shape: [64] });
  assert.is(applyLayout(`${CONV_STEM}/batchnorm/~/var_ema/counter`, []), null);
  assert.is(applyLayout(`${CONV_STEM}/batchnorm/~/mean_ema/hidden`, [1, 1, 1, 64]), null);
  assert.equal(applyLayout(`${CONV_STEM}/batchnorm/scale`, [1, 1, 1, 64]), { name: `${CONV_STEM}/batchnorm/scale`, shape: [64] });
  assert.equal(applyLayout(`${CONV_STEM}/conv/w`, [7, 7, 3, 64]), { name: `${CONV_STEM}/conv/w`, shape: [7, 7, 3, 64] });
  assert.equal(applyLayout('basic_decoder/cross_attention/attention/linear/w', [768, 256])?.shape, [768, 256]);
  const stored = storedShapes(presetConfig('imagenet-conv'));
  assert.is(stored.size, 145 - 4);
  assert.equal(stored.get('image_preprocessor/~/conv2_d_downsample/~/batchnorm/mean'), [64]);
  assert.equal(stored.get('image_preprocessor/~/conv2_d_downsample/~/batchnorm/variance'), [64]);
});

test('every golden fixture converts: names = storedShapes, values bit-exact, meta recorded', () => {
  const fx = fixtures();
  if (skipNote('golden fixtures', fx.length ? 'x' : null, 'PERCEIVER_GOLDEN_DIR')) return;
  for (const f of fx) {
    const bytes = readFileSync(f.file);
    const { meta, tensors, dropped } = convertPickle(bytes, f.preset, f.overrides, 'f32', `${f.stem}.pystate`);
    const cfg = presetConfig(f.preset, f.overrides);
    const want = storedShapes(cfg);
    assert.equal(tensors.map((t) => t.name).sort(), [...want.keys()].sort(), f.stem);
    for (const t of tensors) assert.equal(t.shape, want.get(t.name), t.name);
    assert.equal(meta.preset, f.preset);
    assert.equal(meta.overrides, f.overrides);
    assert.equal(meta.config, cfg);
    assert.is(meta.converter, CONVERTER_VERSION);
    assert.is(meta.dtype, 'f32');
    // values: every stored tensor equals its checkpoint source
    const root = parsePickle(bytes) as Map<string, PyValue>;
    const src = root.has('params') ? new Map([...flattenArrays(root.get('params')!), ...flattenArrays(root.get('state')!)]) : flattenArrays(root);
    const back = new Map<string, NdArray>();
    for (const [name, a] of src) {
      const s = applyLayout(name, a.shape);
      if (s) back.set(s.name, a);
    }
    for (const t of tensors) {
      const a = back.get(t.name)!;
      assert.ok(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength).equals(Buffer.from(a.data.buffer, a.data.byteOffset, a.data.byteLength)), `${f.stem}: ${t.name}`);
    }
    if (f.preset === 'imagenet-conv') {
      assert.equal(dropped.map((n) => n.split('/~/').pop()).sort(), ['mean_ema/counter', 'mean_ema/hidden', 'var_ema/counter', 'var_ema/hidden']);
      const mean = tensors.find((t) => t.name === `${CONV_STEM}/batchnorm/mean`)!;
      assert.equal([...mean.data], [...src.get(`${CONV_STEM}/batchnorm/~/mean_ema/average`)!.data]);
    } else assert.equal(dropped, []);
  }
});

test('f16 conversion round trip through the GPU loader (widened, and kept as f16)', async () => {
  const fx = fixtures().find((f) => f.preset === 'imagenet-conv');
  if (skipNote('f16 round trip', fx ? 'x' : null, 'PERCEIVER_GOLDEN_COMPACT_DIR')) return;
  const gpu = await testGpu();
  const bytes = readFileSync(fx!.file);
  const full = convertPickle(bytes, fx!.preset, fx!.overrides, 'f32');
  const half = convertPickle(bytes, fx!.preset, fx!.overrides, 'f16');
  assert.ok(half.tensors.every((t) => t.dtype === 'f16' && t.data instanceof Uint16Array));
  assert.is(half.meta.dtype, 'f16');
  const file = encodeWeights(half.meta, half.tensors);
  assert.ok(file.length < encodeWeights(full.meta, full.tensors).length * 0.6);
  for (const keepF16 of [false, true]) {
    const r = await loadWeights(gpu, file, { keepF16 });
    assert.is(r.tensors.size, full.tensors.length);
    for (const t of full.tensors) {
      const g = r.tensors.get(t.name)!;
      assert.is(g.dtype, keepF16 ? 'f16' : 'f32');
      const got = await readF32(g);
      const want = widenF16(f32ToF16(t.data as Float32Array));
      assert.equal([...got], [...want], t.name);
      const x = t.data as Float32Array;
      for (let i = 0; i < x.length; i++) assert.ok(Math.abs(got[i] - x[i]) <= Math.abs(x[i]) * 2 ** -11 + 2 ** -25, `${t.name}[${i}]`);
    }
    for (const t of r.tensors.values()) t.dispose();
  }
});

/** A small synthetic checkpoint for a preset, random data, released layout. */
function synthetic(preset: PresetName, overrides: Overrides, edit?: (flat: Map<string, LeafSpec>) => void): Uint8Array {
  const flat = new Map<string, LeafSpec>();
  let seed = 1;
  for (const [name, shape] of expectedParams(presetConfig(preset, overrides))) {
    const n = shape.reduce((a, d) => a * d, 1);
    flat.set(name, name.endsWith('/counter') ? { shape, dtype: 'i4' } : { shape, data: randomF32Bytes(n, seed++) });
  }
  edit?.(flat);
  const isImageNet = preset.startsWith('imagenet');
  if (!isImageNet) return checkpointPickle(treeFromFlat(flat));
  const params = new Map<string, LeafSpec>();
  const state = new Map<string, LeafSpec>();
  for (const [k, v] of flat) (k.includes('_ema/') ? state : params).set(k, v);
  const root: Tree = new Map([
    ['params', treeFromFlat(params)],
    ['state', treeFromFlat(state)],
  ]);
  return checkpointPickle(root, { plainRoot: true });
}

const tiny: Overrides = { num_latents: 4, latent_channels: 8, num_self_attends_per_block: 2, num_self_attention_heads: 2 };

test('missing, left-over, mis-shaped and integer tensors are reported together', () => {
  const bytes = synthetic('imagenet-conv', tiny, (flat) => {
    flat.delete('perceiver_encoder/~/self_attention_1/mlp/linear/b');
    flat.delete('classification_decoder/~/basic_decoder/output/w');
    flat.set('perceiver_encoder/~/self_attention_7/mlp/linear/b', { shape: [8] });
    flat.set('perceiver_encoder/~/cross_attention/layer_norm/scale', { shape: [9] });
    flat.set('perceiver_encoder/~/cross_attention/layer_norm/offset', { shape: [8], dtype: 'i4' });
  });
  try {
    convertPickle(bytes, 'imagenet-conv', tiny, 'f32', 'broken.pystate');
    assert.unreachable();
  } catch (e) {
    const m = (e as Error).message;
    assert.match(m, /checkpoint broken\.pystate does not match preset 'imagenet-conv'/);
    assert.match(m, /missing \(2\):\n\s+classification_decoder\/~\/basic_decoder\/output\/w \[8, 1000\]\n\s+perceiver_encoder\/~\/self_attention_1\/mlp\/linear\/b \[8\]/);
    assert.match(m, /not expected \(1\):\n\s+perceiver_encoder\/~\/self_attention_7\/mlp\/linear\/b \[8\]/);
    assert.match(m, /wrong shape \(1\):\n\s+perceiver_encoder\/~\/cross_attention\/layer_norm\/scale: file \[9\], expected \[8\]/);
    assert.match(m, /wrong dtype \(1\):\n\s+perceiver_encoder\/~\/cross_attention\/layer_norm\/offset: i4, expected a float array/);
  }
  // the wrong preset: a hint names the right one
  try {
    convertPickle(synthetic('optical-flow', {}, undefined), 'language-mlm', {}, 'f32');
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /hint: the names look like preset 'optical-flow'/);
  }
  // every preset converts its own synthetic checkpoint at tiny sizes
  for (const p of ['imagenet-conv', 'imagenet-fourier', 'language-mlm', 'optical-flow', 'multimodal-autoencoder'] as PresetName[]) {
    const r = convertPickle(synthetic(p, tiny), p, tiny, 'f16');
    assert.is(r.tensors.length, storedShapes(presetConfig(p, tiny)).size, p);
  }
});

test('CLI (perceiver-io convert): writes the file, refuses to overwrite without --force, cleans up on failure', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'convert-test-'));
  let log = '';
  const io = { out: (l: string) => void (log += `${l}\n`), err: (l: string) => void (log += `${l}\n`) };
  const main = (argv: string[]) => cli(['convert', ...argv], io);
  try {
    const input = join(dir, 'in.pystate');
    writeFileSync(input, synthetic('optical-flow', tiny));
    const out = join(dir, 'out.pwgt');
    const ov = JSON.stringify(tiny);
    assert.is(await main([input, out, '--preset', 'optical-flow', '--overrides', ov]), 0, log);
    const h = parseWeightHeader(readFileSync(out));
    assert.is(h.meta.preset, 'optical-flow');
    assert.is(h.meta.source, 'in.pystate');
    assert.is(h.tensors.length, storedShapes(presetConfig('optical-flow', tiny)).size);
    log = '';
    assert.is(await main([input, out, '--preset', 'optical-flow', '--overrides', ov]), 1);
    assert.match(log, /exists; pass --force/);
    assert.is(await main([input, out, '--preset', 'optical-flow', '--overrides', ov, '--dtype', 'f16', '--force']), 0, log);
    assert.ok(parseWeightHeader(readFileSync(out)).tensors.every((t) => t.dtype === 'f16'));
    // overrides from a fixture-style JSON file
    const spec = join(dir, 'spec.json');
    writeFileSync(spec, JSON.stringify({ preset: 'optical-flow', overrides: tiny }));
    assert.is(await main([input, join(dir, 'b.pwgt'), '--preset=optical-flow', `--overrides=${spec}`]), 0, log);
    // failures: wrong sizes (no partial file left), bad arguments
    log = '';
    assert.is(await main([input, join(dir, 'c.pwgt'), '--preset', 'optical-flow']), 1);
    assert.match(log, /does not match preset 'optical-flow'/);
    assert.not.ok(existsSync(join(dir, 'c.pwgt')) || existsSync(join(dir, 'c.pwgt.partial')));
    assert.is(await main([input, join(dir, 'd.pwgt'), '--preset', 'nope']), 2);
    assert.is(await main([input, '--preset', 'optical-flow']), 2);
    assert.is(await main([input, join(dir, 'e.pwgt'), '--preset', 'optical-flow', '--dtype', 'f64']), 2);
    assert.is(await main([input, join(dir, 'e.pwgt'), '--preset', 'optical-flow', '--overrides', '{"num_latentz": 3}']), 1);
    assert.match(log, /unknown override 'num_latentz'/);
    assert.is(await main([join(dir, 'missing.pystate'), join(dir, 'e.pwgt'), '--preset', 'optical-flow']), 1);
    assert.match(log, /no such file/);
    // the command line really runs
    const r = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'tools', 'cli.ts'), 'convert', input, join(dir, 'f.pwgt'), '--preset', 'optical-flow', '--overrides', ov], { encoding: 'utf8', cwd: REPO });
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stderr, /wrote .*f\.pwgt: \d+ tensors/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
