// The classify pipeline: image -> the colab's preprocessing (centre crop,
// bicubic resize to 224, ImageNet mean/std) -> the model -> top-k labels.

import { type Gpu, type Tensor, upload, readF32 } from '../../engine/index.ts';
import { tunePending } from '../../engine/tune.ts';
import type { ImageNetConfig } from '../config.ts';
import type { ModelWeights } from '../load.ts';
import { Params } from '../layers.ts';
import { toRgba, type ImageInput } from '../image.ts';
import { softmax, topK } from '../topk.ts';
import { imagenetLogits } from './model.ts';
import { preprocessImageNet } from './preprocess.ts';

/**
 * The 1000 class names (perceiver/imagenet/labels.ts), loaded on first use:
 * a dynamic import, so bundlers put the ~10 KB (gzip) list in its own chunk
 * and an app's first load carries only code. Node and unbundled ESM load it
 * the same way.
 */
let classes: Promise<readonly string[]> | null = null;
export function imagenetClasses(): Promise<readonly string[]> {
  classes ??= import('./labels.ts').then((m) => m.IMAGENET_CLASSES);
  return classes;
}

export interface Prediction {
  index: number;
  label: string;
  probability: number;
}

export class ImageClassifier {
  readonly params: Params;
  /** The loader's weights, owned by this model (null when built from weights the caller owns). */
  loaded: ModelWeights | null = null;

  constructor(readonly gpu: Gpu, readonly config: ImageNetConfig, weights: ReadonlyMap<string, Tensor>) {
    if (!config.preset.startsWith('imagenet-')) throw new Error(`ImageClassifier needs an imagenet-* preset, got ${config.preset}`);
    this.params = new Params(weights);
  }

  /** The side the model is fed (224 for the released models). */
  get inputSize(): number {
    return this.config.preset === 'imagenet-learned' ? this.config.imageSize : 224;
  }

  /**
   * Logits for already-normalised images, NHWC float32 [B, H, W, 3] (the
   * fixtures' layout). Returns [B * numClasses].
   */
  async logits(images: Float32Array, shape: readonly [number, number, number, number]): Promise<Float32Array> {
    await this.ready();
    const x = upload(this.gpu, images, shape);
    const out = imagenetLogits(this.gpu, x, this.params, this.config);
    x.dispose();
    const host = await readF32(out);
    out.dispose();
    await tunePending(this.gpu); // kernels for the shapes this forward used (engine/tune.ts)
    return host;
  }

  /** Top-k labels with probabilities for each image (browser images or RGBA bytes). */
  async classify(images: ImageInput | ImageInput[], k = 5): Promise<Prediction[][]> {
    const list = Array.isArray(images) ? images : [images];
    if (list.length === 0) throw new Error('classify: no images');
    const size = this.inputSize;
    const per = size * size * 3;
    const batch = new Float32Array(list.length * per);
    list.forEach((img, i) => batch.set(preprocessImageNet(toRgba(img), size), i * per));
    const logits = await this.logits(batch, [list.length, size, size, 3]);
    const n = this.config.numClasses;
    const labels = await imagenetClasses();
    return list.map((_, i) => topK(softmax(logits.subarray(i * n, (i + 1) * n)), k, labels));
  }

  /** Resolves when the model can run: after a device loss, once it has a new device and its weights again (docs/reliability.md). */
  ready(): Promise<void> {
    return this.loaded ? this.loaded.ready(() => {}) : this.gpu.recover();
  }

  /** Frees the weights the loader uploaded (weights the caller passed stay theirs). */
  dispose(): void {
    this.loaded?.dispose();
  }
}
