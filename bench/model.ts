// npm run bench -- [--model P[,P...] | --model all] [--runs N] [--warmup N] [--no-tune] [--subset]
//                  [--batch B] [--frame-size HxW] [--label-only]
//                  [--profile [--profile-cpu] [--top N]] [--overrides JSON] [--json]
//
// Seconds per forward of each preset at the released size, on the current
// adapter, with random weights at the released widths (bench/random-weights.ts;
// nothing is downloaded) and synthetic inputs of the released shapes. A
// forward is what bench:reference's runner for the preset does
// (bench/runners.ts): upload the inputs, run the model, read every output
// back:
//   imagenet-*              one 224x224 image -> 1000 logits
//   language-mlm            one 2048-byte sequence -> [2048, 262] logits
//   optical-flow            one 368x496 frame pair (one tile) -> flow at every pixel
//   multimodal-autoencoder  one 16-frame window: encoder, then the full
//                           reconstruction (802,816 pixels, 1,920 audio patches,
//                           the label)
//
// Full size is the default, also on software adapters, where a flow forward
// takes about half an hour and the video reconstruction longer: the bench
// prints a warning with a rough estimate before such a preset and a heartbeat
// every minute. --subset is the documented reduced mode: on a software
// adapter the runners then decode the subsets bench:reference uses (flow:
// 4,096 evenly spread pixels; video: the first and last frame, all audio, the
// label); the report says what was decoded. It changes nothing on a GPU.
// Input variations: --batch B runs B images (imagenet-*) or B sequences
// (language-mlm) per forward; --frame-size HxW times optical flow on a frame
// pair of that size (e.g. 436x1024, a Sintel frame: six overlapping tiles,
// stitched as the colab) instead of one 368x496 tile; --label-only decodes
// only the video model's label (the encoder and one query: what a classifier
// of clips pays).
// --overrides JSON shrinks the models (the golden fixtures' override names,
// e.g. '{"num_latents":16,"latent_channels":32}'), for trying the bench out;
// such results are marked 'reduced'.
//
// Stages, each timed and printed: load (the random weights uploaded), compile
// (the pipelines of a forward, compiled with createComputePipelineAsync from
// a dry run of the runner, engine/gpu.ts prepare, as the task loaders do;
// --no-compile leaves compilation to the first forward), the first forward,
// then --warmup N more untimed passes (default 0), the kernel tuner measuring
// the shapes the passes queued (engine/tune.ts tunePending, as the task APIs
// do after a first forward; --no-tune skips it; on a software adapter only
// with --warmup, where it takes minutes), and --runs N warm passes
// (default 1; the best is the warm forward; --runs 0: the first forward only). Each pass also reports the
// command buffers it submitted and its dispatches (the scheduling claim: an
// imagenet or language forward is one command buffer; the chunked decoders of
// flow and video record every chunk before one read-back per output, and
// submit per chunk where a progress callback wants per-chunk reports).
//
// --profile: one more pass with per-kernel GPU times (bench/profile.ts): GPU
// timestamp queries (unquantized) where the device has 'timestamp-query', else (or with
// --profile-cpu) host-side per-dispatch timing, labelled as such. The table
// aggregates by kernel name (count, total ms, share, mean), then lists the
// --top N (default 10) most expensive dispatch shapes. --runs 0 --profile
// runs only the profiled pass.

import { nodeGpu } from '../engine/node.ts';
import { setupNodeGpu } from '../tools/setup-driver.ts';
import type { Gpu } from '../engine/index.ts';
import { PRESETS, presetConfig, type Overrides, type PresetName, type ModelConfig, type ImageNetConfig, type MultimodalConfig, type FlowConfig } from '../perceiver/config.ts';
import { countParams } from '../perceiver/params.ts';
import { releasedGeometry } from '../perceiver/video/model.ts';
import { utf8, bytesToIds, MASK_ID } from '../perceiver/language/tokenizer.ts';
import { RUNNERS, type HostArray, type RunContext } from './runners.ts';
import { randomWeights, noise } from './random-weights.ts';
import { tunePending } from '../engine/tune.ts';
import { startProfile, formatProfile, PROFILE_DAWN_FLAGS, type Profile } from './profile.ts';

/**
 * Rough minutes per full-size forward on a software adapter, measured on the
 * 2-core development machine with lavapipe (README, Benchmarks); only for the
 * warning printed before a long run.
 */
const SOFTWARE_MINUTES: Partial<Record<PresetName, string>> = {
  'language-mlm': 'about 1 minute',
  'imagenet-conv': 'about 2 minutes',
  'imagenet-fourier': 'about 2 minutes',
  'imagenet-learned': 'about 2 minutes',
  'optical-flow': 'about 30 minutes (about 1 minute with --subset)',
  'multimodal-autoencoder': 'about 40 minutes, or more (a few minutes with --subset)',
};
const HEARTBEAT_MS = 60_000;

function parseArgs(argv: string[]) {
  const o = {
    tune: true, compile: true, models: [...PRESETS] as PresetName[], runs: 1, warmup: 0, subset: false,
    batch: 1, frameSize: null as [number, number] | null, labelOnly: false,
    profile: false, profileCpu: false, top: 10, json: false, overrides: {} as Overrides,
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--model' || a === '--models') {
      const v = argv[++i] ?? '';
      o.models = v === 'all' ? [...PRESETS] : (v.split(',') as PresetName[]);
      for (const m of o.models) if (!PRESETS.includes(m)) throw new Error(`--model: unknown preset '${m}' (known: ${PRESETS.join(', ')}, all)`);
    } else if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--warmup') o.warmup = Number(argv[++i]);
    else if (a === '--subset') o.subset = true;
    else if (a === '--batch') o.batch = Number(argv[++i]);
    else if (a === '--frame-size') {
      const m = /^(\d+)x(\d+)$/.exec(argv[++i] ?? '');
      if (!m || +m[1] < 1 || +m[2] < 1) throw new Error('--frame-size takes HxW, e.g. 436x1024');
      o.frameSize = [+m[1], +m[2]];
    } else if (a === '--label-only') o.labelOnly = true;
    else if (a === '--no-tune') o.tune = false;
    else if (a === '--no-compile') o.compile = false;
    else if (a === '--profile') o.profile = true;
    else if (a === '--profile-cpu') o.profile = o.profileCpu = true;
    else if (a === '--top') o.top = Number(argv[++i]);
    else if (a === '--overrides') o.overrides = JSON.parse(argv[++i] ?? '{}') as Overrides;
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench -- [--model P[,P...] | all] [--runs N] [--warmup N] [--no-tune] [--no-compile] [--subset] [--batch B] [--frame-size HxW] [--label-only] [--profile [--profile-cpu] [--top N]] [--overrides JSON] [--json]');
      console.log(`presets: ${PRESETS.join(', ')}`);
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  for (const [k, v] of [['--runs', o.runs], ['--warmup', o.warmup], ['--top', o.top]] as const) {
    if (!(Number.isInteger(v) && v >= 0)) throw new Error(`${k} must be a non-negative integer`);
  }
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new Error('--batch must be a positive integer');
  // Each input option applies to some presets only: asking it of another is a mistake worth naming.
  const only = (flag: string, on: boolean, presets: PresetName[]) => {
    const other = o.models.find((m) => !presets.includes(m));
    if (on && other) throw new Error(`${flag} applies to ${presets.join(', ')} only, not ${other} (pick the model with --model)`);
  };
  only('--batch', o.batch > 1, ['imagenet-conv', 'imagenet-fourier', 'imagenet-learned', 'language-mlm']);
  only('--frame-size', o.frameSize !== null, ['optical-flow']);
  only('--label-only', o.labelOnly, ['multimodal-autoencoder']);
  return o;
}

/** Synthetic inputs of the released shapes (batch B, flow frames H x W), named as the runners expect. */
function inputs(cfg: ModelConfig, B: number, frameSize: [number, number] | null): Map<string, HostArray> {
  const unit = (n: number, seed: number) => noise(n, seed, 1 / Math.sqrt(3)).map((v) => v + 0.5); // uniform [0, 1)
  switch (cfg.preset) {
    case 'imagenet-conv':
    case 'imagenet-fourier':
    case 'imagenet-learned': {
      const s = (cfg as ImageNetConfig).imageSize;
      return new Map([['images', { shape: [B, s, s, 3], data: noise(B * s * s * 3, 11, 1) }]]);
    }
    case 'language-mlm': {
      const T = cfg.maxSeqLen;
      const ids = new Int32Array(B * T), mask = new Int32Array(B * T);
      const text = bytesToIds(utf8('The Perceiver IO masked language model reads raw UTF-8 bytes. '.repeat(40)));
      const used = T - 100; // a padded tail, as real input has
      for (let b = 0; b < B; b++) {
        ids.set(text.subarray(0, used), b * T);
        for (let i = 100 + b; i < used; i += 97) ids.fill(MASK_ID, b * T + i, b * T + i + 5); // masked spans, shifted per sequence
        mask.fill(1, b * T, b * T + used);
      }
      return new Map<string, HostArray>([['inputs', { shape: [B, T], data: ids }], ['input_mask', { shape: [B, T], data: mask }]]);
    }
    case 'optical-flow': {
      const [h, w] = frameSize ?? (cfg as FlowConfig).trainSize;
      return new Map([['frames', { shape: [1, 2, h, w, 3], data: noise(2 * h * w * 3, 12, 0.5) }]]);
    }
    case 'multimodal-autoencoder': {
      const g = releasedGeometry(cfg as MultimodalConfig);
      return new Map([
        ['images', { shape: [1, g.frames, g.height, g.width, 3], data: unit(g.frames * g.height * g.width * 3, 13) }],
        ['audio', { shape: [1, g.audioSamples, 1], data: noise(g.audioSamples, 14, 0.2) }],
      ]);
    }
  }
}

interface Pass {
  seconds: number;
  /** command buffers submitted during the pass */
  submits: number;
  dispatches: number;
}

interface ModelResult {
  preset: PresetName;
  parameters: number;
  /** shrunk by --overrides (not the released size) */
  reduced: boolean;
  adapter: string;
  coverage: Record<string, string>;
  /** seconds to upload the weights */
  loadSeconds: number;
  /** seconds to compile the forward's pipelines (0 with --no-compile), and how many */
  compileSeconds: number;
  pipelines: number;
  /** the first forward (includes compilation only with --no-compile) */
  first: Pass;
  warmup: Pass[];
  runs: Pass[];
  /** the best warm pass */
  secondsPerForward: number | null;
  /** kernel shapes the tuner measured after the warm-up */
  tuned: number;
  peakBytes: number;
  weightBytes: number;
  profile?: Profile & { passSeconds: number };
}

async function pass(gpu: Gpu, ctx: RunContext, coverage: Record<string, string>): Promise<Pass> {
  const runner = RUNNERS[ctx.config.preset]!;
  const s0 = gpu.submitCount, d0 = gpu.dispatchCount, t0 = performance.now();
  const out = await runner(ctx);
  const seconds = (performance.now() - t0) / 1000;
  for (const [name, o] of out) coverage[name] = o.coverage;
  return { seconds, submits: gpu.submitCount - s0, dispatches: gpu.dispatchCount - d0 };
}

async function benchModel(gpu: Gpu, preset: PresetName, opts: ReturnType<typeof parseArgs>, log: (s: string) => void): Promise<ModelResult> {
  const cfg = presetConfig(preset, opts.overrides);
  const reduced = Object.keys(opts.overrides).length > 0;
  const software = gpu.features.emulated;
  log(`\n${preset}: ${(countParams(cfg) / 1e6).toFixed(1)}M parameters (random weights, ${reduced ? `REDUCED by ${JSON.stringify(opts.overrides)}` : 'released widths'})`);
  const subsetApplies = preset === 'optical-flow' || preset === 'multimodal-autoencoder';
  if (software && !reduced && SOFTWARE_MINUTES[preset] && !(opts.subset && subsetApplies) && !opts.labelOnly) {
    const scaled = opts.batch > 1 ? `, times ${opts.batch} for the batch` : opts.frameSize ? ', times the tiles of the frame' : '';
    log(`  warning: software adapter: one full-size forward takes ${SOFTWARE_MINUTES[preset]} on a 2-core host${scaled}`);
  }
  const tLoad = performance.now();
  const weights = randomWeights(gpu, cfg);
  await gpu.sync();
  const loadSeconds = (performance.now() - tLoad) / 1000;
  const weightBytes = gpu.pool.liveBytes;
  const ctx: RunContext = { gpu, config: cfg, weights, inputs: inputs(cfg, opts.batch, opts.frameSize), full: !opts.subset, labelOnly: opts.labelOnly };
  const shape = [...ctx.inputs.values()][0].shape;
  if (opts.batch > 1 || opts.frameSize) log(`  input ${[...ctx.inputs.keys()][0]} [${shape}]`);
  const coverage: Record<string, string> = {};
  const t0 = performance.now();
  const s0 = gpu.submitCount, d0 = gpu.dispatchCount;
  const heartbeat = setInterval(() => {
    log(`  ... ${((performance.now() - t0) / 60000).toFixed(1)} min, ${gpu.dispatchCount - d0} dispatches, ${gpu.submitCount - s0} submits so far`);
  }, HEARTBEAT_MS);
  heartbeat.unref();
  const result: ModelResult = {
    preset, parameters: countParams(cfg), reduced, adapter: gpu.adapterName, coverage, loadSeconds, compileSeconds: 0, pipelines: 0,
    first: { seconds: 0, submits: 0, dispatches: 0 }, warmup: [], runs: [], secondsPerForward: null, tuned: 0, peakBytes: 0, weightBytes,
  };
  const show = (what: string, p: Pass) => log(`  ${what.padEnd(26)} ${p.seconds.toFixed(3).padStart(10)} s   ${p.submits} command buffer${p.submits === 1 ? '' : 's'}, ${p.dispatches} dispatches`);
  log(`  ${'load (weights)'.padEnd(26)} ${loadSeconds.toFixed(3).padStart(10)} s   ${(weightBytes / 2 ** 20).toFixed(0)} MiB`);
  try {
    gpu.pool.resetPeak();
    if (opts.compile) {
      const t = performance.now();
      result.pipelines = await gpu.prepare((dry) => RUNNERS[preset]!({ ...ctx, gpu: dry }));
      result.compileSeconds = (performance.now() - t) / 1000;
      log(`  ${'compile'.padEnd(26)} ${result.compileSeconds.toFixed(3).padStart(10)} s   ${result.pipelines} pipelines (createComputePipelineAsync)`);
    }
    result.first = await pass(gpu, ctx, coverage);
    show(`first forward${opts.compile ? '' : ' (incl. compilation)'}`, result.first);
    const warmup = opts.warmup;
    for (let i = 0; i < warmup; i++) {
      const p = await pass(gpu, ctx, coverage);
      result.warmup.push(p);
      show(`warm-up ${i + 1}/${warmup}`, p);
    }
    if (opts.tune && (!software || opts.warmup > 0)) { // (on a software adapter only when asked for warm-ups, as before: tuning there takes minutes)
      const t = performance.now();
      result.tuned = (await tunePending(gpu)).length;
      log(`  tuned ${result.tuned} kernel shapes in ${((performance.now() - t) / 1000).toFixed(1)} s`);
    }
    for (let i = 0; i < opts.runs; i++) {
      const p = await pass(gpu, ctx, coverage);
      result.runs.push(p);
      show(`warm forward ${i + 1}/${opts.runs}`, p);
    }
    result.peakBytes = gpu.pool.peakBytes;
    if (result.runs.length) result.secondsPerForward = Math.min(...result.runs.map((r) => r.seconds));
    if (opts.profile) {
      const profiling = startProfile(gpu, { cpu: opts.profileCpu });
      const tp = performance.now();
      await RUNNERS[preset]!(ctx);
      const profile = await profiling.stop();
      result.profile = { ...profile, passSeconds: (performance.now() - tp) / 1000 };
      log(`  profiled pass              ${result.profile.passSeconds.toFixed(3).padStart(10)} s`);
      log(formatProfile(profile, opts.top).replace(/^/gm, '  '));
    }
  } finally {
    clearInterval(heartbeat);
    for (const t of weights.values()) t.dispose();
  }
  const partial = Object.entries(coverage).filter(([, c]) => c !== 'all');
  if (partial.length) log(`  decoded: ${partial.map(([k, c]) => `${k} ${c}`).join('; ')} (--subset)`);
  log(`  => load ${loadSeconds.toFixed(3)} s, compile ${result.compileSeconds.toFixed(3)} s, first forward ${result.first.seconds.toFixed(3)} s, warm forward ${result.secondsPerForward?.toFixed(3) ?? '-'} s; peak ${(result.peakBytes / 2 ** 20).toFixed(0)} MiB GPU memory incl. ${(weightBytes / 2 ** 20).toFixed(0)} MiB weights`);
  return result;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const log = (s: string) => {
    if (!opts.json) console.log(s);
  };
  const gpu = await setupNodeGpu(() => nodeGpu(opts.profile ? { dawnFlags: PROFILE_DAWN_FLAGS } : {}));
  const software = gpu.features.emulated;
  log(`adapter: ${gpu.adapterName}${software ? ' (software)' : ''}; timestamp-query: ${gpu.features.timestamps ? 'yes' : 'no'}`);
  const results: ModelResult[] = [];
  for (const preset of opts.models) results.push(await benchModel(gpu, preset, opts, log));
  if (opts.json) console.log(JSON.stringify({ adapter: gpu.adapterName, subset: opts.subset, overrides: opts.overrides, results }, null, 2));
  else {
    console.log('\nseconds per warm forward');
    for (const r of results) console.log(`  ${r.preset.padEnd(24)} ${r.secondsPerForward === null ? `${r.first.seconds.toFixed(3)} s (first forward only)` : `${r.secondsPerForward.toFixed(3)} s`}${r.reduced ? '  (reduced)' : ''}`);
  }
  gpu.destroy();
}

main().catch((e) => {
  console.error(`bench: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
