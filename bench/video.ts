// npm run bench:video -- [--runs N] [--full | --quick] [--chunk N] [--overrides JSON] [--json]
//
// Seconds per 16-frame window of the multimodal-autoencoder preset on the
// current adapter, for three requests: the label only (encoder + one query),
// one whole frame (50,176 pixel queries) and the full reconstruction (all
// 802,816 pixels, 1,920 audio patches and the label: about 7.5 TFLOP at the
// released widths), each with the peak GPU memory. The encoder runs once per
// window in each case (included in each time).
//
// The model is the released one at full size (19.9M parameters: 784 x 512
// latents, 8 self-attends, decoder queries 1,026 wide) with random weights
// built in memory from perceiver/params.ts's shapes at the released scales
// (the released checkpoint is not downloaded), so the timing is the real
// model's; --overrides shrinks it (e.g. the golden fixture's sizes).
//
// On a GPU everything is measured. On a software adapter (lavapipe,
// SwiftShader) the full reconstruction would take hours, so it is
// EXTRAPOLATED from the measured one-frame decode (encoder + 802,816 + 1,920
// queries at the one-frame rate) unless --full; --quick also extrapolates the
// one frame, from a 4,096-query slice. The report marks measured and
// extrapolated values.
//
// Memory: the buffer pool's high-water mark of live bytes during the request
// (weights included, and listed apart).

import { nodeGpu } from '../engine/node.ts';
import { defaultConfig, withOverrides, type MultimodalConfig, type Overrides } from '../perceiver/config.ts';
import { countParams, multimodalWidths } from '../perceiver/params.ts';
import { MultimodalAutoencoderModel, releasedGeometry, allIndices, frameIndices, defaultChunkSize, type QuerySelection } from '../perceiver/video/model.ts';
import { randomWeights } from './random-weights.ts';

const QUICK_QUERIES = 4096;

function parseArgs(argv: string[]) {
  const o = { runs: 1, full: false, quick: false, chunk: 0, overrides: {} as Overrides, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--full') o.full = true;
    else if (a === '--quick') o.quick = true;
    else if (a === '--chunk') o.chunk = Number(argv[++i]);
    else if (a === '--overrides') o.overrides = JSON.parse(argv[++i] ?? '{}') as Overrides;
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench:video -- [--runs N] [--full | --quick] [--chunk N] [--overrides JSON] [--json]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(Number.isInteger(o.runs) && o.runs >= 1)) throw new Error('--runs must be a positive integer');
  if (o.chunk && !(Number.isInteger(o.chunk) && o.chunk >= 1)) throw new Error('--chunk must be a positive integer');
  if (o.full && o.quick) throw new Error('--full and --quick exclude each other');
  return o;
}

/** A moving colour pattern [16, 224, 224, 3] in [0, 1] and a 440 Hz tone. */
function syntheticWindow(cfg: MultimodalConfig): { frames: Float32Array; audio: Float32Array } {
  const g = releasedGeometry(cfg);
  const frames = new Float32Array(g.frames * g.height * g.width * 3);
  for (let t = 0; t < g.frames; t++) {
    for (let y = 0; y < g.height; y++) {
      for (let x = 0; x < g.width; x++) {
        const p = ((t * g.height + y) * g.width + x) * 3;
        frames[p] = 0.5 + 0.4 * Math.sin((x + 2 * t) / 9);
        frames[p + 1] = 0.5 + 0.4 * Math.cos((y - t) / 13);
        frames[p + 2] = ((x + y + 3 * t) % 64) / 64;
      }
    }
  }
  const audio = Float32Array.from({ length: g.audioSamples }, (_, i) => 0.3 * Math.sin((2 * Math.PI * 440 * i) / 48000));
  return { frames, audio };
}

/** FLOPs (2 x multiply-adds): encoder (folded cross-attention) and decoder per query (fused projections). */
function flops(cfg: MultimodalConfig): { encoder: number; perQuery: number; perChunk: number } {
  const g = releasedGeometry(cfg);
  const w = multimodalWidths(cfg);
  const N = g.audioSamples / cfg.samplesPerPatch + g.frames * (g.height / cfg.spaceToDepth) * (g.width / cfg.spaceToDepth) + 1;
  const C = w.inputWidth, e = cfg.encoder, L = e.numLatents, D = e.latentChannels;
  const cross = L * D * C + L * C * C + 2 * L * N * C + L * C * C + L * C * D + 2 * L * D * D;
  const sqk = e.selfQkChannels ?? D, sv = e.selfVChannels ?? sqk;
  const self = L * D * (2 * sqk + sv) + L * L * (sqk + sv) + L * sv * D + 2 * L * D * D;
  const Cq = w.queryWidth, qk = D;
  const perQuery = Cq * qk + 2 * L * qk + qk * Cq + 2 * Cq * Cq + Cq * 3;
  return { encoder: 2 * (cross + e.numBlocks * e.numSelfAttendsPerBlock * self), perQuery: 2 * perQuery, perChunk: 2 * 2 * L * D * D };
}

const MB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

interface Row {
  request: string;
  queries: number;
  seconds: number;
  measured: boolean;
  encodeSeconds: number;
  peakBytes: number | null;
  note: string;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cfg = withOverrides(defaultConfig('multimodal-autoencoder') as MultimodalConfig, opts.overrides);
  const log = (s: string) => {
    if (!opts.json) console.log(s);
  };
  const gpu = await nodeGpu();
  const software = gpu.features.emulated;
  const e = cfg.encoder;
  const g = releasedGeometry(cfg);
  const chunkSize = opts.chunk || defaultChunkSize(gpu, cfg);
  log(`adapter: ${gpu.adapterName}${software ? ' (software)' : ''}`);
  log(`multimodal-autoencoder: ${(countParams(cfg) / 1e6).toFixed(1)}M parameters, ${e.numLatents}x${e.latentChannels} latents, ${e.numBlocks * e.numSelfAttendsPerBlock} self-attends, ${g.frames}x${g.height}x${g.width} frames, decoder slices of ${chunkSize} queries`);
  const weights = randomWeights(gpu, cfg);
  const model = new MultimodalAutoencoderModel(gpu, cfg, weights);
  model.fusedProjection('image');
  model.fusedProjection('audio');
  model.fusedProjection('label');
  await gpu.sync();
  const weightBytes = gpu.pool.liveBytes;
  const { frames, audio } = syntheticWindow(cfg);
  const fl = flops(cfg);
  const pixels = g.frames * g.height * g.width;
  const patches = g.audioSamples / cfg.samplesPerPatch;

  /** encode + decode `sel`; seconds (best of runs), encoder seconds, peak bytes. */
  const run = async (sel: QuerySelection) => {
    let best = Infinity, enc = 0, peak = 0;
    for (let r = 0; r < opts.runs; r++) {
      gpu.pool.resetPeak();
      const t0 = performance.now();
      const z = model.encode(frames, audio, g);
      await gpu.sync();
      const t1 = performance.now();
      await model.decode(z, g, sel, { chunkSize });
      const t2 = performance.now();
      z.dispose();
      if ((t2 - t0) / 1000 < best) {
        best = (t2 - t0) / 1000;
        enc = (t1 - t0) / 1000;
      }
      peak = Math.max(peak, gpu.pool.peakBytes);
    }
    return { seconds: best, encodeSeconds: enc, peakBytes: peak };
  };

  // Warm-up on a tiny window (2 frames of 8x8): every pipeline compiles on first use.
  const tw = performance.now();
  {
    const tiny = { frames: 2, height: 8, width: 8, audioSamples: 512 };
    const z = model.encode(frames.subarray(0, 2 * 8 * 8 * 3), audio.subarray(0, 512), tiny);
    await model.decode(z, tiny, { label: true, audio: allIndices(32), image: allIndices(128) }, { chunkSize: 100 });
    z.dispose();
  }
  log(`warm-up (pipeline compilation, tiny window): ${((performance.now() - tw) / 1000).toFixed(1)} s\n`);

  const rows: Row[] = [];
  const label = await run({ label: true, audio: null, image: null });
  rows.push({ request: 'label only', queries: 1, ...label, measured: true, note: '' });
  const encodeSeconds = label.encodeSeconds;

  let perQuerySeconds: number;
  if (opts.quick) {
    const slice = await run({ label: false, audio: null, image: allIndices(QUICK_QUERIES) });
    perQuerySeconds = (slice.seconds - slice.encodeSeconds) / QUICK_QUERIES;
    rows.push({ request: 'one frame', queries: g.height * g.width, seconds: encodeSeconds + perQuerySeconds * g.height * g.width, measured: false, encodeSeconds, peakBytes: slice.peakBytes, note: `extrapolated from ${QUICK_QUERIES} queries` });
  } else {
    const one = await run({ label: false, audio: null, image: frameIndices(g, [0]) });
    perQuerySeconds = (one.seconds - one.encodeSeconds) / (g.height * g.width);
    rows.push({ request: 'one frame', queries: g.height * g.width, ...one, measured: true, note: '' });
  }
  const fullQueries = pixels + patches + 1;
  if (!software || opts.full) {
    const full = await run({ label: true, audio: allIndices(patches), image: allIndices(pixels) });
    rows.push({ request: `full ${g.frames}-frame reconstruction`, queries: fullQueries, ...full, measured: true, note: '' });
  } else {
    rows.push({
      request: `full ${g.frames}-frame reconstruction`,
      queries: fullQueries,
      seconds: encodeSeconds + perQuerySeconds * fullQueries,
      measured: false,
      encodeSeconds,
      peakBytes: null,
      note: 'extrapolated from the one-frame rate (software adapter; --full measures)',
    });
  }

  if (opts.json) {
    console.log(JSON.stringify({ adapter: gpu.adapterName, software, chunkSize, weightBytes, flops: fl, rows }, null, 2));
  } else {
    const table = [['request', 'queries', 'seconds', 'encoder s', 'decoder GFLOP/s', 'peak GPU memory (weights)', '']];
    for (const r of rows) {
      const dec = r.seconds - r.encodeSeconds;
      const gflops = (r.queries * fl.perQuery + Math.ceil(r.queries / chunkSize) * fl.perChunk) / dec / 1e9;
      table.push([
        r.request,
        String(r.queries),
        `${r.seconds.toFixed(2)}${r.measured ? '' : ' (est.)'}`,
        r.encodeSeconds.toFixed(2),
        r.queries < 100 ? '-' : gflops.toFixed(1),
        r.peakBytes === null ? '-' : `${MB(r.peakBytes)} (${MB(weightBytes)})`,
        r.note,
      ]);
    }
    const widths = table[0].map((_, c) => Math.max(...table.map((row) => row[c].length)));
    for (const row of table) console.log(row.map((cell, c) => cell.padEnd(widths[c])).join('  ').trimEnd());
    log(`\nencoder ${(fl.encoder / 1e12).toFixed(3)} TFLOP (folded cross-attention), decoder ${(fl.perQuery / 1e6).toFixed(2)} MFLOP per query (fused projections): full reconstruction ${((fl.encoder + fullQueries * fl.perQuery) / 1e12).toFixed(2)} TFLOP`);
  }
  model.dispose();
  for (const t of weights.values()) t.dispose();
  gpu.destroy();
}

main().catch((err) => {
  console.error(`bench:video: ${(err as Error).message}`);
  process.exitCode = 1;
});
