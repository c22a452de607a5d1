// Full-size conversion: for each of the six released models, a zero-filled
// pickle with exactly the FULL manifest's structure (names, shapes, the
// released layout: FlatMapping + numpy _reconstruct; ImageNet as {'params',
// 'state'}) is parsed, matched and streamed through the weight writer to a
// counting sink (imagenet-fourier and optical-flow as f16). Built from
// manifest_*.json when the golden set is present, else from
// expectedParams(defaultConfig). Peak memory ~2x the checkpoint
// (the 804 MB MLM model: ~1.7 GB); a few seconds in all.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parsePickle } from '../../tools/pickle.ts';
import { planConversion, flattenCheckpoint, writePlan } from '../../tools/convert.ts';
import { storedShapes } from '../../perceiver/params.ts';
import { parseWeightHeader, WEIGHT_PREAMBLE } from '../../engine/weights.ts';
import { expectedCheckpoint } from '../../perceiver/params.ts';
import { defaultConfig, PRESETS, type PresetName } from '../../perceiver/config.ts';
import { GOLDEN_DIR, STEMS, checkpointPickle, treeFromFlat, type LeafSpec, type Tree } from './helpers.ts';

function manifest(p: PresetName): { params: Map<string, number[]>; state: Map<string, number[]>; from: string } {
  if (GOLDEN_DIR) {
    const m = JSON.parse(readFileSync(join(GOLDEN_DIR, `manifest_${STEMS[p]}.json`), 'utf8'));
    return { params: new Map(Object.entries(m.params)), state: new Map(Object.entries(m.state ?? {})), from: 'manifest' };
  }
  return { ...expectedCheckpoint(defaultConfig(p)), from: 'expectedParams' };
}

function leaves(m: Map<string, number[]>): Map<string, LeafSpec> {
  return new Map([...m].map(([k, shape]) => [k, { shape, dtype: k.endsWith('/counter') ? ('i4' as const) : ('f4' as const) }]));
}

for (const preset of PRESETS) {
  test(`full-size ${preset}: every released name maps, the weight file streams out`, async () => {
    const t0 = performance.now();
    const m = manifest(preset);
    const imagenet = preset.startsWith('imagenet');
    const root: Tree = imagenet
      ? new Map([
          ['params', treeFromFlat(leaves(m.params))],
          ['state', treeFromFlat(leaves(m.state))],
        ])
      : treeFromFlat(leaves(m.params));
    let bytes: Uint8Array | null = checkpointPickle(root, { plainRoot: imagenet });
    const size = bytes.length;
    const tree = parsePickle(bytes);
    bytes = null;
    const dtype = preset === 'imagenet-fourier' || preset === 'optical-flow' ? 'f16' : 'f32';
    const plan = planConversion(flattenCheckpoint(tree), preset, {}, dtype, `${preset}.pystate`);
    const want = storedShapes(defaultConfig(preset));
    assert.is(plan.entries.length, want.size);
    assert.is(plan.entries.length + plan.dropped.length, m.params.size + m.state.size, `${preset}: every ${m.from} name mapped`);
    for (const e of plan.entries) assert.equal(e.spec.shape, want.get(e.spec.name), e.spec.name);
    let written = 0;
    let head: Uint8Array | null = null;
    const { bytes: total } = await writePlan(plan, (c) => {
      if (!head) head = c.slice();
      written += c.length;
    });
    assert.is(written, total);
    const h = parseWeightHeader(head!, null);
    assert.is(h.totalBytes, total);
    assert.is(h.tensors.length, want.size);
    assert.ok(head!.length >= WEIGHT_PREAMBLE);
    let numel = 0;
    for (const s of m.params.values()) numel += s.reduce((a, d) => a * d, 1);
    assert.ok(total >= numel * (dtype === 'f16' ? 2 : 4) && total < numel * (dtype === 'f16' ? 2 : 4) * 1.01, `${total} bytes for ${numel} parameters`);
    assert.ok(h.tensors.every((t) => t.dtype === dtype));
    const ms = performance.now() - t0;
    console.log(`    ${preset}: ${(size / 2 ** 20).toFixed(0)} MB pickle, ${plan.entries.length} tensors, ${dtype}, ${(ms / 1000).toFixed(1)} s`);
  });
}

test.run();
