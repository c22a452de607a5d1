// The optical-flow entry point for browsers and Node.
//
//   const model = await loadOpticalFlow(gpu, fetch('optical_flow.weights'));
//   const { flow, width, height, picture } = await model.flow(img1, img2, { picture: { legend: true } });
//   // flow: Float32Array [height, width, 2] in pixels (u right, v down)
//   // picture: RGBA bytes; in a browser: ctx.putImageData(toImageData(picture), 0, 0)
//
//   for await (const r of model.sequence(videoFrames)) ...   // pairs (0,1), (1,2), ...
//
// Frames are browser images (ImageBitmap, HTMLImageElement, canvas,
// VideoFrame) or { width, height, data } RGBA bytes; both frames of a pair
// must have the same size. They are normalised as the colab does
// (x / 255 * 2 - 1). Any size works: 368x496 is one pass, larger frames are
// tiled as the colab tiles them, smaller ones are edge-padded to 368x496 and
// the flow cropped back (perceiver/flow/tiling.ts).

import type { ModelWeights } from '../load.ts';
import type { Gpu, Tensor } from '../../engine/index.ts';
import { tunePending } from '../../engine/tune.ts';
import type { FlowConfig } from '../config.ts';
import { Params } from '../layers.ts';
import { toRgba, type ImageInput, type RgbaImage } from '../image.ts';
import { FlowWorkspace } from './model.ts';
import { estimateFlow, normalizeFrame, type FlowOptions } from './pipeline.ts';
import { flowPicture, type FlowColorOptions } from './colorwheel.ts';
import type { AttentionMap, AttentionRequest } from '../attention_maps.ts';
import { flowCheckpoint } from './params.ts';
import { checkStored, storedOf } from '../stored.ts';
import { checkFinite, checkLive } from '../guard.ts';

export { flowPicture };

export interface EstimateOptions extends FlowOptions {
  /** also draw the colour-wheel picture (true: automatic scale, no legend) */
  picture?: boolean | FlowColorOptions;
  /** also each tile's encoder cross-attention maps of these latents (docs/attention-maps.md) */
  attention?: AttentionRequest;
}

/** One tile's attention maps: per requested latent, over the tile's pixel grid. */
export interface TileAttention {
  /**
   * The tile in frame pixels (368x496 for the released model). Frames
   * smaller than a tile are edge-padded at the right and bottom, so there
   * the tile extends past the frame.
   */
  tile: { x: number; y: number; width: number; height: number };
  maps: AttentionMap[];
}

export interface FlowResult {
  width: number;
  height: number;
  /** [height, width, 2] float32, pixels: channel 0 horizontal (right +), 1 vertical (down +) */
  flow: Float32Array;
  /** the colour-wheel picture, when asked for */
  picture?: RgbaImage;
  /** the picture's magnitude scale in pixels (|flow| drawn fully saturated) */
  scale?: number;
  /** when asked for: the attention maps of each tile that ran */
  attention?: TileAttention[];
}

export interface SequenceResult extends FlowResult {
  /** this is the flow from frame `index` to frame `index + 1` */
  index: number;
}

/** RgbaImage -> ImageData for a canvas (browser only). */
export function toImageData(picture: RgbaImage): ImageData {
  if (typeof ImageData === 'undefined') throw new Error('toImageData needs a browser (ImageData); in Node write a PNG: perceiver/flow/node.ts writeFlowPng');
  const data = picture.data instanceof Uint8ClampedArray ? picture.data : new Uint8ClampedArray(picture.data.buffer, picture.data.byteOffset, picture.data.byteLength);
  return new ImageData(data as Uint8ClampedArray<ArrayBuffer>, picture.width, picture.height);
}

/** Draws a flow picture onto a canvas at (x, y). */
export function drawFlow(canvas: HTMLCanvasElement | OffscreenCanvas, picture: RgbaImage, x = 0, y = 0): void {
  const ctx = canvas.getContext('2d') as CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D | null;
  if (!ctx) throw new Error('drawFlow: no 2d context');
  ctx.putImageData(toImageData(picture), x, y);
}

export class OpticalFlow {
  readonly params: Params;
  /** The loader's weights, owned by this model (null when built from weights the caller owns). */
  loaded: ModelWeights | null = null;
  /** GPU buffers kept between tiles and between the pairs of a sequence */
  private workspace: FlowWorkspace;

  constructor(readonly gpu: Gpu, readonly config: FlowConfig, weights: ReadonlyMap<string, Tensor>) {
    if (config.preset !== 'optical-flow') throw new Error(`OpticalFlow needs the optical-flow preset, got ${(config as { preset: string }).preset}`);
    checkStored(config.preset, storedOf((b) => flowCheckpoint(b, config)), weights);
    this.params = new Params(weights);
    this.workspace = new FlowWorkspace(gpu);
  }

  /** Flow from frame1 to frame2 (and optionally its picture). */
  async flow(frame1: ImageInput, frame2: ImageInput, opts: EstimateOptions = {}): Promise<FlowResult> {
    const a = toRgba(frame1), b = toRgba(frame2);
    checkSameSize(a, b, 'frame 1', 'frame 2');
    const n = a.width * a.height * 3;
    const pair = new Float32Array(2 * n);
    normalizeFrame(a, pair.subarray(0, n));
    normalizeFrame(b, pair.subarray(n));
    return this.flowNormalized(pair, a.height, a.width, opts);
  }

  /** Flow for an already normalised pair [2, height, width, 3] in [-1, 1] (the fixtures' layout). */
  async flowNormalized(frames: Float32Array, height: number, width: number, opts: EstimateOptions = {}): Promise<FlowResult> {
    checkLive(this.disposed, 'OpticalFlow');
    checkFinite(frames, 'OpticalFlow.flowNormalized: frames');
    await this.ready();
    const maps = opts.attention ? await import('../attention_maps.ts') : null; // loaded on first use
    const recorder = maps?.mapsRecorder(this.gpu, opts.attention!, this.config.encoder.numLatents, 'optical-flow');
    const tiles: { x: number; y: number }[] = [];
    let flow: Float32Array;
    let attention: TileAttention[] | undefined;
    try {
      const onTile: EstimateOptions['onTile'] = (i, n, t) => {
        tiles.push({ x: t.x, y: t.y });
        opts.onTile?.(i, n, t);
      };
      flow = await estimateFlow(this.gpu, this.params, this.config, frames, height, width, recorder ? { ...opts, onTile, attentionTap: recorder.tap } : opts, this.workspace);
      if (recorder) {
        const [th, tw] = this.config.trainSize;
        attention = (await recorder.read()).map((rec, i) => ({ tile: { ...tiles[i], width: tw, height: th }, maps: maps!.gridMaps(rec, th, tw)[0] }));
      }
    } finally {
      recorder?.dispose();
    }
    await tunePending(this.gpu); // kernels for the shapes this pair used (engine/tune.ts)
    const result: FlowResult = { width, height, flow, ...(attention ? { attention } : {}) };
    if (opts.picture) {
      const { picture, scale } = await flowPicture(this.gpu, flow, width, height, opts.picture === true ? {} : opts.picture);
      result.picture = picture;
      result.scale = scale;
    }
    return result;
  }

  /** The colour-wheel picture of any flow [height, width, 2]. */
  picture(flow: Float32Array, width: number, height: number, opts: FlowColorOptions = {}): Promise<{ picture: RgbaImage; scale: number }> {
    checkLive(this.disposed, 'OpticalFlow');
    return flowPicture(this.gpu, flow, width, height, opts);
  }

  /**
   * Flow between consecutive frames of a video: yields pairs (0, 1), (1, 2),
   * ... Each frame is normalised once; the host pair buffer and the GPU
   * buffers (tile frames, encoder inputs, pooled intermediates) are reused
   * from pair to pair. All frames must have the first frame's size.
   */
  async *sequence(frames: Iterable<ImageInput> | AsyncIterable<ImageInput>, opts: EstimateOptions = {}): AsyncGenerator<SequenceResult> {
    let first: RgbaImage | null = null;
    let pair: Float32Array | null = null;
    let n = 0;
    let index = -1;
    for await (const frame of frames as AsyncIterable<ImageInput>) {
      const img = toRgba(frame);
      index++;
      if (!first) {
        first = img;
        n = img.width * img.height * 3;
        pair = new Float32Array(2 * n);
        normalizeFrame(img, pair.subarray(n));
        continue;
      }
      checkSameSize(first, img, 'frame 0', `frame ${index}`);
      // the previous frame moves to the first half; the new one is normalised into the second
      pair!.copyWithin(0, n, 2 * n);
      normalizeFrame(img, pair!.subarray(n));
      const r = await this.flowNormalized(pair!, img.height, img.width, opts);
      yield { ...r, index: index - 1 };
    }
  }

  private disposed = false;

  /** Resolves when the model can run: after a device loss, once it has a new device and its weights again (docs/reliability.md). */
  ready(): Promise<void> {
    return this.loaded ? this.loaded.ready(() => (this.workspace = new FlowWorkspace(this.gpu))) : this.gpu.recover();
  }

  /** Frees the kept GPU buffers and the weights the loader uploaded (weights the caller passed stay theirs). */
  dispose(): void {
    this.disposed = true;
    this.workspace.dispose();
    this.loaded?.dispose();
  }
}

function checkSameSize(a: RgbaImage, b: RgbaImage, na: string, nb: string): void {
  if (a.width !== b.width || a.height !== b.height) {
    throw new Error(`optical-flow: ${na} is ${a.width}x${a.height} but ${nb} is ${b.width}x${b.height}; both frames of a pair must have the same size`);
  }
}
