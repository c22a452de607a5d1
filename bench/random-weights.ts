// Random parameters with the names and shapes a converted weight file holds
// for a preset (perceiver/params.ts storedShapes: the checkpoint's, batch-norm
// statistics renamed and squeezed), for benchmarks at the released sizes and
// for tests on small models. Deterministic (xorshift noise from a seed).
//
//   'released': the scales of a trained-looking model: LayerNorm scale 1 and
//               offset 0, biases 0, weights uniform with std 1/sqrt(fan_in),
//               position tables and tokens std 0.02, embeddings std 1,
//               batch-norm mean 0 and variance 1.
//   'test':     every tensor noisy (LayerNorm scales 1 +- 0.5, biases and
//               offsets std 0.1, weights std 1/sqrt(fan_in), tables std 0.5),
//               so a test notices a parameter that is read wrongly.

import { upload, type Gpu, type Tensor } from '../engine/index.ts';
import type { ModelConfig } from '../perceiver/config.ts';
import { storedShapes } from '../perceiver/params.ts';
import type { HostTensor } from '../engine/weights.ts';

export interface RandomWeightOptions {
  style?: 'released' | 'test';
  seed?: number;
}

/** Uniform noise with standard deviation `std`, deterministic in `seed`. */
export function noise(n: number, seed: number, std: number): Float32Array {
  let s = (seed * 2654435761) >>> 0 || 1;
  const out = new Float32Array(n);
  const width = std * Math.sqrt(12);
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = ((s >>> 0) / 4294967296 - 0.5) * width;
  }
  return out;
}

function values(name: string, shape: number[], style: 'released' | 'test', seed: number): Float32Array {
  const n = shape.reduce((a, d) => a * d, 1);
  const isBias = name.endsWith('/b') || name.endsWith('/offset') || name.endsWith('/bias') || name.endsWith('/batchnorm/mean');
  // fan-in: every axis but the output one (Linear [in, out], Conv2D HWIO)
  if (name.endsWith('/w')) return noise(n, seed, 1 / Math.sqrt(n / shape[shape.length - 1]));
  if (name.endsWith('/batchnorm/variance')) return style === 'test' ? noise(n, seed, 0.3).map((v) => 1 + Math.abs(v)) : new Float32Array(n).fill(1);
  if (style === 'test') {
    if (name.endsWith('/scale')) return noise(n, seed, 0.3).map((v) => 1 + v);
    return noise(n, seed, isBias ? 0.1 : 0.5);
  }
  if (name.endsWith('/scale')) return new Float32Array(n).fill(1);
  if (isBias) return new Float32Array(n);
  if (name.endsWith('/embeddings')) return noise(n, seed, 1);
  return noise(n, seed, 0.02);
}

export function randomWeights(gpu: Gpu, config: ModelConfig, opts: RandomWeightOptions = {}): Map<string, Tensor> {
  return new Map(randomHostWeights(config, opts).map((t) => [t.name, upload(gpu, t.data, t.shape)]));
}

/** The same values on the host, as encodeWeights (engine/weights.ts) takes them. */
export function randomHostWeights(config: ModelConfig, opts: RandomWeightOptions = {}): HostTensor[] {
  let seed = opts.seed ?? 1;
  return [...storedShapes(config)].map(([name, shape]) => ({ name, dtype: 'f32', shape, data: values(name, shape, opts.style ?? 'released', seed++) }));
}
