// Loading a converted weight file (tools/convert.ts output) for a task: the
// file's meta names the preset and its size overrides, from which the model's
// config is rebuilt, and the tensors stream to the GPU one at a time
// (engine/weights.ts: bytes, a fetch Response or a stream, with progress).
// Then the pipelines the model's first call needs are compiled
// (Gpu.prepare), and the model keeps what it needs to upload its weights
// again after a device loss (ModelWeights; docs/reliability.md).

import { GpuError, type Gpu, type Tensor } from '../engine/index.ts';
import { loadWeights, type WeightSource, type LoadOptions } from '../engine/weights.ts';
import { withOverrides, type ModelConfig, type Overrides } from './config.ts';

/** The tensors loadPreset keeps f16 with `keepF16`: 2-D `.../w` not in `widened`. */
export const keptF16 = (widened: readonly string[]) => (name: string, shape: readonly number[]): boolean =>
  shape.length === 2 && name.endsWith('/w') && !widened.includes(name);

/** A weight file: bytes, a fetch Response or a stream, or a function giving one (called again to recover from a device loss). */
export type ModelSource = WeightSource | (() => WeightSource | Promise<WeightSource>);

export interface ModelLoadOptions extends LoadOptions {
  /** compile the pipelines of the first call while loading (default true); false: on the first call */
  compile?: boolean;
  /** progress of the compile stage, after the weights: pipelines compiled, of `total` */
  onCompile?(done: number, total: number): void;
  /**
   * Where the weights come from again after a device loss:
   * 'source' (default): the source again, when it can be read twice (a
   *   function, a WeightProvider such as hub(), asked again, or bytes in
   *   memory: the model then holds a reference to them, no copy); a
   *   Response or stream cannot, and such a model stays
   *   lost (its calls reject with a GpuError saying so).
   * 'keep': as 'source', and a Response or stream is first read whole into
   *   host memory, kept for the model's life (the file's size).
   * 'none': never (no reference to the bytes is kept).
   */
  recover?: 'source' | 'keep' | 'none';
}

/**
 * The weights a loader put on the GPU, owned by the model: dispose() frees
 * them; ready() (at the start of each call) gets a new device after a loss,
 * uploads the weights again into the same map and compiles the model's
 * pipelines again.
 */
export class ModelWeights {
  private generation: number;
  private restoring: Promise<void> | null = null;
  private disposed = false;

  constructor(
    readonly gpu: Gpu,
    readonly tensors: Map<string, Tensor>,
    private readonly reload: (() => Promise<Map<string, Tensor>>) | null,
    /** the model's first call on a dry view (Gpu.prepare), to compile on a new device too */
    public compile: (dry: Gpu) => unknown = () => {},
  ) {
    this.generation = gpu.generation;
  }

  /** Resolves once the model can run: at once while its device is fine. `reset` drops the model's own GPU caches after a new upload. */
  ready(reset: () => void): Promise<void> {
    if (this.disposed) return Promise.reject(new Error('this model was used after dispose()'));
    return this.gpu.lost || this.generation !== this.gpu.generation ? (this.restoring ??= this.restore(reset).finally(() => (this.restoring = null))) : Promise.resolve();
  }

  private async restore(reset: () => void): Promise<void> {
    const gpu = this.gpu, why = gpu.lost?.message;
    await gpu.recover();
    const generation = gpu.generation;
    if (generation === this.generation) return;
    if (!this.reload) throw new GpuError(`${why}; this model cannot upload its weights again: it was loaded from a Response or stream (load it with recover: 'keep', or from a function returning the source)`);
    const fresh = await this.reload();
    this.tensors.clear();
    fresh.forEach((t, k) => this.tensors.set(k, t));
    this.generation = generation;
    reset();
    await gpu.prepare(this.compile);
  }

  dispose(): void {
    this.disposed = true;
    this.tensors.forEach((t) => t.dispose());
    this.tensors.clear();
  }
}

/**
 * Loads a weight file made for one of `presets`, refusing any other before a
 * tensor is uploaded; `released(preset)` is the preset's released config, to
 * which the file's overrides are applied.
 *
 * f16-stored files (half the download) are widened to f32 on the host,
 * except with `keepF16` on an adapter with shader-f16: then the 2-D Linear
 * weights (`.../w`) stay f16 on the GPU (half the memory), as matmul reads
 * its b operand in f16 and accumulates in f32; everything else (biases,
 * layer norms, embeddings, position encodings, conv kernels, and the
 * task's `widened` weights, which something else reads) is widened.
 *
 * With recover: 'keep', a Response or stream is read whole into memory
 * first (progress is then reported once it is in).
 */
export async function loadPreset<P extends string, C extends ModelConfig>(
  gpu: Gpu,
  source: ModelSource,
  opts: ModelLoadOptions,
  presets: readonly P[],
  released: (preset: P) => C,
  widened: readonly string[] = [],
): Promise<{ config: C; tensors: Map<string, Tensor>; weights: ModelWeights; meta: Record<string, unknown> }> {
  let config!: C;
  let first = typeof source === 'function' ? await source() : source;
  if (opts.recover === 'keep' && (first instanceof Response ? first.ok : first instanceof ReadableStream)) {
    first = new Uint8Array(await (first instanceof Response ? first : new Response(first as ReadableStream)).arrayBuffer());
  }
  // after a device loss a function is called again, a provider (hub()) asked again, bytes reused; a Response or stream is spent
  const again = opts.recover === 'none' ? null : typeof source === 'function' ? source : first instanceof Response || first instanceof ReadableStream ? null : () => first;
  const load = (src: WeightSource) => loadWeights(gpu, src, {
    ...opts,
    keepF16: !!opts.keepF16 && gpu.features.f16 && keptF16(widened),
    expectMeta(meta) {
      const preset = meta.preset as P;
      if (!presets.includes(preset)) {
        const want = presets.length > 1 ? `${presets.slice(0, -1).join(', ')} or ${presets[presets.length - 1]}` : presets[0];
        throw new Error(typeof preset === 'string' ? `this weight file is for preset '${preset}', not ${want}` : `this weight file names no preset; it must be one of ${presets.join(', ')}`);
      }
      config = withOverrides(released(preset), meta.overrides as Overrides);
      opts.expectMeta?.(meta);
    },
  });
  const { tensors, meta } = await load(first);
  return { config, tensors, meta, weights: new ModelWeights(gpu, tensors, again && (async () => (await load(await again())).tensors)) };
}

/**
 * The class names a weight file carries (the converter stores a HuggingFace
 * config.json's id2label when it holds real names), or null: exactly
 * `numClasses` strings, else the load fails (and frees the weights).
 */
export function storedLabels(meta: Record<string, unknown>, numClasses: number, weights: ModelWeights): string[] | null {
  const labels = meta.labels;
  if (labels === undefined) return null;
  if (Array.isArray(labels) && labels.length === numClasses && labels.every((x) => typeof x === 'string')) return labels;
  weights.dispose();
  throw new Error(`this weight file's labels must be ${numClasses} class names (strings)`);
}

/**
 * The end of a task loader: the model (`make` on the loader's Gpu) takes
 * ownership of its weights, and (unless opts.compile is false) the
 * pipelines of `firstCall` (the model's ordinary call on blank inputs, run
 * on a model made on a dry view, Gpu.prepare) are compiled, reported
 * through opts.onCompile. The weights are freed if that fails.
 */
export async function finishLoad<M extends { loaded: ModelWeights | null }>(
  make: (gpu: Gpu) => M,
  weights: ModelWeights,
  opts: ModelLoadOptions,
  firstCall: (model: M) => unknown,
): Promise<M> {
  const model = make(weights.gpu);
  model.loaded = weights;
  weights.compile = (dry) => firstCall(make(dry));
  if (opts.compile === false) return model;
  try {
    await weights.gpu.prepare(weights.compile, opts.onCompile);
  } catch (e) {
    weights.dispose();
    throw e;
  }
  return model;
}
