// The classify pipeline: image -> the colab's preprocessing (centre crop,
// bicubic resize to 224, ImageNet mean/std) -> the model -> top-k labels.

import { type Gpu, type Tensor, upload, readF32 } from '../../engine/index.ts';
import { tunePending } from '../../engine/tune.ts';
import type { ImageNetConfig } from '../config.ts';
import type { ModelWeights } from '../load.ts';
import { Params } from '../layers.ts';
import { toRgba, type ImageInput } from '../image.ts';
import { softmax, topK } from '../topk.ts';
import { imagenetInputGrid, imagenetLogits } from './model.ts';
import { imagenetCheckpoint } from './params.ts';
import { checkStored, storedOf } from '../stored.ts';
import { checkFinite, checkLive } from '../guard.ts';
import { centerCropBox, preprocessImageNet, type CropBox } from './preprocess.ts';
import type { AttentionMap, AttentionRequest } from '../attention_maps.ts';

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

export interface ClassifyOptions {
  /** top-k (default 5) */
  k?: number;
  /** also the encoder cross-attention's maps of these latents (docs/attention-maps.md) */
  attention?: AttentionRequest;
}

export interface ClassifyResult {
  /** per image, the top-k labels */
  predictions: Prediction[][];
  /**
   * When asked for: per image, per requested latent, its attention over the
   * model's input grid (224x224 pixels; the conv stem's 56x56 for
   * imagenet-conv), which covers the centre crop `crops[i]` of image i.
   */
  attention?: AttentionMap[][];
  /** per image, the square of the original image the model saw (centre crop, then resized) */
  crops: CropBox[];
}

export class ImageClassifier {
  readonly params: Params;
  private disposed = false;
  /** The loader's weights, owned by this model (null when built from weights the caller owns). */
  loaded: ModelWeights | null = null;

  /**
   * `labels`: numClasses names from the weight file (a HuggingFace config's
   * id2label), used instead of the built-in ImageNet names.
   */
  constructor(readonly gpu: Gpu, readonly config: ImageNetConfig, weights: ReadonlyMap<string, Tensor>, readonly labels: readonly string[] | null = null) {
    if (!config.preset.startsWith('imagenet-')) throw new Error(`ImageClassifier needs an imagenet-* preset, got ${config.preset}`);
    checkStored(config.preset, storedOf((b) => imagenetCheckpoint(b, config)), weights);
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
    return (await this.forward(images, shape)).logits;
  }

  /**
   * logits, and with `attention` the cross-attention maps of its latents
   * over the input grid (imagenetInputGrid): [B][latent].
   */
  async forward(images: Float32Array, shape: readonly [number, number, number, number], attention?: AttentionRequest): Promise<{ logits: Float32Array; attention?: AttentionMap[][] }> {
    checkLive(this.disposed, 'ImageClassifier');
    checkFinite(images, 'ImageClassifier.logits: images');
    await this.ready();
    const maps = attention ? await import('../attention_maps.ts') : null; // loaded on first use
    const recorder = maps?.mapsRecorder(this.gpu, attention!, this.config.encoder.numLatents, this.config.preset);
    try {
      const x = upload(this.gpu, images, shape);
      const out = imagenetLogits(this.gpu, x, this.params, this.config, { attentionTap: recorder?.tap });
      x.dispose();
      const host = await readF32(out);
      out.dispose();
      let grids: AttentionMap[][] | undefined;
      if (recorder) grids = maps!.gridMaps((await recorder.read())[0], ...imagenetInputGrid(this.config, shape[1], shape[2]));
      await tunePending(this.gpu); // kernels for the shapes this forward used (engine/tune.ts)
      return { logits: host, attention: grids };
    } finally {
      recorder?.dispose();
    }
  }

  /**
   * Top-k labels with probabilities for each image (browser images or RGBA
   * bytes). With an options object: `{ predictions, crops, attention? }`,
   * the attention maps when `attention: { latents }` asks for them.
   */
  classify(images: ImageInput | ImageInput[], k?: number): Promise<Prediction[][]>;
  classify(images: ImageInput | ImageInput[], opts: ClassifyOptions): Promise<ClassifyResult>;
  async classify(images: ImageInput | ImageInput[], kOrOpts: number | ClassifyOptions = 5): Promise<Prediction[][] | ClassifyResult> {
    checkLive(this.disposed, 'ImageClassifier');
    const opts = typeof kOrOpts === 'number' ? { k: kOrOpts } : kOrOpts;
    const k = opts.k ?? 5;
    if (!(Number.isInteger(k) && k >= 1)) throw new Error(`classify: k (labels per image) must be a positive integer, got ${k}`);
    const list = (Array.isArray(images) ? images : [images]).map((img) => toRgba(img));
    if (list.length === 0) throw new Error('classify: no images');
    const size = this.inputSize;
    const per = size * size * 3;
    const batch = new Float32Array(list.length * per);
    list.forEach((img, i) => batch.set(preprocessImageNet(img, size), i * per));
    const { logits, attention } = await this.forward(batch, [list.length, size, size, 3], opts.attention);
    const n = this.config.numClasses;
    const labels = this.labels ?? (await imagenetClasses());
    const predictions = list.map((_, i) => topK(softmax(logits.subarray(i * n, (i + 1) * n)), k, labels));
    if (typeof kOrOpts === 'number') return predictions;
    return { predictions, attention, crops: list.map((img) => centerCropBox(img.width, img.height, size)) };
  }


  /** Resolves when the model can run: after a device loss, once it has a new device and its weights again (docs/reliability.md). */
  ready(): Promise<void> {
    return this.loaded ? this.loaded.ready(() => {}) : this.gpu.recover();
  }

  /** Frees the weights the loader uploaded (weights the caller passed stay theirs); a later call throws. */
  dispose(): void {
    this.disposed = true;
    this.loaded?.dispose();
  }
}
