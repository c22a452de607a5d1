// Frame pairs of any size through the flow model, as the colab does it:
// normalise to [-1, 1], cut 368x496 tiles (tiling.ts: min_overlap 20, last
// tile flush with the border), run the model once per tile (encoder once,
// decoder in chunks), stitch with tent weights. Frames smaller than a tile
// are edge-padded up to it and the flow is cropped back (tiling.ts).
//
// A subset of pixels can be asked for (`pixels`): each tile then decodes only
// the selected pixels it covers, and the stitched flow is exact there (NaN
// elsewhere). The encoder always sees whole tiles.

import type { Gpu } from '../../engine/index.ts';
import type { FlowConfig } from '../config.ts';
import type { Params } from '../layers.ts';
import type { RgbaImage } from '../image.ts';
import { flowTile, FlowWorkspace, type SliceOptions } from './model.ts';
import { tileOrigins, paddedSize, padEdge, cropTopLeft, FlowStitcher, MIN_OVERLAP, type Tile } from './tiling.ts';

/** The colab's normalisation, im / 255 * 2 - 1 (float64, then float32), RGB of RGBA bytes -> [H, W, 3]. */
export function normalizeFrame(img: RgbaImage, out: Float32Array = new Float32Array(img.width * img.height * 3)): Float32Array {
  const n = img.width * img.height;
  if (out.length !== n * 3) throw new Error(`normalizeFrame: output has ${out.length} values, ${n * 3} needed`);
  for (let p = 0; p < n; p++) {
    for (let c = 0; c < 3; c++) out[3 * p + c] = (img.data[4 * p + c] / 255) * 2 - 1;
  }
  return out;
}

export interface FlowOptions extends SliceOptions {
  /** frame pixels (flat y * width + x) to compute; default all. The others come out NaN. */
  pixels?: Uint32Array;
  /** tile overlap (default 20, the colab's) */
  minOverlap?: number;
  /** called before each tile that runs (tiles without selected pixels are skipped), with its origin in padded-frame pixels */
  onTile?(index: number, count: number, tile: Tile): void;
}

/** Copies tile (y, x) of size [th, tw] out of frames [2, H, W, 3] into `out` [2, th, tw, 3]. */
function cropTile(frames: Float32Array, H: number, W: number, t: Tile, th: number, tw: number, out: Float32Array): Float32Array {
  for (let f = 0; f < 2; f++) {
    for (let y = 0; y < th; y++) {
      const src = ((f * H + t.y + y) * W + t.x) * 3;
      out.set(frames.subarray(src, src + tw * 3), (f * th + y) * tw * 3);
    }
  }
  return out;
}

/**
 * Flow in pixels, [height, width, 2] (channel 0 horizontal), for a
 * normalised frame pair `frames` [2, height, width, 3].
 */
export async function estimateFlow(gpu: Gpu, params: Params, cfg: FlowConfig, frames: Float32Array, height: number, width: number, opts: FlowOptions = {}, ws?: FlowWorkspace): Promise<Float32Array> {
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) throw new Error(`optical-flow: bad frame size ${width}x${height}`);
  if (frames.length !== 2 * height * width * 3) {
    throw new Error(`optical-flow: ${frames.length} values for a ${width}x${height} RGB frame pair (${2 * height * width * 3} expected: [2, H, W, 3])`);
  }
  const tile = cfg.trainSize;
  const [th, tw] = tile;
  const [PH, PW] = paddedSize(height, width, tile);
  let padded = frames;
  if (PH !== height || PW !== width) {
    const per = height * width * 3;
    padded = new Float32Array(2 * PH * PW * 3);
    for (let f = 0; f < 2; f++) padded.set(padEdge(frames.subarray(f * per, (f + 1) * per), height, width, 3, PH, PW), f * PH * PW * 3);
  }
  // Selected pixels in padded coordinates, as a mask.
  let selected: Uint8Array | null = null;
  if (opts.pixels) {
    selected = new Uint8Array(PH * PW);
    for (const p of opts.pixels) {
      if (p >= height * width) throw new Error(`optical-flow: pixel index ${p} outside the ${width}x${height} frame`);
      selected[Math.floor(p / width) * PW + (p % width)] = 1;
    }
  }
  const tiles = tileOrigins(PH, PW, tile, opts.minOverlap ?? MIN_OVERLAP);
  const own = ws ?? new FlowWorkspace(gpu);
  const stitch = new FlowStitcher(PH, PW, tile);
  const hostTile = new Float32Array(2 * th * tw * 3);
  let single: Float32Array | null = null;
  try {
    const gpuTile = own.get('tile-frames', [1, 2, th, tw, 3]);
    for (let i = 0; i < tiles.length; i++) {
      const t = tiles[i];
      let indices: Uint32Array | undefined;
      if (selected) {
        const list: number[] = [];
        for (let y = 0; y < th; y++) for (let x = 0; x < tw; x++) if (selected[(t.y + y) * PW + t.x + x]) list.push(y * tw + x);
        indices = Uint32Array.from(list);
        if (indices.length === 0) continue;
      }
      opts.onTile?.(i, tiles.length, t);
      gpu.write(gpuTile.buffer, gpuTile.byteOffset, cropTile(padded, PH, PW, t, th, tw, hostTile));
      const flow = await flowTile(gpu, gpuTile, params, cfg, indices, opts, own);
      if (tiles.length === 1 && !indices) single = flow; // (any count: count * w / (count * w))
      else stitch.add(t, flow, indices);
    }
  } finally {
    if (!ws) own.dispose();
  }
  // One whole tile: the model's output as it is (no weighting round trip).
  const full = single ?? stitch.result();
  return cropTopLeft(full, PH, PW, 2, height, width);
}
