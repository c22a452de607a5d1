// Heat maps: a grid of values (an attention map) drawn as RGBA, alone or
// blended over the picture it belongs to. Plain TypeScript, browser-safe
// (no canvas needed: Node writes the result as a PNG, a page puts it in an
// ImageData).

import type { RgbaImage } from './image.ts';

/** A grid of values, [height, width] row-major (AttentionMap fits). */
export interface Grid {
  width: number;
  height: number;
  data: ArrayLike<number>;
}

export interface HeatmapOptions {
  /** the picture underneath; the result has its size. Without it: width x height, the heat alone */
  image?: RgbaImage;
  width?: number;
  height?: number;
  /** the rectangle of the output the grid covers (e.g. the classifier's centre crop); default all of it */
  region?: { x: number; y: number; width: number; height: number };
  /** weight of the heat over the image, 0..1 (default 0.65) */
  opacity?: number;
  /** the value drawn at full heat (default the grid's largest: attention probabilities are tiny) */
  max?: number;
}

/** Latents drawn when none are named (the CLI's --attention-maps, the demo): this many, evenly spread. */
export const DEFAULT_MAP_COUNT = 8;

/** `count` latent indices spread evenly over `numLatents`, first and last included. */
export function spreadLatents(numLatents: number, count = DEFAULT_MAP_COUNT): number[] {
  const k = Math.min(count, numLatents);
  return [...new Set(Array.from({ length: k }, (_, i) => Math.round((i * (numLatents - 1)) / Math.max(1, k - 1))))];
}

/** The colour ramp (black, purple, red, orange, pale yellow: perceptually ordered, like "inferno"), RGB stops. */
const RAMP: readonly (readonly [number, number, number])[] = [
  [0, 0, 4], [87, 16, 110], [188, 55, 84], [249, 142, 9], [252, 255, 164],
];
const DEFAULT_OPACITY = 0.65;
/** Most output pixels drawn (caps what a hostile size can ask for: 64 Mpx). */
const MAX_PIXELS = 1 << 26;

/** Heat value in [0, 1] -> RGB on the ramp (linear between stops). */
export function heatColor(v: number): [number, number, number] {
  const x = Math.min(1, Math.max(0, Number.isFinite(v) ? v : 0)) * (RAMP.length - 1);
  const i = Math.min(RAMP.length - 2, Math.floor(x));
  const f = x - i;
  const a = RAMP[i], b = RAMP[i + 1];
  return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
}

/**
 * Draws `grid` as a heat map, bilinearly resampled onto `region` of the
 * output and blended over `image` when given (outside the region the image
 * is dimmed as under zero heat).
 */
export function attentionHeatmap(grid: Grid, opts: HeatmapOptions = {}): RgbaImage {
  const { image } = opts;
  const W = image?.width ?? opts.width ?? grid.width;
  const H = image?.height ?? opts.height ?? grid.height;
  if (!(Number.isInteger(W) && Number.isInteger(H) && W > 0 && H > 0 && W * H <= MAX_PIXELS)) throw new Error(`attentionHeatmap: bad output size ${W}x${H}`);
  if (!(grid.width > 0 && grid.height > 0) || grid.data.length !== grid.width * grid.height) {
    throw new Error(`attentionHeatmap: a ${grid.width}x${grid.height} grid needs ${grid.width * grid.height} values, got ${grid.data.length}`);
  }
  if (image && image.data.length !== W * H * 4) throw new Error(`attentionHeatmap: image data has ${image.data.length} bytes, ${W}x${H} RGBA needs ${W * H * 4}`);
  const region = opts.region ?? { x: 0, y: 0, width: W, height: H };
  if (!(region.width > 0 && region.height > 0)) throw new Error('attentionHeatmap: the region must have a positive size');
  let max = opts.max ?? 0;
  if (opts.max === undefined) for (let i = 0; i < grid.data.length; i++) max = Math.max(max, grid.data[i]);
  const inv = max > 0 ? 1 / max : 0;
  const alpha = image ? Math.min(1, Math.max(0, opts.opacity ?? DEFAULT_OPACITY)) : 1;
  const out = new Uint8ClampedArray(W * H * 4);
  const gw = grid.width, gh = grid.height;
  const at = (x: number, y: number) => grid.data[Math.min(gh - 1, Math.max(0, y)) * gw + Math.min(gw - 1, Math.max(0, x))];
  for (let py = 0; py < H; py++) {
    // grid coordinate of the pixel centre (cell centres at integer + 0.5)
    const v = ((py + 0.5 - region.y) / region.height) * gh - 0.5;
    const y0 = Math.floor(v), fy = v - y0;
    const rowIn = py + 0.5 >= region.y && py + 0.5 < region.y + region.height;
    for (let px = 0; px < W; px++) {
      const u = ((px + 0.5 - region.x) / region.width) * gw - 0.5;
      const inside = rowIn && px + 0.5 >= region.x && px + 0.5 < region.x + region.width;
      let heat = 0;
      if (inside) {
        const x0 = Math.floor(u), fx = u - x0;
        const top = at(x0, y0) * (1 - fx) + at(x0 + 1, y0) * fx;
        const bottom = at(x0, y0 + 1) * (1 - fx) + at(x0 + 1, y0 + 1) * fx;
        heat = (top * (1 - fy) + bottom * fy) * inv;
      }
      const [r, g, b] = heatColor(heat);
      const o = (py * W + px) * 4;
      if (image) {
        out[o] = image.data[o] * (1 - alpha) + r * alpha;
        out[o + 1] = image.data[o + 1] * (1 - alpha) + g * alpha;
        out[o + 2] = image.data[o + 2] * (1 - alpha) + b * alpha;
      } else {
        out[o] = r;
        out[o + 1] = g;
        out[o + 2] = b;
      }
      out[o + 3] = 255;
    }
  }
  return { width: W, height: H, data: out };
}
