// numpy .npy and .npz reading and writing, bounds-checked, browser-safe (no
// node: imports).
//
// .npy: format versions 1.0, 2.0 and 3.0 are read; the header dict is parsed
// by a small literal parser (never evaluated). dtypes as in tools/ndarray.ts
// (f4, f8 -> f32, f2, i4, i8 -> i32, u1, b1), little-endian, C or Fortran
// order (Fortran data is transposed to C order). Written files are version
// 1.0, little-endian, C order, header padded so the data starts on a
// 64-byte boundary (as numpy does).
//
// .npz: a zip of .npy entries. Read: STORED entries only (np.savez); an entry
// compressed with deflate (np.savez_compressed) is refused with a message
// saying so, which keeps this module free of zlib and usable in browsers.
// ZIP64 records (numpy writes them in local headers) are understood; CRC-32
// is verified. Written: STORED entries with CRC-32, no ZIP64 (each entry and
// the archive under 4 GiB), names 'KEY.npy'.

import { NdArray, ArrayFormatError, checkedNumel, decodeNumpy, parseNumpyDtype, type NdDType, type NdData } from './ndarray.ts';

export { NdArray } from './ndarray.ts';

export class NpyError extends Error {
  override name = 'NpyError';
}

/** What the writers accept: a shape and row-major data. */
export interface ArrayLikeNd {
  dtype?: NdDType;
  shape: readonly number[];
  data: NdData;
}

const MAGIC = [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59]; // \x93NUMPY

// ---------- .npy ----------

/** Parses one .npy file. */
export function parseNpy(bytes: Uint8Array, where = '.npy'): NdArray {
  if (bytes.byteLength < 10) throw new NpyError(`${where}: too short to be a .npy file (${bytes.byteLength} bytes)`);
  for (let i = 0; i < 6; i++) if (bytes[i] !== MAGIC[i]) throw new NpyError(`${where}: not a .npy file (bad magic)`);
  const major = bytes[6];
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let headerLen: number;
  let start: number;
  if (major === 1) {
    headerLen = dv.getUint16(8, true);
    start = 10;
  } else if (major === 2 || major === 3) {
    if (bytes.byteLength < 12) throw new NpyError(`${where}: truncated header`);
    headerLen = dv.getUint32(8, true);
    start = 12;
  } else {
    throw new NpyError(`${where}: unsupported .npy format version ${major}.${bytes[7]}`);
  }
  if (headerLen > MAX_HEADER) throw new NpyError(`${where}: header of ${headerLen} bytes (limit ${MAX_HEADER})`);
  if (start + headerLen > bytes.byteLength) {
    throw new NpyError(`${where}: header claims ${headerLen} bytes but the file holds ${bytes.byteLength - start} after the preamble`);
  }
  const headerBytes = bytes.subarray(start, start + headerLen);
  const header = major === 3 ? new TextDecoder('utf-8').decode(headerBytes) : latin1(headerBytes);
  const { descr, fortran, shape } = parseHeader(header, where);
  let code: string;
  try {
    code = parseNumpyDtype(descr, where);
  } catch (e) {
    throw new NpyError((e as Error).message);
  }
  const dataStart = start + headerLen;
  try {
    const n = checkedNumel(shape, where);
    const itemsize = { f4: 4, f8: 8, f2: 2, i4: 4, i8: 8, u1: 1, b1: 1 }[code]!;
    const need = n * itemsize;
    const have = bytes.byteLength - dataStart;
    if (need > have) throw new NpyError(`${where}: shape [${shape.join(', ')}] of ${descr} needs ${need} data bytes but the file holds ${have} (truncated?)`);
    return decodeNumpy(bytes.subarray(dataStart, dataStart + need), code, shape, fortran, where);
  } catch (e) {
    if (e instanceof ArrayFormatError) throw new NpyError(e.message);
    throw e;
  }
}

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += String.fromCharCode(b[i]);
  return s;
}

const MAX_HEADER = 1 << 20;

/**
 * The header is a Python dict literal such as
 * "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }".
 */
function parseHeader(h: string, where: string): { descr: string; fortran: boolean; shape: number[] } {
  let i = 0;
  const bad = (msg: string): never => {
    throw new NpyError(`${where}: malformed header (${msg}): ${JSON.stringify(h.slice(0, 200))}`);
  };
  const ws = () => {
    while (i < h.length && /\s/.test(h[i])) i++;
  };
  const expect = (c: string) => {
    ws();
    if (h[i] !== c) bad(`expected '${c}' at ${i}`);
    i++;
  };
  const str = (): string => {
    ws();
    const q = h[i];
    if (q !== "'" && q !== '"') bad(`expected a string at ${i}`);
    const end = h.indexOf(q, i + 1);
    if (end < 0) bad('unterminated string');
    const s = h.slice(i + 1, end);
    i = end + 1;
    return s;
  };
  const value = (): unknown => {
    ws();
    if (h[i] === "'" || h[i] === '"') return str();
    if (h.startsWith('True', i)) return (i += 4), true;
    if (h.startsWith('False', i)) return (i += 5), false;
    if (h[i] === '(') {
      i++;
      const dims: number[] = [];
      for (;;) {
        ws();
        if (h[i] === ')') {
          i++;
          return dims;
        }
        const m = /^\d+L?/.exec(h.slice(i, i + 24));
        if (!m) bad(`expected a dimension at ${i}`);
        dims.push(Number(m![0].replace('L', '')));
        i += m![0].length;
        ws();
        if (h[i] === ',') i++;
        else if (h[i] !== ')') bad(`expected ',' or ')' at ${i}`);
      }
    }
    return bad(`unsupported value at ${i} (structured dtypes are not supported)`);
  };
  expect('{');
  const fields = new Map<string, unknown>();
  for (;;) {
    ws();
    if (h[i] === '}') break;
    const k = str();
    expect(':');
    fields.set(k, value());
    ws();
    if (h[i] === ',') i++;
    else if (h[i] !== '}') bad(`expected ',' or '}' at ${i}`);
  }
  const descr = fields.get('descr');
  const fortran = fields.get('fortran_order');
  const shape = fields.get('shape');
  if (typeof descr !== 'string') bad("no string 'descr'");
  if (typeof fortran !== 'boolean') bad("no boolean 'fortran_order'");
  if (!Array.isArray(shape)) bad("no tuple 'shape'");
  return { descr: descr as string, fortran: fortran as boolean, shape: shape as number[] };
}

const DESCR: Record<NdDType, string> = { f32: '<f4', f16: '<f2', i32: '<i4', u8: '|u1', bool: '|b1' };

function dtypeOf(a: ArrayLikeNd): NdDType {
  if (a.dtype) return a.dtype;
  if (a.data instanceof Float32Array) return 'f32';
  if (a.data instanceof Int32Array) return 'i32';
  if (a.data instanceof Uint16Array) return 'f16';
  return 'u8';
}

/** Encodes one array as a version 1.0 .npy file (little-endian, C order). */
export function encodeNpy(a: ArrayLikeNd): Uint8Array {
  const dtype = dtypeOf(a);
  const expected = { f32: Float32Array, f16: Uint16Array, i32: Int32Array, u8: Uint8Array, bool: Uint8Array }[dtype];
  if (!(a.data instanceof expected)) throw new NpyError(`encodeNpy: dtype ${dtype} needs a ${expected.name}, got ${a.data.constructor.name}`);
  const n = checkedNumel([...a.shape], 'encodeNpy');
  if (n !== a.data.length) throw new NpyError(`encodeNpy: shape [${a.shape.join(', ')}] holds ${n} values but data has ${a.data.length}`);
  const shape = a.shape.length === 1 ? `(${a.shape[0]},)` : `(${a.shape.join(', ')})`;
  let dict = `{'descr': '${DESCR[dtype]}', 'fortran_order': False, 'shape': ${shape}, }`;
  const unpadded = 10 + dict.length + 1;
  dict += ' '.repeat((64 - (unpadded % 64)) % 64) + '\n';
  if (dict.length > 0xffff) throw new NpyError('encodeNpy: header too long');
  const data = new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength);
  const out = new Uint8Array(10 + dict.length + data.byteLength);
  out.set(MAGIC, 0);
  out[6] = 1;
  out[7] = 0;
  new DataView(out.buffer).setUint16(8, dict.length, true);
  for (let i = 0; i < dict.length; i++) out[10 + i] = dict.charCodeAt(i);
  out.set(data, 10 + dict.length);
  return out;
}

// ---------- CRC-32 (zip) ----------

let crcTable: Uint32Array | null = null;

export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

// ---------- .npz ----------

export interface ZipEntry {
  name: string;
  method: number;
  crc: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

const MAX_ENTRIES = 65536;

function u64(dv: DataView, at: number, where: string): number {
  const lo = dv.getUint32(at, true);
  const hi = dv.getUint32(at + 4, true);
  if (hi >= 0x200000) throw new NpyError(`${where}: 64-bit size or offset out of range`);
  return hi * 2 ** 32 + lo;
}

/** Lists a zip archive's entries from its central directory (bounds-checked). */
export function listZip(bytes: Uint8Array, where = '.npz'): ZipEntry[] {
  const len = bytes.byteLength;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, len);
  if (len < 22) throw new NpyError(`${where}: too short to be a zip archive (${len} bytes)`);
  // End of central directory: scan back over at most a 64 KiB comment.
  let eocd = -1;
  for (let i = len - 22; i >= Math.max(0, len - 22 - 0xffff); i--) {
    if (dv.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new NpyError(`${where}: not a zip archive (no end-of-central-directory record; truncated?)`);
  let count = dv.getUint16(eocd + 10, true);
  let cdSize = dv.getUint32(eocd + 12, true);
  let cdOffset = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || cdSize === 0xffffffff || cdOffset === 0xffffffff) {
    // ZIP64 end-of-central-directory locator sits just before.
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) throw new NpyError(`${where}: ZIP64 locator missing`);
    const rec = u64(dv, loc + 8, where);
    if (rec + 56 > len || dv.getUint32(rec, true) !== 0x06064b50) throw new NpyError(`${where}: ZIP64 end record out of bounds`);
    count = u64(dv, rec + 32, where);
    cdSize = u64(dv, rec + 40, where);
    cdOffset = u64(dv, rec + 48, where);
  }
  if (count > MAX_ENTRIES) throw new NpyError(`${where}: ${count} entries (limit ${MAX_ENTRIES})`);
  if (cdOffset + cdSize > len) throw new NpyError(`${where}: central directory [${cdOffset}, +${cdSize}) lies outside the ${len}-byte file`);
  const entries: ZipEntry[] = [];
  let p = cdOffset;
  const end = cdOffset + cdSize;
  for (let k = 0; k < count; k++) {
    if (p + 46 > end || dv.getUint32(p, true) !== 0x02014b50) throw new NpyError(`${where}: corrupt central directory entry ${k}`);
    const flags = dv.getUint16(p + 8, true);
    const method = dv.getUint16(p + 10, true);
    const crc = dv.getUint32(p + 16, true);
    let compressedSize = dv.getUint32(p + 20, true);
    let size = dv.getUint32(p + 24, true);
    const nameLen = dv.getUint16(p + 28, true);
    const extraLen = dv.getUint16(p + 30, true);
    const commentLen = dv.getUint16(p + 32, true);
    let localOffset = dv.getUint32(p + 42, true);
    if (p + 46 + nameLen + extraLen + commentLen > end) throw new NpyError(`${where}: central directory entry ${k} overruns the directory`);
    const nameBytes = bytes.subarray(p + 46, p + 46 + nameLen);
    const name = flags & 0x800 ? new TextDecoder('utf-8').decode(nameBytes) : latin1(nameBytes);
    // ZIP64 extra field: the values saturated above, in this order.
    let e = p + 46 + nameLen;
    const eEnd = e + extraLen;
    while (e + 4 <= eEnd) {
      const id = dv.getUint16(e, true);
      const sz = dv.getUint16(e + 2, true);
      if (e + 4 + sz > eEnd) break;
      if (id === 0x0001) {
        let q = e + 4;
        const take = () => {
          if (q + 8 > e + 4 + sz) throw new NpyError(`${where}: short ZIP64 extra field in '${name}'`);
          const v = u64(dv, q, where);
          q += 8;
          return v;
        };
        if (size === 0xffffffff) size = take();
        if (compressedSize === 0xffffffff) compressedSize = take();
        if (localOffset === 0xffffffff) localOffset = take();
      }
      e += 4 + sz;
    }
    entries.push({ name, method, crc, compressedSize, size, localOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

/** The stored bytes of one zip entry (CRC-checked). */
export function zipEntryData(bytes: Uint8Array, e: ZipEntry, where = '.npz'): Uint8Array {
  const len = bytes.byteLength;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, len);
  if (e.method === 8) {
    const npz = where.endsWith('.npz');
    throw new NpyError(
      `${where}: entry '${e.name}' is deflate-compressed${npz ? ' (np.savez_compressed); only uncompressed archives (np.savez) are read' : '; only stored (uncompressed) entries are read'}`,
    );
  }
  if (e.method !== 0) throw new NpyError(`${where}: entry '${e.name}' uses compression method ${e.method}; only stored entries are read`);
  if (e.localOffset + 30 > len || dv.getUint32(e.localOffset, true) !== 0x04034b50) {
    throw new NpyError(`${where}: local header of '${e.name}' missing or outside the file`);
  }
  const start = e.localOffset + 30 + dv.getUint16(e.localOffset + 26, true) + dv.getUint16(e.localOffset + 28, true);
  if (e.size !== e.compressedSize) throw new NpyError(`${where}: stored entry '${e.name}' has different sizes`);
  if (start + e.size > len) throw new NpyError(`${where}: data of '${e.name}' [${start}, +${e.size}) runs past the end of the file (truncated?)`);
  const data = bytes.subarray(start, start + e.size);
  const crc = crc32(data);
  if (crc !== e.crc) throw new NpyError(`${where}: CRC mismatch in '${e.name}' (corrupt archive)`);
  return data;
}

/** Reads an .npz archive: entry name without '.npy' -> array, in archive order. */
export function readNpz(bytes: Uint8Array, where = '.npz'): Map<string, NdArray> {
  const out = new Map<string, NdArray>();
  for (const e of listZip(bytes, where)) {
    if (e.name.endsWith('/')) continue;
    const key = e.name.endsWith('.npy') ? e.name.slice(0, -4) : e.name;
    if (out.has(key)) throw new NpyError(`${where}: duplicate entry '${e.name}'`);
    out.set(key, parseNpy(zipEntryData(bytes, e, where), `${where}:${e.name}`));
  }
  return out;
}

/** Writes an uncompressed .npz (np.savez layout): each KEY as 'KEY.npy'. */
export function writeNpz(arrays: Map<string, ArrayLikeNd> | Record<string, ArrayLikeNd>): Uint8Array {
  const list = arrays instanceof Map ? [...arrays] : Object.entries(arrays);
  return writeZip(list.map(([k, a]) => ({ name: `${k}.npy`, data: encodeNpy(a) })), 'writeNpz');
}

/** Writes a zip archive of stored entries with CRC-32 (no ZIP64: under 4 GiB and 65535 entries). */
export function writeZip(entries: { name: string; data: Uint8Array }[], where = 'writeZip'): Uint8Array {
  const enc = new TextEncoder();
  const files = entries.map(({ name, data }) => ({ name: enc.encode(name), data, crc: crc32(data) }));
  let size = 22;
  for (const f of files) size += 30 + f.name.length + f.data.length + 46 + f.name.length;
  if (size > 0xffffffff || files.length > 0xffff) throw new NpyError(`${where}: archive over 4 GiB or 65535 entries (ZIP64 is not written)`);
  const out = new Uint8Array(size);
  const dv = new DataView(out.buffer);
  let p = 0;
  const offsets: number[] = [];
  const utf8Flag = 0x800;
  for (const f of files) {
    offsets.push(p);
    dv.setUint32(p, 0x04034b50, true);
    dv.setUint16(p + 4, 20, true); // version needed
    dv.setUint16(p + 6, utf8Flag, true);
    dv.setUint16(p + 8, 0, true); // stored
    dv.setUint32(p + 10, 0x00210000, true); // time/date: 1980-01-01
    dv.setUint32(p + 14, f.crc, true);
    dv.setUint32(p + 18, f.data.length, true);
    dv.setUint32(p + 22, f.data.length, true);
    dv.setUint16(p + 26, f.name.length, true);
    dv.setUint16(p + 28, 0, true);
    out.set(f.name, p + 30);
    out.set(f.data, p + 30 + f.name.length);
    p += 30 + f.name.length + f.data.length;
  }
  const cdStart = p;
  files.forEach((f, k) => {
    dv.setUint32(p, 0x02014b50, true);
    dv.setUint16(p + 4, 20, true); // made by
    dv.setUint16(p + 6, 20, true); // needed
    dv.setUint16(p + 8, utf8Flag, true);
    dv.setUint16(p + 10, 0, true);
    dv.setUint32(p + 12, 0x00210000, true);
    dv.setUint32(p + 16, f.crc, true);
    dv.setUint32(p + 20, f.data.length, true);
    dv.setUint32(p + 24, f.data.length, true);
    dv.setUint16(p + 28, f.name.length, true);
    // extra, comment, disk, internal attrs: 0; external attrs: 0
    dv.setUint32(p + 42, offsets[k], true);
    out.set(f.name, p + 46);
    p += 46 + f.name.length;
  });
  dv.setUint32(p, 0x06054b50, true);
  dv.setUint16(p + 8, files.length, true);
  dv.setUint16(p + 10, files.length, true);
  dv.setUint32(p + 12, p - cdStart, true);
  dv.setUint32(p + 16, cdStart, true);
  return out;
}

/** Convenience: an NdArray from typed data (row-major). */
export function ndarray(shape: number[], data: NdData, dtype?: NdDType): NdArray {
  const a = { shape, data, dtype };
  const dt = dtypeOf(a);
  if (checkedNumel(shape) !== data.length) throw new NpyError(`ndarray: shape [${shape}] does not hold ${data.length} values`);
  return new NdArray(dt, [...shape], data, { f32: 'f4', f16: 'f2', i32: 'i4', u8: 'u1', bool: 'b1' }[dt]);
}
