// flowToColor: optical flow [H, W, 2] -> RGBA8 pixels in the Middlebury
// colour coding (flow_color.wgsl has the formula). The result is a u32
// tensor [H, W] whose bytes are R, G, B, A per pixel, row-major: read back
// as a Uint8ClampedArray it is ImageData for a canvas (or PNG pixels).
//
// Magnitude scale: `maxFlow` > 0 fixes it (pixels beyond it are drawn
// darker); otherwise it is the largest |flow| over the known pixels, found on
// the GPU (`scale` returns it either way, as a 1-element f32 tensor).
// Legend: an inset colour wheel (rim = the scale) in a corner.
//
// Flows larger than one storage binding are coloured in pixel ranges.

import { empty, upload, Tensor, type Gpu } from '../engine/index.ts';
import { flow_color as shader } from './shaders.gen.ts';
import { window, splitRanges, groups } from './slicing.ts';

/** Match flow_color.wgsl. */
const WORKGROUP = 64;
const PER_INVOCATION = 16;
const MODE_REDUCE = 0;
const MODE_COLOR = 1;
/** the smallest legend side that still draws a disk */
export const MIN_LEGEND = 8;

export type LegendCorner = 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right';

export interface LegendOptions {
  /** side of the legend square in pixels (default: a quarter of the shorter side, at most 128) */
  size?: number;
  corner?: LegendCorner;
  /** distance from the image border in pixels (default 4, shrunk to fit) */
  margin?: number;
}

export interface FlowColorOptions {
  /** fixed magnitude scale in pixels (|flow| = maxFlow is full saturation); default automatic */
  maxFlow?: number;
  /** draw the colour-wheel legend (true: defaults) */
  legend?: boolean | LegendOptions;
}

export interface FlowColorResult {
  /** u32 [H, W]: bytes R, G, B, A per pixel */
  rgba: Tensor;
  /** f32 [1]: the magnitude scale used (pixels) */
  scale: Tensor;
}

/** The legend square's placement for an image size, or null when it does not fit. */
export function legendPlacement(width: number, height: number, legend: boolean | LegendOptions | undefined): { x0: number; y0: number; size: number } | null {
  if (!legend) return null;
  const o: LegendOptions = legend === true ? {} : legend;
  const shorter = Math.min(width, height);
  let size = o.size ?? Math.min(128, Math.floor(shorter / 4));
  if (!Number.isInteger(size) || size < 0) throw new Error(`flowToColor: legend size must be a non-negative integer, got ${o.size}`);
  size = Math.min(size, shorter);
  if (size < MIN_LEGEND) return null;
  const margin = Math.max(0, Math.min(o.margin ?? 4, Math.floor((shorter - size) / 2)));
  const corner = o.corner ?? 'bottom-right';
  if (!['top-left', 'top-right', 'bottom-left', 'bottom-right'].includes(corner)) throw new Error(`flowToColor: unknown legend corner '${corner}'`);
  const x0 = corner.endsWith('left') ? margin : width - size - margin;
  const y0 = corner.startsWith('top') ? margin : height - size - margin;
  return { x0, y0, size };
}

export function flowToColor(gpu: Gpu, flow: Tensor, opts: FlowColorOptions = {}): FlowColorResult {
  const name = `flowToColor(flow=${flow})`;
  if (flow.dtype !== 'f32') throw new Error(`${name}: flow must be f32`);
  if (flow.shape.length !== 3 || flow.shape[2] !== 2) throw new Error(`${name}: flow must be [H, W, 2]`);
  const [H, W] = flow.shape;
  const maxFlow = opts.maxFlow;
  if (maxFlow !== undefined && !(maxFlow > 0 && Number.isFinite(maxFlow))) throw new Error(`${name}: maxFlow must be a positive number, got ${maxFlow}`);
  const legend = legendPlacement(W, H, opts.legend);
  const n = H * W;
  const rgba = empty(gpu, [H, W], 'u32');
  const stats = upload(gpu, new Uint32Array([maxFlow === undefined ? 0 : new Uint32Array(new Float32Array([maxFlow]).buffer)[0]]), [1], 'u32');
  if (n === 0) return { rgba, scale: new Tensor(gpu, stats.buffer, [1], 'f32', stats.byteOffset, true) };
  const ranges = splitRanges(gpu, 'flowToColor', n, 8);
  const passes = maxFlow === undefined ? [MODE_REDUCE, MODE_COLOR] : [MODE_COLOR];
  for (const mode of passes) {
    for (const [p0, p1] of ranges) {
      const fw = window(flow, 2 * p0, 2 * (p1 - p0));
      const ow = window(rgba, p0, p1 - p0);
      gpu.dispatch(
        shader,
        {
          flow: fw.view, stats, out: ow.view,
          params: {
            n: p1 - p0, p0, width: W, mode, flow_off: fw.off, out_off: ow.off,
            fixed_scale: maxFlow ?? 0,
            legend_x0: legend?.x0 ?? 0, legend_y0: legend?.y0 ?? 0, legend_size: legend?.size ?? 0,
          },
        },
        groups(p1 - p0, WORKGROUP * PER_INVOCATION),
      );
    }
  }
  // The stats word holds the scale's float bits: hand it out as f32.
  return { rgba, scale: new Tensor(gpu, stats.buffer, [1], 'f32', stats.byteOffset, true) };
}
