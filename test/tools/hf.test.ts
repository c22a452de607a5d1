// HuggingFace checkpoints -> our weights: perceiver/hf.ts's table against the
// mapping.json of every ../shared/golden-hf folder (each Haiku leaf, its HF
// key, shapes and transform), config.json -> preset and overrides, strict
// matching, and the decisive check: every stem's HF files (safetensors, and
// pytorch_model.bin where present) give exactly the bits its DeepMind pickle
// gives through the converter.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { parseWeightHeader } from '../../engine/weights.ts';
import { join } from 'node:path';
import { hfRule, hfTable, hfModelConfig, realLabels, HF_ARCHITECTURES } from '../../perceiver/hf.ts';
import { presetConfig, type PresetName } from '../../perceiver/config.ts';
import { convertPickle, planHfConversion, readHfWeights, storedData, hfToHaiku, reverseAxes } from '../../tools/convert.ts';
import { main } from '../../tools/cli.ts';
import { flattenCheckpoint } from '../../tools/convert.ts';
import { parsePickle } from '../../tools/pickle.ts';
import { haikuToHf, hfConfigJson, encodeSafetensors, encodeTorchStateDict } from '../../tools/hf-write.ts';
import { NdArray } from '../../tools/pickle.ts';
import { GOLDEN_DIR, STEMS, REPO } from './helpers.ts';
import { skip } from '../skip.ts';

const HF_DIR = [process.env.PERCEIVER_GOLDEN_HF_DIR, join(REPO, '..', 'shared', 'golden-hf')].find((d) => d && existsSync(d)) ?? null;

interface MappingEntry {
  haiku: string;
  haiku_shape: number[];
  hf: string | null;
  hf_shape?: number[];
  transform?: string;
}

const TRANSFORMS: Record<string, string> = {
  none: 'none',
  transpose: 'reverse',
  'reverse all axes (np.transpose)': 'reverse',
  squeeze: 'squeeze',
  'reverse all axes (np.transpose) + squeeze': 'squeeze', // reversing [1,1,1,C] then squeezing = squeezing
};

test('the HF table gives every golden-hf mapping.json entry: key, shapes, transform', () => {
  if (!HF_DIR) return skip('../shared/golden-hf is absent (set PERCEIVER_GOLDEN_HF_DIR)');
  for (const [preset, stem] of Object.entries(STEMS) as [PresetName, string][]) {
    const m = JSON.parse(readFileSync(join(HF_DIR, stem, 'mapping.json'), 'utf8')) as { hf_class: string; mapping: MappingEntry[] };
    assert.is(HF_ARCHITECTURES[m.hf_class], preset, stem);
    const cfg = hfModelConfig(JSON.parse(readFileSync(join(HF_DIR, stem, 'config.json'), 'utf8')));
    const table = hfTable(presetConfig(preset, cfg.overrides));
    let mapped = 0;
    for (const e of m.mapping) {
      const r = hfRule(e.haiku, preset);
      if (e.hf === null) {
        assert.is(r, null, `${stem} ${e.haiku} is dropped by HF's converter`);
        continue;
      }
      assert.ok(r, `${stem} ${e.haiku}`);
      assert.is(r!.key, e.hf, `${stem} ${e.haiku}`);
      assert.is(r!.transform, TRANSFORMS[e.transform!], `${stem} ${e.haiku}: ${e.transform}`);
      const t = table.get(e.hf)!;
      assert.equal(t.haikuShape, e.haiku_shape, `${stem} ${e.haiku} Haiku shape`);
      assert.equal(t.hfShape, e.hf_shape, `${stem} ${e.hf} HF shape`);
      mapped++;
    }
    assert.is(table.size, mapped, `${stem}: the table holds exactly the mapped keys`);
  }
});

test('config.json gives the fixture preset and overrides; sizes the presets cannot express are refused', () => {
  if (!HF_DIR || !GOLDEN_DIR) return skip('../shared/golden or golden-hf is absent');
  for (const [preset, stem] of Object.entries(STEMS)) {
    const cfg = hfModelConfig(JSON.parse(readFileSync(join(HF_DIR, stem, 'config.json'), 'utf8')));
    const spec = JSON.parse(readFileSync(join(GOLDEN_DIR, `${stem}.json`), 'utf8'));
    assert.is(cfg.preset, preset);
    assert.equal(cfg.overrides, spec.overrides, stem);
    assert.is(cfg.labels, null, `${stem}: LABEL_i names are not real labels`);
  }
  const conv = JSON.parse(readFileSync(join(HF_DIR, 'imagenet_conv', 'config.json'), 'utf8'));
  assert.throws(() => hfModelConfig({ ...conv, architectures: ['PerceiverForSomething'] }), /not one of DeepMind's released/);
  assert.throws(() => hfModelConfig({ ...conv, num_cross_attention_heads: 2 }), /num_cross_attention_heads is 2/);
  assert.throws(() => hfModelConfig({ ...conv, d_model: 300 }), /d_model is 300, but imagenet-conv with these sizes has 322/);
  assert.throws(() => hfModelConfig({ ...conv, qk_channels: 32 }), /qk_channels is 32/);
  assert.throws(() => hfModelConfig({ ...conv, num_latents: -1 }), /num_latents must be a positive integer/);
  // the released configs need no overrides at all
  const released = { ...conv, num_latents: 512, d_latents: 1024, num_blocks: 8, num_self_attends_per_block: 6, num_self_attention_heads: 8, d_model: 322 };
  assert.equal(hfModelConfig(released).overrides, {});
  assert.equal(realLabels({ 0: 'tench', 1: 'goldfish' }), ['tench', 'goldfish']);
  assert.is(realLabels({ 0: 'LABEL_0', 1: 'LABEL_1' }), null);
  assert.is(realLabels({ 0: 'a', 2: 'b' }), null);
});

test('reverseAxes undoes np.transpose of any rank', () => {
  const a = new NdArray('f32', [2, 3, 4], Float32Array.from({ length: 24 }, (_, i) => i), 'f4');
  const r = reverseAxes(a);
  assert.equal(r.shape, [4, 3, 2]);
  // r[k, j, i] = a[i, j, k]
  assert.is(r.data[3 * 6 + 2 * 2 + 1], a.data[1 * 12 + 2 * 4 + 3]);
  assert.equal([...reverseAxes(r).data], [...a.data]);
});

test('strict: missing, left-over and mis-shaped HF tensors are listed in one error; num_batches_tracked is ignored', () => {
  if (!HF_DIR) return skip('../shared/golden-hf is absent');
  const dir = join(HF_DIR, 'imagenet_conv');
  const cfgText = readFileSync(join(dir, 'config.json'), 'utf8');
  const hf = readHfWeights(readFileSync(join(dir, 'model.safetensors')), 'model.safetensors');
  const config = presetConfig('imagenet-conv', hfModelConfig(JSON.parse(cfgText)).overrides);
  const bad = new Map(hf);
  bad.delete('perceiver.embeddings.latents');
  bad.set('perceiver.extra.weight', new NdArray('f32', [1], new Float32Array(1), 'f4'));
  bad.set('perceiver.encoder.cross_attention.mlp.dense1.bias', new NdArray('f32', [3], new Float32Array(3), 'f4'));
  try {
    hfToHaiku(bad, config, 'x.safetensors');
    assert.unreachable('accepted');
  } catch (e) {
    const msg = (e as Error).message;
    assert.match(msg, /missing \(1\):\n    perceiver\.embeddings\.latents \[32, 64\]/);
    assert.match(msg, /not expected \(1\):\n    perceiver\.extra\.weight/);
    assert.match(msg, /wrong shape \(1\):\n    perceiver\.encoder\.cross_attention\.mlp\.dense1\.bias: file \[3\], expected \[64\]/);
  }
  const without = new Map(hf);
  assert.ok(without.delete('perceiver.input_preprocessor.convnet.batchnorm.num_batches_tracked'));
  assert.is(planHfConversion(cfgText, without).entries.length, planHfConversion(cfgText, hf).entries.length);
});

test('every golden-hf folder gives the same weights as its DeepMind pickle, bit for bit (safetensors and .bin)', () => {
  if (!HF_DIR || !GOLDEN_DIR) return skip('../shared/golden or golden-hf is absent');
  let files = 0;
  for (const stem of Object.values(STEMS)) {
    const spec = JSON.parse(readFileSync(join(GOLDEN_DIR, `${stem}.json`), 'utf8'));
    const ref = convertPickle(readFileSync(join(GOLDEN_DIR, `${stem}.pystate`)), spec.preset, spec.overrides);
    for (const f of ['model.safetensors', 'pytorch_model.bin']) {
      const p = join(HF_DIR, stem, f);
      if (!existsSync(p)) continue;
      const plan = planHfConversion(readFileSync(join(HF_DIR, stem, 'config.json'), 'utf8'), readHfWeights(readFileSync(p), f), 'f32', f);
      assert.equal(plan.meta.preset, ref.meta.preset);
      assert.equal(plan.meta.config, ref.meta.config, `${stem}/${f}: config`);
      assert.equal(plan.entries.map((e) => e.spec.name), ref.tensors.map((t) => t.name), `${stem}/${f}: names`);
      plan.entries.forEach((e, i) => {
        const t = ref.tensors[i];
        assert.equal(e.spec.shape, t.shape, `${stem}/${f}: ${t.name} shape`);
        assert.is(e.spec.dtype, t.dtype);
        const d = storedData(e.spec, e.source);
        assert.ok(Buffer.from(d.buffer, d.byteOffset, d.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${stem}/${f}: ${t.name} differs`);
      });
      files++;
    }
  }
  assert.is(files, 8, 'six safetensors and two .bin files');
});

test('shipped fixtures written in HF layout (tools/hf-write.ts) read back to the pickle bits: safetensors and torch.save archives', () => {
  for (const stem of ['imagenet_conv', 'imagenet_fourier', 'imagenet_learned']) {
    const dir = join(REPO, 'bench', 'fixtures');
    if (!existsSync(join(dir, `${stem}.pystate`))) return skip('bench/fixtures is absent');
    const spec = JSON.parse(readFileSync(join(dir, `${stem}.json`), 'utf8'));
    const pk = readFileSync(join(dir, `${stem}.pystate`));
    const ref = convertPickle(pk, spec.preset, spec.overrides);
    const hf = haikuToHf(flattenCheckpoint(parsePickle(pk)), presetConfig(spec.preset, spec.overrides));
    const cfg = hfConfigJson(spec.preset, spec.overrides);
    for (const [name, file] of [['model.safetensors', encodeSafetensors(hf)], ['pytorch_model.bin', encodeTorchStateDict(hf)]] as const) {
      const plan = planHfConversion(cfg, readHfWeights(file, name));
      assert.equal(plan.meta.overrides, spec.overrides, `${stem} ${name}`);
      plan.entries.forEach((e, i) => {
        const d = storedData(e.spec, e.source);
        const t = ref.tensors[i];
        assert.is(e.spec.name, t.name);
        assert.ok(Buffer.from(d.buffer, d.byteOffset, d.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${stem} ${name}: ${t.name}`);
      });
    }
  }
});

test('perceiver-io convert: an HF folder or file converts with the preset from config.json', async () => {
  if (!HF_DIR || !GOLDEN_DIR) return skip('../shared/golden or golden-hf is absent');
  const tmp = mkdtempSync(join(tmpdir(), 'perceiver-hfcli-'));
  let err = '';
  const cli = (...argv: string[]) => main(argv, { out: () => {}, err: (l) => void (err += `${l}\n`) });
  try {
    const out = join(tmp, 'conv.weights');
    assert.is(await cli('convert', join(HF_DIR, 'imagenet_conv', 'pytorch_model.bin'), out), 0, err);
    const ref = convertPickle(readFileSync(join(GOLDEN_DIR, 'imagenet_conv.pystate')), 'imagenet-conv', JSON.parse(readFileSync(join(GOLDEN_DIR, 'imagenet_conv.json'), 'utf8')).overrides);
    const h = parseWeightHeader(new Uint8Array(readFileSync(out)));
    assert.is(h.meta.preset, 'imagenet-conv');
    assert.equal(h.tensors.map((t) => t.name), ref.tensors.map((t) => t.name));
    assert.is(await cli('convert', join(HF_DIR, 'imagenet_conv'), join(tmp, 'f16.weights'), '--dtype', 'f16'), 0, err);
    assert.is(parseWeightHeader(new Uint8Array(readFileSync(join(tmp, 'f16.weights')))).meta.dtype, 'f16');
    assert.is(await cli('convert', join(HF_DIR, 'imagenet_conv'), join(tmp, 'wrong.weights'), '--preset', 'optical-flow'), 1);
    assert.match(err, /config\.json describes imagenet-conv, not optical-flow/);
    assert.ok(!existsSync(join(tmp, 'wrong.weights')) && !existsSync(join(tmp, 'wrong.weights.partial')));
    assert.is(await cli('convert', join(HF_DIR, 'imagenet_conv'), out), 1, 'an existing OUT is not overwritten');
    assert.is(await cli('convert', join(GOLDEN_DIR, 'imagenet_conv.pystate'), join(tmp, 'p.weights')), 1, 'a pickle still needs --preset');
    assert.match(err, /a pickle needs a preset/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});

test.run();
