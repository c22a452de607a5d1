// A small PNG decoder and encoder for Node (node:zlib does the deflate work).
//
// decodePng reads every standard PNG: grayscale, gray+alpha, RGB, RGBA and
// palette images at every legal bit depth (1/2/4/8/16; 16-bit samples are
// scaled to 8 bits with rounding, v8 = round(v16 / 257)), tRNS transparency,
// all five row filters, Adam7 interlacing. It returns 8-bit RGBA in the shape
// of a browser ImageData: { width, height, data: Uint8ClampedArray }.
//
// It is written for untrusted input: every chunk length is bounds-checked,
// every CRC is verified, the image size is refused before anything is
// allocated when it exceeds `maxPixels`, and inflation is capped at the exact
// number of bytes the header implies (no zip bombs). Any problem is a
// PngError whose message starts with "PNG:" and says what is wrong.
//
// encodePng writes 8-bit RGBA (colour type 6), or RGB (type 2) when every
// alpha is 255, choosing a filter per row by the usual minimum-sum-of-absolute-
// differences heuristic.
//
// Ancillary chunks (gAMA, iCCP, sRGB, ...) are skipped: pixel values are
// returned as stored, as browsers' ImageData with colour management off and
// as imageio/OpenCV return them.

import { inflateSync, deflateSync, constants as zc } from 'node:zlib';
import { readFileSync, writeFileSync } from 'node:fs';

export interface RgbaImage {
  width: number;
  height: number;
  /** width * height * 4 bytes, row-major RGBA. */
  data: Uint8ClampedArray;
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (default 2^26 = 67,108,864). */
  maxPixels?: number;
}

export interface EncodeOptions {
  /** zlib level 0..9 (default 9). */
  level?: number;
  /** Keep the alpha channel even when the image is fully opaque (default false). */
  keepAlpha?: boolean;
}

export class PngError extends Error {
  constructor(message: string) {
    super(`PNG: ${message}`);
    this.name = 'PngError';
  }
}

export const DEFAULT_MAX_PIXELS = 1 << 26;

const SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];
/** The spec's upper bound on width, height and chunk length. */
const MAX_U31 = 0x7fffffff;

// Colour types.
const GRAY = 0;
const RGB = 2;
const PALETTE = 3;
const GRAY_ALPHA = 4;
const RGBA = 6;
const CHANNELS: Record<number, number> = { [GRAY]: 1, [RGB]: 3, [PALETTE]: 1, [GRAY_ALPHA]: 2, [RGBA]: 4 };
const LEGAL_DEPTHS: Record<number, number[]> = {
  [GRAY]: [1, 2, 4, 8, 16],
  [RGB]: [8, 16],
  [PALETTE]: [1, 2, 4, 8],
  [GRAY_ALPHA]: [8, 16],
  [RGBA]: [8, 16],
};

/** Adam7 passes: [x0, y0, dx, dy]. */
const ADAM7: [number, number, number, number][] = [
  [0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2],
];

// ---------------------------------------------------------------- CRC-32

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (ISO 3309, as PNG uses it) of bytes[start, end). */
export function crc32(bytes: Uint8Array, start = 0, end = bytes.length): number {
  let c = 0xffffffff;
  for (let i = start; i < end; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------------------------------------------------------------- decoding

interface Header {
  width: number;
  height: number;
  depth: number;
  colorType: number;
  interlace: number;
}

function u32(b: Uint8Array, o: number): number {
  return ((b[o] << 24) | (b[o + 1] << 16) | (b[o + 2] << 8) | b[o + 3]) >>> 0;
}

function chunkName(b: Uint8Array, o: number): string {
  return String.fromCharCode(b[o], b[o + 1], b[o + 2], b[o + 3]);
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

/** Bytes per row of `w` pixels, without the filter byte. */
function rowBytes(w: number, bitsPerPixel: number): number {
  return Math.ceil((w * bitsPerPixel) / 8);
}

/** Decode a PNG file's bytes to 8-bit RGBA. Throws PngError on anything malformed. */
export function decodePng(bytes: Uint8Array, options: DecodeOptions = {}): RgbaImage {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!(bytes instanceof Uint8Array)) throw new PngError('input must be a Uint8Array (or Buffer)');
  if (bytes.length < SIGNATURE.length || SIGNATURE.some((v, i) => bytes[i] !== v)) {
    throw new PngError('not a PNG file (bad signature)');
  }

  let header: Header | null = null;
  let palette: Uint8Array | null = null; // RGBA, 4 bytes per entry
  let paletteSize = 0;
  let trns: Uint8Array | null = null;
  const idat: Uint8Array[] = [];
  let idatBytes = 0;
  let sawIend = false;
  let lastName = '';

  let pos = SIGNATURE.length;
  while (pos < bytes.length) {
    if (pos + 8 > bytes.length) throw new PngError(`truncated chunk header at byte ${pos}`);
    const len = u32(bytes, pos);
    const name = chunkName(bytes, pos + 4);
    for (let i = 0; i < 4; i++) {
      if (!isLetter(bytes[pos + 4 + i])) throw new PngError(`invalid chunk type at byte ${pos + 4}`);
    }
    if (len > MAX_U31) throw new PngError(`chunk ${name} has an invalid length ${len}`);
    const dataStart = pos + 8;
    const dataEnd = dataStart + len;
    if (dataEnd + 4 > bytes.length) {
      throw new PngError(`truncated file: chunk ${name} at byte ${pos} needs ${len + 12} bytes, ${bytes.length - pos} left`);
    }
    const crc = u32(bytes, dataEnd);
    if (crc32(bytes, pos + 4, dataEnd) !== crc) throw new PngError(`CRC mismatch in chunk ${name} at byte ${pos}`);
    const data = bytes.subarray(dataStart, dataEnd);
    pos = dataEnd + 4;

    if (header === null && name !== 'IHDR') throw new PngError(`first chunk is ${name}, expected IHDR`);
    switch (name) {
      case 'IHDR': {
        if (header !== null) throw new PngError('more than one IHDR chunk');
        header = parseHeader(data, maxPixels);
        break;
      }
      case 'PLTE': {
        if (len % 3 !== 0 || len === 0 || len > 256 * 3) throw new PngError(`PLTE chunk has invalid length ${len}`);
        if (idat.length > 0) throw new PngError('PLTE chunk after IDAT');
        paletteSize = len / 3;
        palette = new Uint8Array(256 * 4); // unused entries: opaque black
        for (let i = 0; i < 256; i++) palette[i * 4 + 3] = 255;
        for (let i = 0; i < paletteSize; i++) {
          palette[i * 4] = data[i * 3];
          palette[i * 4 + 1] = data[i * 3 + 1];
          palette[i * 4 + 2] = data[i * 3 + 2];
        }
        break;
      }
      case 'tRNS': {
        const ct = header!.colorType;
        if (ct === PALETTE) {
          if (palette === null) throw new PngError('tRNS chunk before PLTE');
          if (len > paletteSize) throw new PngError(`tRNS has ${len} entries but the palette only ${paletteSize}`);
        } else if (ct === GRAY) {
          if (len !== 2) throw new PngError(`tRNS for a grayscale image must be 2 bytes, got ${len}`);
        } else if (ct === RGB) {
          if (len !== 6) throw new PngError(`tRNS for an RGB image must be 6 bytes, got ${len}`);
        } else {
          throw new PngError(`tRNS chunk is not allowed for colour type ${ct} (it has an alpha channel)`);
        }
        trns = data.slice();
        break;
      }
      case 'IDAT': {
        if (idat.length > 0 && lastName !== 'IDAT') throw new PngError('IDAT chunks are not consecutive');
        idat.push(data);
        idatBytes += len;
        break;
      }
      case 'IEND': {
        sawIend = true;
        break;
      }
      default: {
        // Bit 5 of the first letter clear (uppercase): critical, must be understood.
        if ((bytes[dataStart - 4] & 0x20) === 0) throw new PngError(`unknown critical chunk ${name}`);
      }
    }
    lastName = name;
    if (sawIend) break;
  }

  if (header === null) throw new PngError('no IHDR chunk');
  if (idat.length === 0) throw new PngError('no IDAT chunk (no image data)');
  if (!sawIend) throw new PngError('truncated file: no IEND chunk');
  if (header.colorType === PALETTE && palette === null) throw new PngError('palette image without a PLTE chunk');

  const { width, height, depth, colorType, interlace } = header;
  const bitsPerPixel = depth * CHANNELS[colorType];
  const passes = interlace ? ADAM7 : [[0, 0, 1, 1] as [number, number, number, number]];
  let expected = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw > 0 && ph > 0) expected += ph * (1 + rowBytes(pw, bitsPerPixel));
  }

  const compressed = idat.length === 1 ? idat[0] : concat(idat, idatBytes);
  let raw: Uint8Array;
  try {
    raw = inflateSync(compressed, { maxOutputLength: expected });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_BUFFER_TOO_LARGE') {
      throw new PngError(`image data inflates to more than the ${expected} bytes a ${width}x${height} image needs`);
    }
    throw new PngError(`corrupt image data (zlib: ${err.message})`);
  }
  if (raw.length !== expected) {
    throw new PngError(`image data too short: ${raw.length} bytes, a ${width}x${height} image needs ${expected} (truncated?)`);
  }

  const out = new Uint8ClampedArray(width * height * 4);
  const convert = makeConverter(header, palette, paletteSize, trns);
  const bpp = Math.max(1, bitsPerPixel >> 3); // filter unit: bytes per complete pixel
  let offset = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const pw = Math.ceil((width - x0) / dx);
    const ph = Math.ceil((height - y0) / dy);
    if (pw <= 0 || ph <= 0) continue;
    const rb = rowBytes(pw, bitsPerPixel);
    let prev = new Uint8Array(rb);
    let cur = new Uint8Array(rb);
    for (let r = 0; r < ph; r++) {
      const filter = raw[offset];
      unfilter(filter, raw.subarray(offset + 1, offset + 1 + rb), prev, cur, bpp, r);
      offset += 1 + rb;
      convert(cur, pw, out, ((y0 + r * dy) * width + x0) * 4, dx * 4);
      const t = prev;
      prev = cur;
      cur = t;
    }
  }
  return { width, height, data: out };
}

function parseHeader(data: Uint8Array, maxPixels: number): Header {
  if (data.length !== 13) throw new PngError(`IHDR must be 13 bytes, got ${data.length}`);
  const width = u32(data, 0);
  const height = u32(data, 4);
  const depth = data[8];
  const colorType = data[9];
  if (width === 0 || height === 0 || width > MAX_U31 || height > MAX_U31) {
    throw new PngError(`invalid dimensions ${width}x${height}`);
  }
  if (width * height > maxPixels) {
    throw new PngError(`image ${width}x${height} has ${width * height} pixels, more than the limit of ${maxPixels} (raise maxPixels to allow it)`);
  }
  if (!(colorType in LEGAL_DEPTHS)) throw new PngError(`invalid colour type ${colorType}`);
  if (!LEGAL_DEPTHS[colorType].includes(depth)) {
    throw new PngError(`bit depth ${depth} is not allowed for colour type ${colorType}`);
  }
  if (data[10] !== 0) throw new PngError(`unknown compression method ${data[10]}`);
  if (data[11] !== 0) throw new PngError(`unknown filter method ${data[11]}`);
  if (data[12] > 1) throw new PngError(`unknown interlace method ${data[12]}`);
  return { width, height, depth, colorType, interlace: data[12] };
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Undo one row's filter: src (filtered) -> cur, given the previous unfiltered row. */
function unfilter(filter: number, src: Uint8Array, prev: Uint8Array, cur: Uint8Array, bpp: number, row: number): void {
  const n = src.length;
  switch (filter) {
    case 0:
      cur.set(src);
      break;
    case 1: // Sub
      for (let i = 0; i < n; i++) cur[i] = src[i] + (i >= bpp ? cur[i - bpp] : 0);
      break;
    case 2: // Up
      for (let i = 0; i < n; i++) cur[i] = src[i] + prev[i];
      break;
    case 3: // Average
      for (let i = 0; i < n; i++) cur[i] = src[i] + (((i >= bpp ? cur[i - bpp] : 0) + prev[i]) >> 1);
      break;
    case 4: // Paeth
      for (let i = 0; i < n; i++) {
        cur[i] = src[i] + (i >= bpp ? paeth(cur[i - bpp], prev[i], prev[i - bpp]) : prev[i]);
      }
      break;
    default:
      throw new PngError(`invalid filter type ${filter} in row ${row}`);
  }
}

type Converter = (row: Uint8Array, w: number, out: Uint8ClampedArray, o: number, step: number) => void;

/** A function writing one unfiltered row of `w` pixels to RGBA at out[o], out[o + step], ... */
function makeConverter(h: Header, palette: Uint8Array | null, paletteSize: number, trns: Uint8Array | null): Converter {
  const { depth, colorType } = h;
  const s16 = (row: Uint8Array, i: number) => Math.round(((row[i] << 8) | row[i + 1]) / 257);
  switch (colorType) {
    case GRAY: {
      const key = trns ? (trns[0] << 8) | trns[1] : -1;
      if (depth === 16) {
        return (row, w, out, o, step) => {
          for (let x = 0; x < w; x++, o += step) {
            const raw = (row[2 * x] << 8) | row[2 * x + 1];
            out[o] = out[o + 1] = out[o + 2] = Math.round(raw / 257);
            out[o + 3] = raw === key ? 0 : 255;
          }
        };
      }
      const max = (1 << depth) - 1;
      const scale = 255 / max;
      const perByte = 8 / depth;
      return (row, w, out, o, step) => {
        for (let x = 0; x < w; x++, o += step) {
          const raw = depth === 8 ? row[x] : (row[(x / perByte) | 0] >> (8 - depth * ((x % perByte) + 1))) & max;
          out[o] = out[o + 1] = out[o + 2] = raw * scale;
          out[o + 3] = raw === key ? 0 : 255;
        }
      };
    }
    case RGB: {
      const k = trns ? [(trns[0] << 8) | trns[1], (trns[2] << 8) | trns[3], (trns[4] << 8) | trns[5]] : null;
      if (depth === 16) {
        return (row, w, out, o, step) => {
          for (let x = 0, i = 0; x < w; x++, o += step, i += 6) {
            out[o] = s16(row, i);
            out[o + 1] = s16(row, i + 2);
            out[o + 2] = s16(row, i + 4);
            const transparent = k !== null && ((row[i] << 8) | row[i + 1]) === k[0]
              && ((row[i + 2] << 8) | row[i + 3]) === k[1] && ((row[i + 4] << 8) | row[i + 5]) === k[2];
            out[o + 3] = transparent ? 0 : 255;
          }
        };
      }
      return (row, w, out, o, step) => {
        for (let x = 0, i = 0; x < w; x++, o += step, i += 3) {
          out[o] = row[i];
          out[o + 1] = row[i + 1];
          out[o + 2] = row[i + 2];
          const transparent = k !== null && row[i] === k[0] && row[i + 1] === k[1] && row[i + 2] === k[2];
          out[o + 3] = transparent ? 0 : 255;
        }
      };
    }
    case PALETTE: {
      const pal = palette!;
      if (trns) for (let i = 0; i < trns.length; i++) pal[i * 4 + 3] = trns[i];
      const max = (1 << depth) - 1;
      const perByte = 8 / depth;
      return (row, w, out, o, step) => {
        for (let x = 0; x < w; x++, o += step) {
          const idx = depth === 8 ? row[x] : (row[(x / perByte) | 0] >> (8 - depth * ((x % perByte) + 1))) & max;
          if (idx >= paletteSize) throw new PngError(`palette index ${idx} out of range (palette has ${paletteSize} entries)`);
          out[o] = pal[idx * 4];
          out[o + 1] = pal[idx * 4 + 1];
          out[o + 2] = pal[idx * 4 + 2];
          out[o + 3] = pal[idx * 4 + 3];
        }
      };
    }
    case GRAY_ALPHA: {
      if (depth === 16) {
        return (row, w, out, o, step) => {
          for (let x = 0, i = 0; x < w; x++, o += step, i += 4) {
            out[o] = out[o + 1] = out[o + 2] = s16(row, i);
            out[o + 3] = s16(row, i + 2);
          }
        };
      }
      return (row, w, out, o, step) => {
        for (let x = 0, i = 0; x < w; x++, o += step, i += 2) {
          out[o] = out[o + 1] = out[o + 2] = row[i];
          out[o + 3] = row[i + 1];
        }
      };
    }
    default: {
      // RGBA
      if (depth === 16) {
        return (row, w, out, o, step) => {
          for (let x = 0, i = 0; x < w; x++, o += step, i += 8) {
            out[o] = s16(row, i);
            out[o + 1] = s16(row, i + 2);
            out[o + 2] = s16(row, i + 4);
            out[o + 3] = s16(row, i + 6);
          }
        };
      }
      return (row, w, out, o, step) => {
        if (step === 4) {
          out.set(row.subarray(0, w * 4), o);
          return;
        }
        for (let x = 0, i = 0; x < w; x++, o += step, i += 4) {
          out[o] = row[i];
          out[o + 1] = row[i + 1];
          out[o + 2] = row[i + 2];
          out[o + 3] = row[i + 3];
        }
      };
    }
  }
}

// ---------------------------------------------------------------- encoding

/**
 * Encode 8-bit RGBA pixels (width * height * 4 bytes, row-major) as a PNG.
 * A fully opaque image is written as RGB unless `keepAlpha` is set.
 */
export function encodePng(
  width: number,
  height: number,
  rgba: Uint8Array | Uint8ClampedArray,
  options: EncodeOptions = {},
): Uint8Array {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > MAX_U31 || height > MAX_U31) {
    throw new PngError(`encodePng: invalid dimensions ${width}x${height}`);
  }
  if (rgba.length !== width * height * 4) {
    throw new PngError(`encodePng: expected ${width * height * 4} bytes for ${width}x${height} RGBA, got ${rgba.length}`);
  }
  let opaque = !options.keepAlpha;
  for (let i = 3; opaque && i < rgba.length; i += 4) if (rgba[i] !== 255) opaque = false;
  const channels = opaque ? 3 : 4;
  const rb = width * channels;

  // Filter every row, keeping the candidate with the smallest sum of |signed bytes|.
  const raw = new Uint8Array(height * (rb + 1));
  let prev = new Uint8Array(rb);
  let cur = new Uint8Array(rb);
  const cands = [0, 1, 2, 3, 4].map(() => new Uint8Array(rb));
  for (let y = 0; y < height; y++) {
    const src = y * width * 4;
    if (opaque) {
      for (let x = 0; x < width; x++) {
        cur[x * 3] = rgba[src + x * 4];
        cur[x * 3 + 1] = rgba[src + x * 4 + 1];
        cur[x * 3 + 2] = rgba[src + x * 4 + 2];
      }
    } else {
      cur.set(rgba.subarray(src, src + rb));
    }
    let best = 0;
    let bestCost = Infinity;
    for (let f = 0; f < 5; f++) {
      const c = cands[f];
      let cost = 0;
      for (let i = 0; i < rb; i++) {
        const a = i >= channels ? cur[i - channels] : 0;
        const b = prev[i];
        const cc = i >= channels ? prev[i - channels] : 0;
        const pred = f === 0 ? 0 : f === 1 ? a : f === 2 ? b : f === 3 ? (a + b) >> 1 : paeth(a, b, cc);
        const v = (cur[i] - pred) & 0xff;
        c[i] = v;
        cost += v < 128 ? v : 256 - v;
      }
      if (cost < bestCost) {
        bestCost = cost;
        best = f;
      }
    }
    raw[y * (rb + 1)] = best;
    raw.set(cands[best], y * (rb + 1) + 1);
    const t = prev;
    prev = cur;
    cur = t;
  }

  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8;
  ihdr[9] = opaque ? RGB : RGBA;
  const idat = deflateSync(raw, { level: options.level ?? zc.Z_BEST_COMPRESSION });
  const chunks = [chunk('IHDR', ihdr), chunk('IDAT', idat), chunk('IEND', new Uint8Array(0))];
  return concat([new Uint8Array(SIGNATURE), ...chunks], 8 + chunks.reduce((s, c) => s + c.length, 0));
}

function chunk(name: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = name.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out, 4, 8 + data.length));
  return out;
}

// ---------------------------------------------------------------- files

/** Read and decode a PNG file. */
export function readPng(path: string, options?: DecodeOptions): RgbaImage {
  return decodePng(readFileSync(path), options);
}

/** Encode and write a PNG file. */
export function writePng(path: string, img: { width: number; height: number; data: Uint8Array | Uint8ClampedArray }, options?: EncodeOptions): void {
  writeFileSync(path, encodePng(img.width, img.height, img.data, options));
}
