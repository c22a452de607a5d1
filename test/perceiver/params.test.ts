// perceiver/params.ts: expectedParams against the six FULL released
// manifests and every golden fixture's pickle (names and shapes, exactly).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { expectedParams, expectedCheckpoint, countParams } from '../../perceiver/params.ts';
import { defaultConfig, presetConfig, PRESETS, type PresetName } from '../../perceiver/config.ts';
import { parsePickle, flattenArrays } from '../../tools/pickle.ts';
import { GOLDEN_DIR, COMPACT_DIR, STEMS, skipNote } from '../tools/helpers.ts';

function diff(want: Map<string, number[]>, got: Map<string, number[]>): string[] {
  const out: string[] = [];
  for (const [k, v] of want) {
    if (!got.has(k)) out.push(`missing ${k}`);
    else if (JSON.stringify(got.get(k)) !== JSON.stringify(v)) out.push(`${k}: expected [${v}], derived [${got.get(k)}]`);
  }
  for (const k of got.keys()) if (!want.has(k)) out.push(`extra ${k}`);
  return out;
}

test('published parameter counts of the six released models', () => {
  const published: Record<PresetName, number> = {
    'imagenet-conv': 48_646_522,
    'imagenet-fourier': 48_440_627,
    'imagenet-learned': 62_255_848,
    'language-mlm': 201_108_230,
    'optical-flow': 41_057_134,
    'multimodal-autoencoder': 19_858_855,
  };
  for (const p of PRESETS) assert.is(countParams(defaultConfig(p)), published[p], p);
});

test('expectedParams(defaultConfig) equals each FULL released manifest (params and state)', () => {
  if (skipNote('manifests', GOLDEN_DIR, 'PERCEIVER_GOLDEN_DIR')) return;
  for (const p of PRESETS) {
    const m = JSON.parse(readFileSync(join(GOLDEN_DIR!, `manifest_${STEMS[p]}.json`), 'utf8')) as Record<string, Record<string, number[]>>;
    const ck = expectedCheckpoint(defaultConfig(p));
    assert.equal(diff(new Map(Object.entries(m.params)), ck.params), [], `${p} params`);
    assert.equal(diff(new Map(Object.entries(m.state ?? {})), ck.state), [], `${p} state`);
    const all = new Map([...Object.entries(m.params), ...Object.entries(m.state ?? {})]);
    assert.equal(diff(all, expectedParams(defaultConfig(p))), [], p);
  }
});

test('expectedParams(presetConfig(preset, overrides)) equals every golden fixture pickle', () => {
  const dirs = [GOLDEN_DIR, COMPACT_DIR].filter((d): d is string => !!d);
  if (skipNote('fixtures', dirs[0] ?? null, 'PERCEIVER_GOLDEN_DIR')) return;
  let checked = 0;
  for (const dir of dirs) {
    for (const f of readdirSync(dir).filter((x) => x.endsWith('.json') && !x.startsWith('manifest_') && x !== 'bytes_tokenizer.json')) {
      const stem = f.slice(0, -5);
      const pick = ['pystate', 'pickle'].map((e) => join(dir, `${stem}.${e}`)).find((x) => existsSync(x));
      if (!pick) continue;
      const spec = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      const root = parsePickle(readFileSync(pick)) as Map<string, unknown>;
      const split = root.has('params');
      const got = new Map<string, number[]>();
      const tops = split ? [root.get('params'), root.get('state')] : [root];
      for (const t of tops) for (const [k, v] of flattenArrays(t as Map<string, never>)) got.set(k, v.shape);
      const want = expectedParams(presetConfig(spec.preset, spec.overrides ?? {}));
      assert.equal(diff(got, want), [], `${dir}/${stem}`);
      checked++;
    }
  }
  assert.ok(checked >= (GOLDEN_DIR && COMPACT_DIR ? 9 : 3), `${checked} fixtures checked`);
});

test('overrides reshape the expected names (more blocks, other widths)', () => {
  const m = expectedParams(presetConfig('optical-flow', { num_self_attends_per_block: 3, latent_channels: 96, num_latents: 10 }));
  assert.ok(m.has('perceiver_encoder/~/self_attention_2/mlp/linear_1/w'));
  assert.not.ok(m.has('perceiver_encoder/~/self_attention_3/mlp/linear_1/w'));
  assert.equal(m.get('perceiver_encoder/~/trainable_position_encoding/pos_embs'), [10, 96]);
  assert.equal(m.get('flow_decoder/~/basic_decoder/cross_attention/attention/linear/w'), [322, 96]);
  const l = expectedParams(presetConfig('imagenet-learned', { image_size: 32 }));
  assert.equal(l.get('image_preprocessor/~_build_network_inputs/trainable_position_encoding/pos_embs'), [1024, 256]);
  assert.throws(() => expectedParams(presetConfig('language-mlm', { num_self_attention_heads: 7 })), /must be divisible by 7 heads/);
});


test('size overrides are capped: a file claiming 2^32 blocks is refused at once, not looped over', () => {
  // Overrides come from files (a weight file's meta, a HuggingFace config.json):
  // the parameter list has an entry per self-attention, so an uncapped claim
  // hung for hours (found by npm run fuzz, reader hf-config).
  const t0 = performance.now();
  assert.throws(() => presetConfig('imagenet-fourier', { num_self_attends_per_block: 2 ** 32 }), /num_self_attends_per_block is 4294967296, over the largest this port accepts \(256\)/);
  assert.throws(() => presetConfig('language-mlm', { num_blocks: 65 }), /num_blocks is 65, over the largest/);
  assert.throws(() => presetConfig('imagenet-learned', { image_size: 1e9 }), /image_size is 1000000000/);
  assert.ok(performance.now() - t0 < 10_000); // a guard against looping, not a speed budget
  // the released sizes and the fixtures' reductions stay well inside the caps
  assert.is(presetConfig('language-mlm', { num_self_attends_per_block: 26 }).encoder.numSelfAttendsPerBlock, 26);
});

test.run();
