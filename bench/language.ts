// npm run bench:language -- [--batch B] [--runs N] [--overrides JSON] [--json]
//
// Seconds per 2048-byte sequence of the language-mlm preset at full size
// (201M parameters: 256 x 1280 latents, 26 self-attends, 2048 output
// queries) on the current adapter. The weights are random, built in memory
// from perceiver/params.ts's expected shapes (no download), with the
// released model's scales (LayerNorm 1/0, fan-in linears, 0.02 position
// tables, unit embeddings), so the timing is the real model's.
//
// The first pass runs stage by stage, syncing after each, and prints
// progress (on a software adapter such as lavapipe a full-size forward
// takes minutes); it also compiles every pipeline. Then N timed passes run
// the whole forward as one recording, as an application would.

import { nodeGpu } from '../engine/node.ts';
import { upload, readF32, type Gpu, type Tensor } from '../engine/index.ts';
import { defaultConfig, withOverrides, type LanguageConfig, type Overrides } from '../perceiver/config.ts';
import { countParams } from '../perceiver/params.ts';
import { Params, crossAttention, selfAttention } from '../perceiver/layers.ts';
import { concat } from '../kernels/concat.ts';
import { matmul } from '../kernels/matmul.ts';
import { languageLogits, languageInputs, languageDecoder, EMBEDDINGS, OUTPUT_BIAS, DECODER_QUERIES } from '../perceiver/language/model.ts';
import { decodeQueries } from '../perceiver/decoder.ts';
import { encode as encodeText, MASK_ID } from '../perceiver/language/tokenizer.ts';
import { randomWeights } from './random-weights.ts';

function parseArgs(argv: string[]) {
  const o = { batch: 1, runs: 1, overrides: {} as Overrides, json: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--batch') o.batch = Number(argv[++i]);
    else if (a === '--runs') o.runs = Number(argv[++i]);
    else if (a === '--overrides') o.overrides = JSON.parse(argv[++i] ?? '{}') as Overrides;
    else if (a === '--json') o.json = true;
    else if (a === '--help' || a === '-h') {
      console.log('usage: npm run bench:language -- [--batch B] [--runs N] [--overrides JSON] [--json]');
      process.exit(0);
    } else throw new Error(`unknown argument ${a}`);
  }
  if (!(Number.isInteger(o.batch) && o.batch >= 1)) throw new Error(`--batch must be a positive integer`);
  if (!(Number.isInteger(o.runs) && o.runs >= 0)) throw new Error(`--runs must be a non-negative integer`);
  return o;
}

/** Multiply-adds x 2 of one 2048-byte sequence. */
function flops(cfg: LanguageConfig): number {
  const T = cfg.maxSeqLen, D = cfg.dModel, e = cfg.encoder, L = e.numLatents, C = e.latentChannels;
  const cqk = e.crossQkChannels ?? D, cv = e.crossVChannels ?? cqk;
  const sqk = e.selfQkChannels ?? C, sv = e.selfVChannels ?? sqk;
  const dqk = cfg.decoderQkChannels, dv = cfg.decoderVChannels;
  const cross = L * C * cqk + T * D * cqk + T * D * cv + L * T * cqk + L * T * cv + L * cv * C + 2 * L * C * C;
  const self = 2 * L * C * sqk + L * C * sv + L * L * sqk + L * L * sv + L * sv * C + 2 * L * C * C;
  const dec = T * D * dqk + L * C * dqk + L * C * dv + T * L * dqk + T * L * dv + T * dv * D + 2 * T * D * D;
  const logits = T * D * cfg.vocabSize;
  return 2 * (cross + e.numBlocks * e.numSelfAttendsPerBlock * self + dec + logits);
}

/** One forward, stage by stage with a sync after each, printing progress. */
async function stagedForward(gpu: Gpu, ids: Tensor, mask: Tensor, params: Params, cfg: LanguageConfig, log: (s: string) => void): Promise<Tensor> {
  const t0 = performance.now();
  const stage = async (name: string) => {
    await gpu.sync();
    log(`  ${name.padEnd(22)} ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  };
  const batch = ids.shape[0];
  const x = languageInputs(gpu, ids, params, cfg);
  await stage('embed + positions');
  const e = cfg.encoder;
  const p = params.scope(e.scope);
  const latents = concat(gpu, [p.get('~/trainable_position_encoding/pos_embs')], batch);
  let z = crossAttention(gpu, latents, x, p.scope('~/cross_attention'), { heads: e.numCrossAttentionHeads, queryResidual: true, keyMask: mask });
  latents.dispose();
  x.dispose();
  await stage('encoder cross-attend');
  const total = e.numBlocks * e.numSelfAttendsPerBlock;
  for (let block = 0, k = 0; block < e.numBlocks; block++) {
    for (let i = 0; i < e.numSelfAttendsPerBlock; i++, k++) {
      const next = selfAttention(gpu, z, p.scope(i === 0 ? '~/self_attention' : `~/self_attention_${i}`), e.numSelfAttentionHeads);
      z.dispose();
      z = next;
      await stage(`self-attend ${k + 1}/${total}`);
    }
  }
  const queries = concat(gpu, [params.get(DECODER_QUERIES)], batch);
  const h = decodeQueries(gpu, z, queries, params, languageDecoder(cfg), mask);
  z.dispose();
  queries.dispose();
  await stage('decoder cross-attend');
  const logits = matmul(gpu, h, params.get(EMBEDDINGS), { transposeB: true, bias: params.get(OUTPUT_BIAS) });
  h.dispose();
  await stage('output embedding');
  return logits;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const cfg = withOverrides(defaultConfig('language-mlm') as LanguageConfig, opts.overrides);
  const log = (s: string) => {
    if (!opts.json) console.log(s);
  };
  const gpu = await nodeGpu();
  const T = cfg.maxSeqLen;
  log(`adapter: ${gpu.adapterName}`);
  log(`language-mlm: ${(countParams(cfg) / 1e6).toFixed(1)}M parameters, ${e2s(cfg)}; batch ${opts.batch} x ${T} bytes; ${(flops(cfg) / 1e9).toFixed(1)} GFLOP per sequence`);
  const tw = performance.now();
  const weights = randomWeights(gpu, cfg, { onProgress: (done, total) => { if (done === total || done % 5e7 < 2e6) log(`  weights: ${(done / 1e6).toFixed(0)}M of ${(total / 1e6).toFixed(0)}M values`); } });
  await gpu.sync();
  log(`random weights on the GPU in ${((performance.now() - tw) / 1000).toFixed(1)} s`);
  const params = new Params(weights);

  // A realistic input: text with masked spans, then padding.
  const text = encodeText('The Perceiver IO masked language model reads raw UTF-8 bytes. '.repeat(40)).subarray(0, T - 100);
  const ids = new Int32Array(opts.batch * T);
  const mask = new Int32Array(opts.batch * T);
  for (let b = 0; b < opts.batch; b++) {
    ids.set(text, b * T);
    mask.fill(1, b * T, b * T + text.length);
    for (let i = 100 + b; i < text.length; i += 97) ids.fill(MASK_ID, b * T + i, b * T + i + 5);
  }
  const x = upload(gpu, ids, [opts.batch, T], 'i32');
  const m = upload(gpu, mask, [opts.batch, T], 'i32');

  log('first pass (stage by stage; includes pipeline compilation):');
  const t1 = performance.now();
  const first = await stagedForward(gpu, x, m, params, cfg, log);
  const staged = await readF32(first);
  first.dispose();
  const firstSeconds = (performance.now() - t1) / 1000;
  if (!staged.every(Number.isFinite)) throw new Error('the forward gave non-finite logits');

  const times: number[] = [];
  for (let r = 0; r < opts.runs; r++) {
    const t = performance.now();
    const out = languageLogits(gpu, x, m, params, cfg);
    await readF32(out);
    out.dispose();
    times.push((performance.now() - t) / 1000);
    log(`timed pass ${r + 1}/${opts.runs}: ${times[r].toFixed(2)} s`);
  }
  const best = times.length ? Math.min(...times) : firstSeconds;
  const perSeq = best / opts.batch;
  const result = {
    adapter: gpu.adapterName,
    preset: 'language-mlm',
    parameters: countParams(cfg),
    overrides: opts.overrides,
    batch: opts.batch,
    sequenceBytes: T,
    firstPassSeconds: firstSeconds,
    passSeconds: times,
    secondsPerSequence: perSeq,
    gflopPerSequence: flops(cfg) / 1e9,
    gflopPerSecond: flops(cfg) / 1e9 / perSeq,
  };
  if (opts.json) console.log(JSON.stringify(result, null, 2));
  else {
    console.log(`\n${perSeq.toFixed(2)} s per ${T}-byte sequence (${result.gflopPerSecond.toFixed(1)} GFLOP/s) on ${gpu.adapterName}` + (times.length ? '' : ' (first pass only: --runs 0)'));
  }
  x.dispose();
  m.dispose();
  for (const t of weights.values()) t.dispose();
  gpu.destroy();
}

function e2s(cfg: LanguageConfig): string {
  const e = cfg.encoder;
  return `${e.numLatents}x${e.latentChannels} latents, ${e.numBlocks * e.numSelfAttendsPerBlock} self-attends`;
}

main().catch((e) => {
  console.error(`bench:language: ${(e as Error).stack ?? e}`);
  process.exitCode = 1;
});
