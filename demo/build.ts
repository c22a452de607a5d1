// Builds the browser demo into a static folder (default out/demo):
//
//   main.js      demo/main.ts bundled by esbuild (ESM, minified, source map)
//   worker.js    worker/worker.ts, the model worker the page starts; chunks/
//                the code both share and each task's code, loaded on first use
//   index.html, style.css
//   weights/     the built-in golden-compact ImageNet fixtures
//                (bench/fixtures/*.pystate) converted to weight files: f32,
//                plus one f16 file; the raw .pystate files too, for the
//                page's in-browser converter
//   fixtures/    their STEM.npz reference outputs and STEM.json
//   media/       a sample photograph (test/media/chelsea-224.png, CC0)
//   manifest.json  what the page lists
//
//   npm run demo:build [-- --out DIR] [--golden DIR]
//
// --golden DIR (or PERCEIVER_GOLDEN=DIR) adds the reduced-size golden
// fixtures found there (language_mlm, optical_flow, multimodal_autoencoder):
// converted weights and reference outputs for the other tasks. Conversions
// are skipped when the output is newer than its source.

import { build } from 'esbuild';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { convertToWeightFile, type StoreDtype } from '../tools/convert.ts';
import type { Overrides, PresetName } from '../perceiver/config.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const here = join(root, 'demo');

export type TaskName = 'classify' | 'fillmask' | 'flow' | 'video';

export const TASK_OF: Record<PresetName, TaskName> = {
  'imagenet-conv': 'classify',
  'imagenet-fourier': 'classify',
  'imagenet-learned': 'classify',
  'language-mlm': 'fillmask',
  'optical-flow': 'flow',
  'multimodal-autoencoder': 'video',
};

export interface ManifestEntry {
  /** what the page shows */
  name: string;
  /** path relative to the demo root */
  file: string;
  /** 'weights': a converted weight file; 'pickle': a raw checkpoint the page converts */
  kind: 'weights' | 'pickle';
  preset: PresetName;
  overrides: Overrides;
  task: TaskName;
  dtype?: StoreDtype;
  bytes: number;
  /** the fixture whose reference outputs these weights give */
  fixture?: string;
  origin: string;
}

export interface DemoManifest {
  weights: ManifestEntry[];
  fixtures: Record<string, { file: string; preset: PresetName; arrays: Record<string, string> }>;
  media: string[];
}

export interface BuildOptions {
  outDir?: string;
  /** a golden fixture folder to add (language, flow, video), or null */
  golden?: string | null;
  minify?: boolean;
  log?: (line: string) => void;
}

const BUILTIN = join(root, 'bench/fixtures');
const GOLDEN_EXTRA = ['language_mlm', 'optical_flow', 'multimodal_autoencoder'];

function fresh(out: string, ...sources: string[]): boolean {
  if (!existsSync(out)) return false;
  const t = statSync(out).mtimeMs;
  return sources.every((s) => statSync(s).mtimeMs <= t) && statSync(fileURLToPath(import.meta.url)).mtimeMs <= t;
}

function copyIfChanged(src: string, dst: string): void {
  if (existsSync(dst) && statSync(dst).size === statSync(src).size && statSync(dst).mtimeMs >= statSync(src).mtimeMs) return;
  copyFileSync(src, dst);
  chmodSync(dst, 0o644); // sources may be read-only
}

export async function buildDemo(opts: BuildOptions = {}): Promise<{ outDir: string; manifest: DemoManifest }> {
  const outDir = resolve(opts.outDir ?? join(root, 'out/demo'));
  const log = opts.log ?? (() => {});
  for (const d of ['', 'weights', 'fixtures', 'media']) mkdirSync(join(outDir, d), { recursive: true });

  const t0 = performance.now();
  await build({
    // the page, and the model worker it starts (PerceiverWorker finds ./worker.js next to main.js);
    // code both use, and each task's code the worker imports on first use, go to chunks of their own
    entryPoints: { main: join(here, 'main.ts'), worker: join(root, 'worker/worker.ts') },
    bundle: true,
    splitting: true,
    minify: opts.minify ?? true,
    sourcemap: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    outdir: outDir,
    chunkNames: 'chunks/[name]-[hash]',
    logLevel: 'error',
    // the page bundles the converter too; its CLI's node: imports are dynamic and never run in a browser
    external: ['node:*'],
  });
  for (const f of ['index.html', 'style.css']) copyFileSync(join(here, f), join(outDir, f));
  copyIfChanged(join(root, 'test/media/chelsea-224.png'), join(outDir, 'media/chelsea-224.png'));
  log(`demo: bundled main.js in ${(performance.now() - t0).toFixed(0)} ms`);

  const manifest: DemoManifest = { weights: [], fixtures: {}, media: ['media/chelsea-224.png'] };
  const add = (dir: string, stem: string, origin: string, f16: boolean, raw: boolean) => {
    const spec = JSON.parse(readFileSync(join(dir, `${stem}.json`), 'utf8')) as { preset: PresetName; overrides?: Overrides; arrays?: Record<string, string> };
    const overrides = spec.overrides ?? {};
    const pickle = join(dir, existsSync(join(dir, `${stem}.pystate`)) ? `${stem}.pystate` : `${stem}.pickle`);
    const task = TASK_OF[spec.preset];
    for (const dtype of f16 ? (['f32', 'f16'] as const) : (['f32'] as const)) {
      const file = `weights/${stem}${dtype === 'f16' ? '.f16' : ''}.weights`;
      const out = join(outDir, file);
      if (!fresh(out, pickle)) {
        const t = performance.now();
        writeFileSync(out, convertToWeightFile(readFileSync(pickle), spec.preset, overrides, dtype, `${origin}/${stem}`));
        log(`demo: converted ${stem} (${dtype}) in ${(performance.now() - t).toFixed(0)} ms`);
      }
      manifest.weights.push({ name: `${stem} (${origin}, ${dtype})`, file, kind: 'weights', preset: spec.preset, overrides, task, dtype, bytes: statSync(out).size, fixture: stem, origin });
    }
    if (raw) {
      const file = `weights/${stem}${pickle.slice(pickle.lastIndexOf('.'))}`;
      copyIfChanged(pickle, join(outDir, file));
      manifest.weights.push({ name: `${stem} (${origin}, raw checkpoint: converted in the page)`, file, kind: 'pickle', preset: spec.preset, overrides, task, bytes: statSync(pickle).size, fixture: stem, origin });
    }
    const npz = `fixtures/${stem}.npz`;
    copyIfChanged(join(dir, `${stem}.npz`), join(outDir, npz));
    manifest.fixtures[stem] = { file: npz, preset: spec.preset, arrays: spec.arrays ?? {} };
  };

  for (const stem of ['imagenet_conv', 'imagenet_fourier', 'imagenet_learned']) add(BUILTIN, stem, 'golden-compact', stem === 'imagenet_conv', true);
  const golden = opts.golden === undefined ? process.env.PERCEIVER_GOLDEN ?? null : opts.golden;
  if (golden) {
    for (const stem of GOLDEN_EXTRA) {
      if (existsSync(join(golden, `${stem}.json`))) add(golden, stem, 'golden', false, false);
      else log(`demo: ${golden} has no ${stem}; skipped`);
    }
  }
  writeFileSync(join(outDir, 'manifest.json'), JSON.stringify(manifest, null, 1));
  log(`demo: built ${outDir} (${manifest.weights.length} weight files) in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  return { outDir, manifest };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  const args = process.argv.slice(2);
  const opt = (name: string) => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  buildDemo({ outDir: opt('--out'), golden: opt('--golden'), log: console.log }).then(
    ({ outDir }) => console.log(`\nserve it with: npx tsx demo/serve.ts --dir ${outDir}   (or npm run demo)`),
    (e: Error) => {
      console.error(`demo:build: ${e.message}`);
      process.exitCode = 1;
    },
  );
}
