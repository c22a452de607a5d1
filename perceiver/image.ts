// Images as RGBA bytes: the common currency of the pipelines. In a browser,
// ImageBitmap / HTMLImageElement / HTMLCanvasElement / VideoFrame sources are
// drawn once onto an OffscreenCanvas to read their pixels; in Node, pass
// { width, height, data } (e.g. from tools/png.ts).

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major RGBA */
  data: Uint8ClampedArray | Uint8Array;
}

export type ImageInput = RgbaImage | CanvasImageSource;

export function toRgba(image: ImageInput): RgbaImage {
  const maybe = image as Partial<RgbaImage>;
  if (maybe.data && typeof maybe.width === 'number' && typeof maybe.height === 'number') {
    const { width, height, data } = maybe as RgbaImage;
    if (data.length !== width * height * 4) {
      throw new Error(`image data has ${data.length} bytes; ${width}x${height} RGBA needs ${width * height * 4}`);
    }
    return { width, height, data };
  }
  if (typeof OffscreenCanvas === 'undefined') {
    throw new Error('this image type needs OffscreenCanvas (a browser); in Node pass { width, height, data } RGBA bytes');
  }
  const src = image as CanvasImageSource & { width?: number; height?: number; displayWidth?: number; displayHeight?: number; naturalWidth?: number; naturalHeight?: number };
  const width = Number(src.naturalWidth || src.displayWidth || src.width);
  const height = Number(src.naturalHeight || src.displayHeight || src.height);
  if (!(width > 0 && height > 0)) throw new Error('image has no size (not loaded yet?)');
  const canvas = new OffscreenCanvas(width, height);
  const ctx = canvas.getContext('2d');
  if (!ctx) throw new Error('no 2d context for reading image pixels');
  ctx.drawImage(src, 0, 0);
  const { data } = ctx.getImageData(0, 0, width, height);
  return { width, height, data };
}
