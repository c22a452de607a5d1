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
  if (image === null || typeof image !== 'object') {
    throw new Error(`expected an image ({ width, height, data } RGBA bytes, or a browser image), got ${image === null ? 'null' : typeof image}`);
  }
  const maybe = image as Partial<RgbaImage>;
  if (maybe.data && typeof maybe.width === 'number' && typeof maybe.height === 'number') {
    const { width, height, data } = maybe as RgbaImage;
    if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
      throw new Error(`image size ${width}x${height}: width and height must be positive integers`);
    }
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

/** Interleaved 8-bit pixels: height rows of width * channels bytes. */
export interface PixelsU8 {
  width: number;
  height: number;
  channels: number;
  data: Uint8Array;
}

/** Round half to even, as OpenCV's cvRound (lrint) does in the default rounding mode. */
export function roundEven(v: number): number {
  const r = Math.round(v);
  return r - v === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** RGB bytes of a rectangle of an RGBA image (alpha dropped). */
export function cropRgb(img: RgbaImage, box: { x: number; y: number; width: number; height: number }): PixelsU8 {
  const { x, y, width, height } = box;
  if (x < 0 || y < 0 || width < 1 || height < 1 || x + width > img.width || y + height > img.height) {
    throw new Error(`cropRgb: box ${width}x${height} at (${x}, ${y}) is outside the ${img.width}x${img.height} image`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let r = 0; r < height; r++) {
    let s = ((y + r) * img.width + x) * 4;
    let d = r * width * 3;
    for (let c = 0; c < width; c++, s += 4, d += 3) {
      out[d] = img.data[s];
      out[d + 1] = img.data[s + 1];
      out[d + 2] = img.data[s + 2];
    }
  }
  return { width, height, channels: 3, data: out };
}
