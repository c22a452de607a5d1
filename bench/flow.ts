// npm run bench:flow -- [--sizes HxW,...] [--runs N] [--pixels N | --full] [--overrides JSON] [--json]
//
// Seconds per frame pair of the optical-flow preset on the current adapter,
// at 368x496 (one tile) and 436x1024 (a Sintel frame: six tiles) by default,
// and the peak GPU memory. The model is the released one at full size (41M
// parameters: 2048 x 512 latents, 24 self-attends, 182,528 decoder queries
// per tile) with random weights built in memory from perceiver/params.ts's
// shapes at the released scales (no download), so the timing is the real
// model's; --overrides shrinks it (e.g. the golden fixture's sizes).
//
// Pixels: every pixel is decoded on a GPU. On a software adapter (lavapipe,
// SwiftShader) a full-size pair takes on the order of an hour, so by default
// only an evenly spread subset of 4096 pixels is decoded (the encoder still
// runs on every whole tile); --full decodes everything, --pixels N sets the
// subset. The report says which.
//
// Memory: the buffer pool's high-water mark of live bytes during a pair
// (weights included, and listed apart), and what the pool holds at the end
// (live + parked free buffers) - the GPU memory this process has allocated.
//
// The first pair at each size also compiles the pipelines and is reported
// apart; then --runs timed pairs (default 1).

import { nodeGpu } from '../engine/node.ts';
import { defaultConfig, withOverrides, type FlowConfig, type Overrides } from '../perceiver/config.ts';
import { countParams, flowInputChannels } from '../perceiver/params.ts';
import { Params } from '../perceiver/layers.ts';
import { FlowWorkspace, PATCH_CHANNELS } from '../perceiver/flow/model.ts';
import { estimateFlow, normalizeFrame } from '../perceiver/flow/pipeline.ts';
import { tileOrigins, paddedSize, evenSubset } from '../perceiver/flow/tiling.ts';
import { randomWeights } from './random-weights.ts';

const SOFTWARE_PIXELS = 4096;

function parseArgs(argv: string[]) {
  const o = { sizes: [[368, 496], [436, 1024]] as [number, number][], runs: 1, pixels: null as number | null, full: false, overrides: {} as Overrides, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sizes') {
      o.sizes = (argv[++i] ?? '').split(',').map((s) => {
        const m = /^(\d+)x(\d+)$/.exec(s.trim());
        if (!m) throw new Error(`--sizes takes HxW[,HxW...], got '${s}'`);
        return [Number(m[1]), Number(m[2])] as [number, number];
      });
    } else if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--pixels') o.pixels = Number(argv[++i]);
    else if (a === '--full') o.full = true;
    else if (a === '--overrides') o.overrides = JSON.parse(argv[++i] ?? '{}') as Overrides;
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench:flow -- [--sizes HxW,...] [--runs N] [--pixels N | --full] [--overrides JSON] [--json]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(Number.isInteger(o.runs) && o.runs >= 0)) throw new Error('--runs must be a non-negative integer');
  if (o.pixels !== null && !(Number.isInteger(o.pixels) && o.pixels >= 1)) throw new Error('--pixels must be a positive integer');
  return o;
}

/** A textured RGBA frame and the same frame moved 3 px right and 2 px down. */
function framePair(h: number, w: number): Float32Array {
  const img = (dx: number, dy: number) => {
    const data = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) {
      const u = x - dx, v = y - dy, p = 4 * (y * w + x);
      data[p] = 128 + 100 * Math.sin(u / 7) * Math.cos(v / 11);
      data[p + 1] = (u * 3 + v * 5) & 255;
      data[p + 2] = 128 + 90 * Math.sin((u + v) / 17);
      data[p + 3] = 255;
    }
    return normalizeFrame({ width: w, height: h, data });
  };
  const pair = new Float32Array(2 * h * w * 3);
  pair.set(img(0, 0));
  pair.set(img(3, 2), h * w * 3);
  return pair;
}

/** FLOPs (2 x multiply-adds) of one tile: encoder, and decoder per query. */
function tileFlops(cfg: FlowConfig): { encoder: number; perQuery: number } {
  const [th, tw] = cfg.trainSize;
  const N = th * tw, C = flowInputChannels(cfg), P = cfg.patchChannels, e = cfg.encoder, L = e.numLatents, D = e.latentChannels;
  const qk = e.crossQkChannels ?? C, v = e.crossVChannels ?? qk;
  const inputs = N * PATCH_CHANNELS * P;
  // keys/values folded into the latents (one head): q, W_k q, attention over C channels, linear_2
  const cross = L * D * qk + L * qk * C + 2 * L * N * C + L * C * v + L * v * D + 2 * L * D * D;
  const sqk = e.selfQkChannels ?? D, sv = e.selfVChannels ?? sqk;
  const self = L * D * (2 * sqk + sv) + L * L * (sqk + sv) + L * sv * D + 2 * L * D * D;
  const dqk = D; // decoder cross-attention: qk = v = latent width
  const perQuery = PATCH_CHANNELS * P + C * dqk + L * dqk * 2 + dqk * C + 2 * C * C + C * 2;
  return { encoder: 2 * (inputs + cross + e.numBlocks * e.numSelfAttendsPerBlock * self), perQuery: 2 * perQuery };
}

const MB = (b: number) => `${(b / 2 ** 20).toFixed(0)} MiB`;

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cfg = withOverrides(defaultConfig('optical-flow') as FlowConfig, opts.overrides);
  const log = (s: string) => {
    if (!opts.json) console.log(s);
  };
  const gpu = await nodeGpu();
  const software = gpu.features.emulated;
  const pixels = opts.full ? null : opts.pixels ?? (software ? SOFTWARE_PIXELS : null);
  const e = cfg.encoder;
  log(`adapter: ${gpu.adapterName}${software ? ' (software)' : ''}`);
  log(`optical-flow: ${(countParams(cfg) / 1e6).toFixed(1)}M parameters, ${e.numLatents}x${e.latentChannels} latents, ${e.numBlocks * e.numSelfAttendsPerBlock} self-attends, ${cfg.trainSize.join('x')} tiles`);
  log(pixels === null ? 'decoding every pixel' : `decoding an evenly spread subset of ${pixels} pixels per pair (pixel floor((i + 0.5) H W / ${pixels})); the encoder runs on every whole tile`);
  const weights = randomWeights(gpu, cfg);
  await gpu.sync();
  const weightBytes = gpu.pool.liveBytes;
  const params = new Params(weights);
  const fl = tileFlops(cfg);
  const rows = [];
  for (const [H, W] of opts.sizes) {
    const [PH, PW] = paddedSize(H, W, cfg.trainSize);
    const tiles = tileOrigins(PH, PW, cfg.trainSize);
    const subset = pixels === null ? undefined : evenSubset(H * W, pixels);
    const decoded = subset ? subset.length : H * W;
    const pair = framePair(H, W);
    const ws = new FlowWorkspace(gpu);
    const run = async (label: string) => {
      gpu.pool.resetPeak();
      const t0 = performance.now();
      let last = t0;
      const flow = await estimateFlow(gpu, params, cfg, pair, H, W, {
        pixels: subset,
        onTile: (i, n) => {
          if (i > 0) log(`    tile ${i}/${n} done ${((performance.now() - t0) / 1000).toFixed(1)} s`);
        },
        onProgress: (stage, done, total) => {
          if (stage === 'encode') return; // recorded, not yet run: the decode's reads wait for it
          const now = performance.now();
          if (now - last > 30000 || done === total) {
            last = now;
            log(`    ${stage} ${done}/${total} ${((now - t0) / 1000).toFixed(1)} s`);
          }
        },
      }, ws);
      const seconds = (performance.now() - t0) / 1000;
      let finite = 0;
      for (const v of flow) if (Number.isFinite(v)) finite++;
      if (finite !== 2 * decoded) throw new Error(`${label}: ${finite / 2} finite flow pixels, ${decoded} expected`);
      log(`  ${label}: ${seconds.toFixed(2)} s`);
      return { seconds, peak: gpu.pool.peakBytes };
    };
    log(`\n${H}x${W}: ${tiles.length} tile(s)${PH !== H || PW !== W ? ` (edge-padded to ${PH}x${PW})` : ''}`);
    const first = await run('first pair (compiles pipelines)');
    const times: number[] = [];
    let peak = first.peak;
    for (let r = 0; r < opts.runs; r++) {
      const t = await run(`timed pair ${r + 1}/${opts.runs}`);
      times.push(t.seconds);
      peak = Math.max(peak, t.peak);
    }
    const held = gpu.pool.liveBytes + gpu.pool.freeBytes;
    ws.dispose();
    const best = times.length ? Math.min(...times) : first.seconds;
    // queries decoded: each selected pixel once per tile covering it
    let queries = 0;
    for (const t of tiles) {
      if (!subset) queries += cfg.trainSize[0] * cfg.trainSize[1];
      else for (const p of subset) {
        const y = Math.floor(p / W), x = p % W;
        if (y >= t.y && y < t.y + cfg.trainSize[0] && x >= t.x && x < t.x + cfg.trainSize[1]) queries++;
      }
    }
    const gflop = (tiles.length * fl.encoder + queries * fl.perQuery) / 1e9;
    rows.push({
      size: `${H}x${W}`, tiles: tiles.length, pixelsDecoded: decoded, coverage: subset ? `${decoded} of ${H * W} pixels` : 'all',
      firstPairSeconds: first.seconds, pairSeconds: times, secondsPerPair: best, gflop, gflopPerSecond: gflop / best,
      peakGpuBytes: peak, peakWorkingBytes: peak - weightBytes, weightBytes, poolHeldBytes: held,
    });
  }
  const result = { adapter: gpu.adapterName, software, preset: 'optical-flow', parameters: countParams(cfg), overrides: opts.overrides, rows };
  if (opts.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`\n${'size'.padEnd(10)} ${'tiles'.padEnd(6)} ${'decoded'.padEnd(22)} ${'s/pair'.padEnd(9)} ${'GFLOP/s'.padEnd(8)} peak GPU memory (weights ${MB(weightBytes)})`);
    for (const r of rows) {
      console.log(`${r.size.padEnd(10)} ${String(r.tiles).padEnd(6)} ${r.coverage.padEnd(22)} ${r.secondsPerPair.toFixed(2).padEnd(9)} ${r.gflopPerSecond.toFixed(1).padEnd(8)} ${MB(r.peakGpuBytes)} (working ${MB(r.peakWorkingBytes)}; pool holds ${MB(r.poolHeldBytes)})`);
    }
    console.log(`on ${gpu.adapterName}`);
  }
  for (const t of weights.values()) t.dispose();
  gpu.destroy();
}

main().catch((e) => {
  console.error(`bench:flow: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
