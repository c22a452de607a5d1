// Frames of any size, as DeepMind's optical-flow colab handles them
// (PERCEIVER_IO.md §14, colab fix 8cc5c39):
//
//  - compute_grid_indices(shape, (368, 496), min_overlap=20):
//      ys = range(0, H, 368 - 20), last entry forced to H - 368
//      xs = range(0, W, 496 - 20), last entry forced to W - 496
//    and every (y, x) pair is a tile. Sintel 436x1024 -> ys {0, 68},
//    xs {0, 476, 528}: six tiles. A side whose length minus the tile side is
//    a multiple of the step (368 - 20 or 496 - 20) repeats its last origin:
//    368 gives ys [0, 0], 716 gives [0, 348, 348]. The colab runs a repeated
//    tile again and so counts its flow twice in the weighted average (which
//    matters where it overlaps other tiles); `tileOrigins` returns each
//    distinct tile once with its multiplicity `count`, and the stitcher
//    weights it by count * w: the colab's average, one model run per tile.
//    One case the colab does not handle: when the forced last origin falls
//    below the entry before it by more than the overlap allows, that entry's
//    tile runs past the border (700 rows: [0, 348, 696] -> [0, 348, 332],
//    and rows 348..715 do not exist); numpy then crops a short tile and the
//    colab fails on a negative padding. Such origins are dropped here (the
//    last tile already covers everything they would): [0, 332].
//  - each tile's flow is weighted by the tent w(y, x) = min(min(x + 1,
//    496 - x), min(y + 1, 368 - y)) (1 on the tile border, peak at the
//    centre); the result is sum(flow * w) / sum(w) over the tiles covering a
//    pixel.
//
// Frames smaller than a tile (the colab raises): each frame is padded up to
// the tile size by replicating its border pixels (edge padding, as RAFT's
// InputPadder does), the padded pair is run as usual and the flow cropped
// back to the frame. The flow stays in the frame's pixels (no resampling);
// only the padded margin's content is invented. A side that is already at
// least the tile size is not padded.

export const TRAIN_SIZE: readonly [number, number] = [368, 496];
export const MIN_OVERLAP = 20;

export interface Tile {
  y: number;
  x: number;
  /** how many times the colab's grid lists this tile (default 1) */
  count?: number;
}

/** range(0, n, step) with the last entry forced to n - size (the colab's axis list), minus origins past n - size. */
export function axisOrigins(n: number, size: number, minOverlap: number): number[] {
  if (!(minOverlap < size)) throw new Error(`tiling: min_overlap ${minOverlap} must be smaller than the tile side ${size}`);
  if (n < size) throw new Error(`tiling: a side of ${n} pixels is smaller than the tile side ${size} (pad first)`);
  const out: number[] = [];
  for (let v = 0; v < n; v += size - minOverlap) out.push(v);
  out[out.length - 1] = n - size;
  // an entry whose tile would run past the border (see the header) is dropped
  return out.filter((v) => v <= n - size);
}

/**
 * The colab's compute_grid_indices: distinct tile origins, row-major (ys
 * outer), each with the number of times the grid lists it (`count`); with
 * `dedupe` false, the grid's list itself (repeats included, count 1 each).
 */
export function tileOrigins(height: number, width: number, tile: readonly [number, number] = TRAIN_SIZE, minOverlap = MIN_OVERLAP, dedupe = true): Tile[] {
  const ys = axisOrigins(height, tile[0], minOverlap);
  const xs = axisOrigins(width, tile[1], minOverlap);
  const tiles: Tile[] = [];
  const seen = new Map<string, Tile>();
  for (const y of ys) {
    for (const x of xs) {
      const key = `${y},${x}`;
      const t = seen.get(key);
      if (dedupe && t) {
        t.count = (t.count ?? 1) + 1;
        continue;
      }
      const n: Tile = { y, x, count: 1 };
      seen.set(key, n);
      tiles.push(n);
    }
  }
  return tiles;
}

/** The tent weight of tile pixel (y, x): min(min(x + 1, tw - x), min(y + 1, th - y)). */
export function tentWeight(y: number, x: number, tile: readonly [number, number] = TRAIN_SIZE): number {
  return Math.min(Math.min(x + 1, tile[1] - x), Math.min(y + 1, tile[0] - y));
}

/**
 * Accumulates tile flows into a frame-sized flow with tent weights, in
 * float32 as the colab's numpy arrays (flow * w, summed in tile order, then
 * divided by the summed weights). Pixels may be a subset: `add` takes the
 * tile-local flat indices a tile decoded (NaN elsewhere stays NaN).
 */
export class FlowStitcher {
  readonly sum: Float32Array;
  readonly weight: Float32Array;

  constructor(readonly height: number, readonly width: number, readonly tile: readonly [number, number] = TRAIN_SIZE) {
    this.sum = new Float32Array(height * width * 2);
    this.weight = new Float32Array(height * width);
  }

  /**
   * Adds one tile's flow. `flow` holds 2 values per entry of `pixels`
   * (tile-local flat indices y * tileWidth + x), or the whole tile
   * [tileH, tileW, 2] when `pixels` is omitted. A tile listed `count` times
   * by the grid is added with weight count * w (as the colab's repeats).
   */
  add(origin: Tile, flow: Float32Array, pixels?: ArrayLike<number>): void {
    const [th, tw] = this.tile;
    const n = pixels ? pixels.length : th * tw;
    if (flow.length !== 2 * n) throw new Error(`FlowStitcher.add: ${flow.length} values for ${n} pixels`);
    const f32 = Math.fround;
    for (let i = 0; i < n; i++) {
      const p = pixels ? pixels[i] : i;
      const ty = Math.floor(p / tw), tx = p - ty * tw;
      const w = tentWeight(ty, tx, this.tile) * (origin.count ?? 1);
      const q = (origin.y + ty) * this.width + origin.x + tx;
      this.sum[2 * q] = f32(this.sum[2 * q] + f32(flow[2 * i] * w));
      this.sum[2 * q + 1] = f32(this.sum[2 * q + 1] + f32(flow[2 * i + 1] * w));
      this.weight[q] += w;
    }
  }

  /** sum / weight; pixels no tile covered are NaN. */
  result(): Float32Array {
    const out = new Float32Array(this.sum.length);
    for (let q = 0; q < this.weight.length; q++) {
      const w = this.weight[q];
      out[2 * q] = w > 0 ? Math.fround(this.sum[2 * q] / w) : NaN;
      out[2 * q + 1] = w > 0 ? Math.fround(this.sum[2 * q + 1] / w) : NaN;
    }
    return out;
  }
}

/** The padded size for frames smaller than a tile (edge padding), or the size itself. */
export function paddedSize(height: number, width: number, tile: readonly [number, number] = TRAIN_SIZE): [number, number] {
  return [Math.max(height, tile[0]), Math.max(width, tile[1])];
}

/**
 * Edge-pads an interleaved image [height, width, channels] to [ph, pw,
 * channels] (bottom and right), replicating the last row and column.
 */
export function padEdge(image: Float32Array, height: number, width: number, channels: number, ph: number, pw: number): Float32Array {
  if (ph === height && pw === width) return image;
  const out = new Float32Array(ph * pw * channels);
  for (let y = 0; y < ph; y++) {
    const sy = Math.min(y, height - 1);
    for (let x = 0; x < pw; x++) {
      const sx = Math.min(x, width - 1);
      const s = (sy * width + sx) * channels, d = (y * pw + x) * channels;
      for (let c = 0; c < channels; c++) out[d + c] = image[s + c];
    }
  }
  return out;
}

/** Crops [ph, pw, c] to its top-left [height, width, c]. */
export function cropTopLeft(image: Float32Array, ph: number, pw: number, channels: number, height: number, width: number): Float32Array {
  if (ph === height && pw === width) return image;
  const out = new Float32Array(height * width * channels);
  for (let y = 0; y < height; y++) out.set(image.subarray(y * pw * channels, (y * pw + width) * channels), y * width * channels);
  return out;
}

/**
 * `count` tile-local pixel indices spread evenly over a tile of `pixels`
 * (index floor((i + 0.5) * pixels / count)), for decoding a subset.
 */
export function evenSubset(pixels: number, count: number): Uint32Array {
  const n = Math.max(0, Math.min(count, pixels));
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(((i + 0.5) * pixels) / n);
  return out;
}
