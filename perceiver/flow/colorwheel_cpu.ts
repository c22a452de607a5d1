// The Middlebury flow colour coding (Baker et al. 2011) in plain TypeScript,
// float64: the wheel table (makeColorwheel), computeColor and flowToColor.
// The reference the GPU kernel (kernels/flow_color.wgsl) is tested against,
// and a fallback without a GPU; kept out of the browser entry point.

import { legendPlacement, type FlowColorOptions } from '../../kernels/flow_color.ts';
import type { RgbaImage } from '../image.ts';

/** Ramp lengths: red-yellow, yellow-green, green-cyan, cyan-blue, blue-magenta, magenta-red. */
export const RAMPS = [15, 6, 4, 11, 13, 6] as const;
export const NCOLS = 55;
/** |u| or |v| above this marks unknown flow (Middlebury's UNKNOWN_FLOW_THRESH). */
export const UNKNOWN_FLOW = 1e9;

/** makeColorwheel: NCOLS x 3 values 0..255. */
export function colorWheel(): number[][] {
  const [RY, YG, GC, CB, BM, MR] = RAMPS;
  const w: number[][] = [];
  for (let i = 0; i < RY; i++) w.push([255, Math.floor((255 * i) / RY), 0]);
  for (let i = 0; i < YG; i++) w.push([255 - Math.floor((255 * i) / YG), 255, 0]);
  for (let i = 0; i < GC; i++) w.push([0, 255, Math.floor((255 * i) / GC)]);
  for (let i = 0; i < CB; i++) w.push([0, 255 - Math.floor((255 * i) / CB), 255]);
  for (let i = 0; i < BM; i++) w.push([Math.floor((255 * i) / BM), 0, 255]);
  for (let i = 0; i < MR; i++) w.push([255, 0, 255 - Math.floor((255 * i) / MR)]);
  return w;
}

const WHEEL = colorWheel();

function isUnknown(u: number, v: number): boolean {
  return !Number.isFinite(u) || !Number.isFinite(v) || Math.abs(u) > UNKNOWN_FLOW || Math.abs(v) > UNKNOWN_FLOW;
}

/** computeColor for one normalised flow, in float64: [r, g, b] bytes. */
export function colorOf(un: number, vn: number): [number, number, number] {
  const rad = Math.sqrt(un * un + vn * vn);
  let a = Math.atan2(-vn, -un) / Math.PI;
  if (vn === 0 && un > 0) a = -1; // numpy: atan2(-0.0, -u) = -pi
  const fk = ((a + 1) / 2) * (NCOLS - 1);
  const k0 = Math.min(Math.max(Math.floor(fk), 0), NCOLS - 1);
  const k1 = k0 + 1 === NCOLS ? 0 : k0 + 1;
  const f = fk - k0;
  const out: [number, number, number] = [0, 0, 0];
  for (let c = 0; c < 3; c++) {
    let col = (1 - f) * (WHEEL[k0][c] / 255) + f * (WHEEL[k1][c] / 255);
    col = rad <= 1 ? 1 - rad * (1 - col) : col * 0.75;
    out[c] = Math.min(255, Math.max(0, Math.floor(255 * col)));
  }
  return out;
}

/** The automatic scale: the largest |flow| over the known pixels. */
export function maxFlowRadius(flow: Float32Array): number {
  let m = 0;
  for (let i = 0; i < flow.length; i += 2) {
    const u = flow[i], v = flow[i + 1];
    if (!isUnknown(u, v)) m = Math.max(m, Math.hypot(u, v));
  }
  return m;
}

/** flowToColor on the CPU (float64): the same picture as the kernel, to within one level near rounding boundaries. */
export function flowToColorCpu(flow: Float32Array, width: number, height: number, opts: FlowColorOptions = {}): { picture: RgbaImage; scale: number } {
  if (flow.length !== width * height * 2) throw new Error(`flowToColorCpu: ${flow.length} values for ${width}x${height}x2`);
  const scale = opts.maxFlow ?? maxFlowRadius(flow);
  const inv = scale > 0 ? 1 / scale : 0;
  const data = new Uint8ClampedArray(width * height * 4);
  const legend = legendPlacement(width, height, opts.legend);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      let rgb: [number, number, number];
      if (legend && x >= legend.x0 && x < legend.x0 + legend.size && y >= legend.y0 && y < legend.y0 + legend.size) {
        const radius = legend.size / 2 - 1, centre = legend.size / 2 - 0.5;
        const dx = (x - legend.x0 - centre) / radius, dy = (y - legend.y0 - centre) / radius;
        rgb = dx * dx + dy * dy <= 1 ? colorOf(dx, dy) : [255, 255, 255];
      } else {
        const u = flow[2 * p], v = flow[2 * p + 1];
        rgb = isUnknown(u, v) ? [0, 0, 0] : colorOf(u * inv, v * inv);
      }
      data.set([...rgb, 255], 4 * p);
    }
  }
  return { picture: { width, height, data }, scale };
}

