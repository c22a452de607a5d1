// Loading one golden fixture (STEM.json, STEM.pystate or .pickle, STEM.npz):
// the parameters go through the converter and the project's weight format
// onto the GPU, exactly as a user's converted file would.

import { readFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Gpu, Tensor } from '../engine/index.ts';
import { encodeWeights, type HostTensor } from '../engine/weights.ts';
import { readNpz } from '../tools/npy.ts';
import { convertPickle, planHfConversion, readHfWeights, storedData } from '../tools/convert.ts';
import { presetConfig, PRESETS, type ModelConfig, type PresetName, type Overrides } from '../perceiver/config.ts';
import { loadPreset } from '../perceiver/load.ts';
import { LEFT_OPERAND_WEIGHTS } from '../perceiver/video/model.ts';
import type { HostArray } from './runners.ts';

const here = dirname(fileURLToPath(import.meta.url));

/** The built-in fixtures (a copy of golden-compact) in a clone: bench/fixtures. */
export const BUILTIN_FIXTURES = join(here, 'fixtures');

/**
 * The built-in fixtures' folder, or null where it is absent: found from the
 * sources (bench/fixture.ts) and from the compiled CLI in a clone
 * (dist/bench/fixture.js, two levels down). The npm package does not carry
 * the set (5.8 MB of weights, over the package's 1 MB), so an installed CLI
 * needs --fixtures.
 */
export function builtinFixtures(): string | null {
  for (const dir of [BUILTIN_FIXTURES, join(here, '..', '..', 'bench', 'fixtures')]) if (existsSync(join(dir, 'README.md'))) return dir;
  return null;
}

export const BUILTIN_FIXTURES_ABSENT =
  'the built-in golden-compact set is in a clone of the repository, bench/fixtures, not in the npm package; ' +
  "DeepMind's reduced-size fixtures are STEM.json + STEM.pystate + STEM.npz files";

export interface Fixture {
  stem: string;
  preset: PresetName;
  overrides: Overrides;
  config: ModelConfig;
  weights: Map<string, Tensor>;
  arrays: Map<string, HostArray>;
}

export function fixtureSpec(dir: string, stem: string): { preset: PresetName; overrides: Overrides } {
  const spec = JSON.parse(readFileSync(join(dir, `${stem}.json`), 'utf8')) as { preset: PresetName; overrides?: Overrides };
  if (!PRESETS.includes(spec.preset)) throw new Error(`${stem}.json: unknown preset ${spec.preset}`);
  return { preset: spec.preset, overrides: spec.overrides ?? {} };
}

/**
 * With `f16`, the weights are converted to f16 (`--dtype f16`) and loaded as
 * the task loaders do with keepF16 (perceiver/load.ts): Linear weights stay
 * f16 on the GPU where the adapter has shader-f16, the rest is widened.
 */
export async function loadFixture(gpu: Gpu, dir: string, stem: string, opts: { f16?: boolean; hf?: string; hfFile?: string } = {}): Promise<Fixture> {
  const { preset, overrides } = fixtureSpec(dir, stem);
  const dtype = opts.f16 ? 'f16' : 'f32';
  let converted: { meta: Record<string, unknown>; tensors: HostTensor[] };
  if (opts.hf) {
    const hf = hfWeightFile(join(opts.hf, stem), opts.hfFile);
    const plan = planHfConversion(readFileSync(join(opts.hf, stem, 'config.json'), 'utf8'), readHfWeights(readFileSync(hf.path), hf.name), dtype, hf.name);
    if (plan.meta.preset !== preset || JSON.stringify(plan.meta.overrides) !== JSON.stringify(overrides)) {
      throw new Error(`${hf.path}: config.json gives ${String(plan.meta.preset)} ${JSON.stringify(plan.meta.overrides)}, the fixture is ${preset} ${JSON.stringify(overrides)}`);
    }
    converted = { meta: plan.meta, tensors: plan.entries.map(({ spec, source }) => ({ ...spec, data: storedData(spec, source) })) };
  } else {
    const pickleFile = existsSync(join(dir, `${stem}.pystate`)) ? `${stem}.pystate` : `${stem}.pickle`;
    converted = convertPickle(readFileSync(join(dir, pickleFile)), preset, overrides, dtype);
  }
  // loaded as the task loaders load (the video loader widens its fused-projection operand)
  const widened = preset === 'multimodal-autoencoder' ? LEFT_OPERAND_WEIGHTS : [];
  const { tensors } = await loadPreset(gpu, encodeWeights(converted.meta, converted.tensors), { keepF16: opts.f16 }, [preset], (p) => presetConfig(p), widened);
  const arrays = new Map<string, HostArray>();
  for (const [k, v] of readNpz(readFileSync(join(dir, `${stem}.npz`)))) arrays.set(k, { shape: [...v.shape], data: v.data as Float32Array | Int32Array });
  return { stem, preset, overrides, config: presetConfig(preset, overrides), weights: tensors, arrays };
}

/** The weight file of an HF folder: `file` if given, else model.safetensors, else pytorch_model.bin. */
function hfWeightFile(folder: string, file?: string): { path: string; name: string } {
  for (const name of file ? [file] : ['model.safetensors', 'pytorch_model.bin']) {
    if (existsSync(join(folder, name))) return { path: join(folder, name), name };
  }
  throw new Error(`${folder}: no ${file ?? 'model.safetensors or pytorch_model.bin'}`);
}

export function disposeFixture(f: Fixture): void {
  for (const t of f.weights.values()) t.dispose();
}

export { maxRelError } from '../engine/compare.ts';
