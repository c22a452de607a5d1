// Loading a converted weight file (tools/convert.ts output) for a task: the
// file's meta names the preset and its size overrides, from which the model's
// config is rebuilt, and the tensors stream to the GPU one at a time
// (engine/weights.ts: bytes, a fetch Response or a stream, with progress).

import type { Gpu, Tensor } from '../engine/index.ts';
import { loadWeights, type WeightSource, type LoadOptions } from '../engine/weights.ts';
import { withOverrides, type ModelConfig, type Overrides } from './config.ts';

/** The tensors loadPreset keeps f16 with `keepF16`: 2-D `.../w` not in `widened`. */
export const keptF16 = (widened: readonly string[]) => (name: string, shape: readonly number[]): boolean =>
  shape.length === 2 && name.endsWith('/w') && !widened.includes(name);

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
 */
export async function loadPreset<P extends string, C extends ModelConfig>(
  gpu: Gpu,
  source: WeightSource,
  opts: LoadOptions,
  presets: readonly P[],
  released: (preset: P) => C,
  widened: readonly string[] = [],
): Promise<{ config: C; tensors: Map<string, Tensor> }> {
  let config: C;
  const { tensors } = await loadWeights(gpu, source, {
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
  return { config: config!, tensors };
}
