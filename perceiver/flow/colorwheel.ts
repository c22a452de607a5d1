// The Middlebury flow colour coding on the GPU: `flowPicture` runs the WGSL
// kernel (kernels/flow_color.wgsl) on a host flow and returns RGBA pixels
// ready for a canvas (`new ImageData(picture.data, w, h)`) or a PNG
// (tools/png.ts `encodePng`). The plain TypeScript version (the reference
// the kernel is tested against, and a fallback without a GPU) is
// colorwheel_cpu.ts.

import { upload, read, readF32, type Gpu, type Tensor } from '../../engine/index.ts';
import { flowToColor, type FlowColorOptions } from '../../kernels/flow_color.ts';
import type { RgbaImage } from '../image.ts';

export type { FlowColorOptions, LegendOptions, LegendCorner } from '../../kernels/flow_color.ts';

/** Reads a flowToColor result into an RgbaImage. */
export async function readPicture(rgba: Tensor): Promise<RgbaImage> {
  const [height, width] = rgba.shape;
  const words = (await read(rgba)) as Uint32Array;
  return { width, height, data: new Uint8ClampedArray(words.buffer, words.byteOffset, words.byteLength) };
}

/**
 * The colour-wheel picture of a host flow [height, width, 2] (pixels), made
 * on the GPU. Returns the RGBA pixels and the magnitude scale used.
 */
export async function flowPicture(gpu: Gpu, flow: Float32Array, width: number, height: number, opts: FlowColorOptions = {}): Promise<{ picture: RgbaImage; scale: number }> {
  if (flow.length !== width * height * 2) throw new Error(`flowPicture: ${flow.length} values for ${width}x${height}x2`);
  const t = upload(gpu, flow, [height, width, 2]);
  const { rgba, scale } = flowToColor(gpu, t, opts);
  const picture = await readPicture(rgba);
  const s = (await readF32(scale))[0];
  [t, rgba, scale].forEach((x) => x.dispose());
  return { picture, scale: s };
}
