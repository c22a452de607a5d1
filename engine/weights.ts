// The project's weight file: named tensors plus a free-form JSON `meta`
// object (the engine does not interpret it; the converter stores preset,
// config and overrides there). Browser-safe: no node: imports.
//
// Layout (all integers little-endian):
//   bytes 0-7    magic "PIOWGT\0\0"
//   bytes 8-11   u32 format version (WEIGHT_FORMAT_VERSION = 1)
//   bytes 12-15  u32 header length H in bytes
//   bytes 16..   H bytes of UTF-8 JSON:
//                { "version": 1, "meta": {...},
//                  "tensors": [{ "name", "dtype": "f32"|"f16"|"i32",
//                                "shape": [...], "offset", "bytes" }, ...] }
//   zero padding, then each tensor's data at its `offset` (from the start of
//   the file, a multiple of 256, in header order, non-overlapping, zero
//   padding between), little-endian, row-major. bytes = prod(shape) * size.
// The file ends at the end of the last tensor.
//
// Readers: parseWeightHeader (validation only) and loadWeights (streams the
// tensors to the GPU one at a time from bytes, a fetch Response or a
// ReadableStream; f16 tensors are widened to f32 on the host unless
// keepF16). Writers: encodeWeights (in memory) and WeightWriter (incremental,
// to any sink, e.g. a file: only one tensor is in flight at a time).

import type { Gpu } from './gpu.ts';
import { Tensor, upload } from './tensor.ts';
import { f32ToF16, fromHalfBits, toHalfBits } from './f16.ts';

export const WEIGHT_MAGIC = new Uint8Array([0x50, 0x49, 0x4f, 0x57, 0x47, 0x54, 0x00, 0x00]); // "PIOWGT\0\0"
export const WEIGHT_FORMAT_VERSION = 1;
export const WEIGHT_ALIGN = 256;
/** Fixed preamble: magic, version, header length. */
export const WEIGHT_PREAMBLE = 16;
/** Largest JSON header accepted (16 MiB). */
export const MAX_WEIGHT_HEADER = 16 * 2 ** 20;
const MAX_TENSORS = 1_000_000;
const MAX_RANK = 16;

export type WeightDType = 'f32' | 'f16' | 'i32';
export const WEIGHT_DTYPE_BYTES: Readonly<Record<WeightDType, number>> = Object.freeze({ f32: 4, f16: 2, i32: 4 });

export interface WeightSpec {
  name: string;
  dtype: WeightDType;
  shape: readonly number[];
}

export interface WeightTensorInfo {
  name: string;
  dtype: WeightDType;
  shape: number[];
  offset: number;
  bytes: number;
}

export interface WeightHeader {
  version: number;
  meta: Record<string, unknown>;
  tensors: WeightTensorInfo[];
  /** where the data section starts (after the padded JSON header) */
  dataStart: number;
  /** the file's length according to the header (end of the last tensor) */
  totalBytes: number;
}

/** Host data for one tensor: f16 may be given as Float32Array (converted) or as Uint16Array bits. */
export type WeightData = Float32Array | Uint16Array | Int32Array;

export interface HostTensor extends WeightSpec {
  data: WeightData;
}

export class WeightFormatError extends Error {
  override name = 'WeightFormatError';
}

const align = (n: number) => Math.ceil(n / WEIGHT_ALIGN) * WEIGHT_ALIGN;

/** The byte size of a tensor spec, or a WeightFormatError saying what is wrong with it. */
function checkSpec({ name, dtype, shape }: WeightSpec, where: string): number {
  const bad = (what: string): never => {
    throw new WeightFormatError(`${where}: tensor '${String(name)}' has ${what}`);
  };
  if (typeof name !== 'string' || !name || name.length > 4096) bad('a bad name');
  if (!Object.hasOwn(WEIGHT_DTYPE_BYTES, dtype)) bad(`unknown dtype ${JSON.stringify(dtype)}`);
  if (!Array.isArray(shape) || shape.length > MAX_RANK) bad('a bad shape');
  let n = 1;
  for (const d of shape) {
    if (!Number.isSafeInteger(d) || d < 0) bad(`bad dimension ${JSON.stringify(d)} in [${shape}]`);
    n *= d;
    if (n > Number.MAX_SAFE_INTEGER / 8) bad(`an absurdly large shape [${shape}]`);
  }
  return n * WEIGHT_DTYPE_BYTES[dtype];
}

/** Lays out a file for these tensors: the header and the bytes that precede the data. */
export function planWeights(meta: Record<string, unknown>, specs: readonly WeightSpec[]): { header: WeightHeader; prefix: Uint8Array } {
  if (specs.length > MAX_TENSORS) throw new WeightFormatError(`planWeights: ${specs.length} tensors (limit ${MAX_TENSORS})`);
  const names = new Set<string>();
  const sizes = specs.map((s) => {
    const b = checkSpec(s, 'planWeights');
    if (names.has(s.name)) throw new WeightFormatError(`planWeights: duplicate tensor name '${s.name}'`);
    names.add(s.name);
    return b;
  });
  // The JSON length depends on the offsets, which depend on the JSON length:
  // iterate until stable (two rounds in practice).
  let dataStart = align(WEIGHT_PREAMBLE + 64);
  for (let round = 0; round < 8; round++) {
    let off = dataStart;
    const tensors: WeightTensorInfo[] = specs.map((s, i) => {
      const t = { name: s.name, dtype: s.dtype, shape: [...s.shape], offset: off, bytes: sizes[i] };
      off = align(off + sizes[i]);
      return t;
    });
    const json = new TextEncoder().encode(JSON.stringify({ version: WEIGHT_FORMAT_VERSION, meta, tensors }));
    if (json.length > MAX_WEIGHT_HEADER) throw new WeightFormatError(`planWeights: header of ${json.length} bytes (limit ${MAX_WEIGHT_HEADER})`);
    const need = align(WEIGHT_PREAMBLE + json.length);
    if (need <= dataStart) {
      const prefix = new Uint8Array(dataStart);
      prefix.set(WEIGHT_MAGIC, 0);
      const dv = new DataView(prefix.buffer);
      dv.setUint32(8, WEIGHT_FORMAT_VERSION, true);
      dv.setUint32(12, json.length, true);
      prefix.set(json, WEIGHT_PREAMBLE);
      const last = tensors[tensors.length - 1];
      const totalBytes = last ? last.offset + last.bytes : dataStart;
      return { header: { version: WEIGHT_FORMAT_VERSION, meta, tensors, dataStart, totalBytes }, prefix };
    }
    dataStart = need;
  }
  throw new WeightFormatError('planWeights: header layout did not settle');
}

/** The bytes to store for one tensor (f32 data converted to f16 bits where the spec says f16). */
function storedBytes(spec: WeightSpec, data: WeightData, expectBytes: number): Uint8Array {
  let d: ArrayBufferView;
  if (spec.dtype === 'f16') {
    if (data instanceof Float32Array) d = f32ToF16(data);
    else if (data instanceof Uint16Array) d = data;
    else throw new WeightFormatError(`tensor '${spec.name}' is f16 but its data is ${data.constructor.name}`);
  } else if (spec.dtype === 'f32') {
    if (!(data instanceof Float32Array)) throw new WeightFormatError(`tensor '${spec.name}' is f32 but its data is ${data.constructor.name}`);
    d = data;
  } else {
    if (!(data instanceof Int32Array)) throw new WeightFormatError(`tensor '${spec.name}' is i32 but its data is ${data.constructor.name}`);
    d = data;
  }
  if (d.byteLength !== expectBytes) {
    throw new WeightFormatError(`tensor '${spec.name}' [${spec.shape}] ${spec.dtype} needs ${expectBytes} bytes, its data has ${d.byteLength}`);
  }
  return new Uint8Array(d.buffer, d.byteOffset, d.byteLength);
}

export interface EncodeOptions {
  /** store float tensors (dtype f32 or f16) in this dtype; default: as given */
  floatDtype?: 'f32' | 'f16';
}

function withFloatDtype<T extends WeightSpec>(t: T, opts: EncodeOptions): T {
  if (!opts.floatDtype || t.dtype === 'i32') return t;
  return { ...t, dtype: opts.floatDtype };
}

/** Encodes a whole weight file in memory. */
export function encodeWeights(meta: Record<string, unknown>, tensors: readonly HostTensor[], opts: EncodeOptions = {}): Uint8Array {
  const list = tensors.map((t) => withFloatDtype(t, opts));
  const { header, prefix } = planWeights(meta, list);
  const out = new Uint8Array(header.totalBytes);
  out.set(prefix, 0);
  list.forEach((t, i) => {
    const info = header.tensors[i];
    if (t.dtype === 'f16' && t.data instanceof Float32Array) {
      // f32 -> f16 conversion straight into the output
      const bits = new Uint16Array(out.buffer, info.offset, info.bytes / 2);
      if (t.data.length * 2 !== info.bytes) storedBytes(t, t.data, info.bytes); // throws the size error
      for (let k = 0; k < t.data.length; k++) bits[k] = toHalfBits(t.data[k]);
    } else {
      out.set(storedBytes(t, t.data, info.bytes), info.offset);
    }
  });
  return out;
}

/**
 * Writes a weight file incrementally: the header first, then each tensor in
 * the order of `specs` (one `write` per tensor), to any sink (a file, a
 * WritableStream writer, an array of chunks). Only the tensor being written
 * is held in memory.
 */
export class WeightWriter {
  readonly header: WeightHeader;
  private readonly prefix: Uint8Array;
  private next = 0;
  private pos = 0;
  private started = false;

  constructor(
    meta: Record<string, unknown>,
    specs: readonly WeightSpec[],
    private readonly sink: (chunk: Uint8Array) => void | Promise<void>,
  ) {
    const p = planWeights(meta, specs);
    this.header = p.header;
    this.prefix = p.prefix;
  }

  /** The spec expected by the next `write`, or null when all are written. */
  get pending(): WeightTensorInfo | null {
    return this.header.tensors[this.next] ?? null;
  }

  async write(name: string, data: WeightData): Promise<void> {
    if (!this.started) {
      await this.sink(this.prefix);
      this.pos = this.prefix.length;
      this.started = true;
    }
    const info = this.header.tensors[this.next];
    if (!info) throw new WeightFormatError(`WeightWriter: '${name}' written after the last tensor`);
    if (info.name !== name) throw new WeightFormatError(`WeightWriter: expected tensor '${info.name}' next, got '${name}'`);
    if (info.offset > this.pos) await this.sink(new Uint8Array(info.offset - this.pos));
    const bytes = storedBytes(info, data, info.bytes);
    await this.sink(bytes);
    this.pos = info.offset + info.bytes;
    this.next++;
  }

  /** Checks every tensor was written (and writes the header if there were none). */
  async finish(): Promise<WeightHeader> {
    if (!this.started) {
      await this.sink(this.prefix);
      this.started = true;
    }
    if (this.next !== this.header.tensors.length) {
      throw new WeightFormatError(`WeightWriter: ${this.header.tensors.length - this.next} tensors not written (next: '${this.header.tensors[this.next].name}')`);
    }
    return this.header;
  }
}

// ---------- reading ----------

const isObject = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);

/** Reads the preamble; returns the header length. */
function readPreamble(bytes: Uint8Array, fileLength: number | null): number {
  if (bytes.byteLength < WEIGHT_PREAMBLE) {
    throw new WeightFormatError(`not a weight file: ${bytes.byteLength} bytes, shorter than the ${WEIGHT_PREAMBLE}-byte preamble (truncated?)`);
  }
  if (WEIGHT_MAGIC.some((b, i) => bytes[i] !== b)) {
    throw new WeightFormatError('not a weight file (bad magic; expected "PIOWGT"). Convert checkpoints with `npm run convert`.');
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = dv.getUint32(8, true);
  if (version !== WEIGHT_FORMAT_VERSION) {
    throw new WeightFormatError(`weight format version ${version}; this build reads version ${WEIGHT_FORMAT_VERSION} (re-convert the checkpoint)`);
  }
  const len = dv.getUint32(12, true);
  if (len > MAX_WEIGHT_HEADER) throw new WeightFormatError(`weight header of ${len} bytes (limit ${MAX_WEIGHT_HEADER}); corrupt file?`);
  if (fileLength !== null && WEIGHT_PREAMBLE + len > fileLength) {
    throw new WeightFormatError(`truncated weight file: the header needs ${WEIGHT_PREAMBLE + len} bytes, the file has ${fileLength}`);
  }
  return len;
}

/**
 * Validates a weight file's header. `bytes` must hold at least the preamble
 * and the JSON header; `fileLength` is the whole file's length (default
 * bytes.byteLength; null when unknown, e.g. a stream: then the data ranges
 * are checked while reading).
 */
export function parseWeightHeader(bytes: Uint8Array, fileLength: number | null = bytes.byteLength): WeightHeader {
  const len = readPreamble(bytes, fileLength);
  if (bytes.byteLength < WEIGHT_PREAMBLE + len) {
    throw new WeightFormatError(`truncated weight file: the header needs ${WEIGHT_PREAMBLE + len} bytes, only ${bytes.byteLength} are here`);
  }
  let h: unknown;
  try {
    h = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(WEIGHT_PREAMBLE, WEIGHT_PREAMBLE + len)));
  } catch (e) {
    throw new WeightFormatError(`corrupt weight header (not UTF-8 JSON): ${(e as Error).message}`);
  }
  if (!isObject(h)) throw new WeightFormatError('corrupt weight header: not a JSON object');
  if (h.version !== WEIGHT_FORMAT_VERSION) throw new WeightFormatError(`weight header version ${JSON.stringify(h.version)}; this build reads ${WEIGHT_FORMAT_VERSION}`);
  const meta = h.meta ?? {};
  if (!isObject(meta)) throw new WeightFormatError('corrupt weight header: meta is not an object');
  if (!Array.isArray(h.tensors) || h.tensors.length > MAX_TENSORS) throw new WeightFormatError(`corrupt weight header: no tensor list (or over ${MAX_TENSORS} tensors)`);
  const dataStart = align(WEIGHT_PREAMBLE + len);
  const names = new Set<string>();
  const tensors: WeightTensorInfo[] = [];
  for (const t of h.tensors as unknown[]) {
    if (!isObject(t)) throw new WeightFormatError('corrupt weight header: a tensor entry is not an object');
    const { name, dtype, shape, offset, bytes: stated } = t as unknown as WeightTensorInfo;
    const bytesNeeded = checkSpec({ name, dtype, shape }, 'weight header');
    if (names.has(name)) throw new WeightFormatError(`weight header: duplicate tensor '${name}'`);
    names.add(name);
    const what = `weight header: tensor '${name}'`;
    if (!Number.isSafeInteger(offset) || offset < dataStart || offset % WEIGHT_ALIGN) {
      throw new WeightFormatError(`${what} has bad offset ${JSON.stringify(offset)} (must be a multiple of ${WEIGHT_ALIGN} at or after ${dataStart})`);
    }
    if (stated !== bytesNeeded) throw new WeightFormatError(`${what} [${shape}] ${dtype} needs ${bytesNeeded} bytes, header says ${JSON.stringify(stated)}`);
    if (fileLength !== null && offset + bytesNeeded > fileLength) {
      throw new WeightFormatError(`truncated weight file: tensor '${name}' ends at byte ${offset + bytesNeeded}, the file has ${fileLength}`);
    }
    tensors.push({ name, dtype, shape: [...shape], offset, bytes: bytesNeeded });
  }
  let end = dataStart;
  let prev = '';
  for (const t of [...tensors].sort((a, b) => a.offset - b.offset)) {
    if (t.offset < end) throw new WeightFormatError(`weight header: tensor '${t.name}' overlaps '${prev}'`);
    end = t.offset + t.bytes;
    prev = t.name;
  }
  return { version: WEIGHT_FORMAT_VERSION, meta, tensors, dataStart, totalBytes: end };
}

// ---------- loading onto the GPU ----------

export type WeightSource = Uint8Array | ArrayBuffer | Response | ReadableStream<Uint8Array> | WeightProvider;

/**
 * Something that produces a weight file on request: e.g. perceiver/hub's
 * `hub('deepmind/vision-perceiver-conv')`, which downloads and converts a
 * HuggingFace checkpoint. It reports its own progress (one figure over all
 * its work); loading the file it gives then reports none.
 */
export interface WeightProvider {
  weightFile(opts: { onProgress?(loaded: number, total: number, name: string): void }): Promise<Uint8Array | Response>;
}

const isProvider = (s: WeightSource): s is WeightProvider => typeof (s as WeightProvider).weightFile === 'function';

export interface LoadOptions {
  /** called after each tensor: file bytes consumed so far, the file's length, the tensor's name */
  onProgress?(loadedBytes: number, totalBytes: number, name: string): void;
  /** called with the header's meta before any tensor is uploaded; throw to refuse the file */
  expectMeta?(meta: Record<string, unknown>): void;
  /** keep f16-stored tensors as f16 on the GPU: all (true) or those the function picks (default: widen to f32 on the host) */
  keepF16?: boolean | ((name: string, shape: readonly number[]) => boolean);
}

export interface LoadedWeights {
  meta: Record<string, unknown>;
  header: WeightHeader;
  tensors: Map<string, Tensor>;
}

/**
 * Sequential reads over a source's chunks: a stream's, or a single one for
 * bytes in memory (then every read is a view, no copy). `length` is the
 * file's length when known.
 */
function openSource(source: Exclude<WeightSource, WeightProvider>) {
  let next: () => Promise<Uint8Array | ArrayBuffer | undefined>;
  let cancel = async () => {};
  let length: number | null = null;
  if (source instanceof ArrayBuffer) source = new Uint8Array(source);
  if (source instanceof Uint8Array) {
    let whole: Uint8Array | undefined = source;
    length = source.byteLength;
    next = async () => [whole, (whole = undefined)][0];
  } else {
    if (typeof Response !== 'undefined' && source instanceof Response) {
      if (!source.ok) throw new WeightFormatError(`weight file request failed: HTTP ${source.status} ${source.statusText}`);
      const cl = source.headers.get('content-length');
      // a compressed transfer's content-length is not the file's
      if (!source.headers.get('content-encoding') && cl && /^\d+$/.test(cl)) length = Number(cl);
      if (!source.body) throw new WeightFormatError('weight file response has no body');
      source = source.body;
    }
    if (!(typeof ReadableStream !== 'undefined' && source instanceof ReadableStream)) {
      throw new WeightFormatError('loadWeights: source must be a Uint8Array, an ArrayBuffer, a Response or a ReadableStream');
    }
    const reader = source.getReader();
    next = async () => (await reader.read()).value;
    cancel = () => reader.cancel().catch(() => {});
  }
  let chunk: Uint8Array = new Uint8Array(0);
  let pos = 0; // bytes read so far
  return {
    length,
    cancel,
    /** exactly n bytes from the current position (throws when the source ends first); `skip`: only pass over them */
    async read(n: number, what: string, skip = false): Promise<Uint8Array> {
      const want = pos + n;
      if (chunk.byteLength >= n) {
        pos = want;
        const out = chunk.subarray(0, n);
        chunk = chunk.subarray(n);
        return out;
      }
      const out = new Uint8Array(skip ? 0 : n);
      while (pos < want) {
        if (!chunk.byteLength) {
          const c = await next();
          if (!c) throw new WeightFormatError(`truncated weight file: ${what} needs bytes up to ${want}, the file ends at ${pos}`);
          chunk = c instanceof Uint8Array ? c : new Uint8Array(c);
        }
        const k = Math.min(want - pos, chunk.byteLength);
        if (!skip) out.set(chunk.subarray(0, k), n - (want - pos));
        chunk = chunk.subarray(k);
        pos += k;
      }
      return out;
    },
  };
}

let halfTable: Float32Array | null = null;

/** f16 bits -> f32 through a 64K-entry table (exact). */
export function widenF16(bits: Uint16Array): Float32Array {
  if (!halfTable) {
    halfTable = new Float32Array(65536);
    for (let i = 0; i < 65536; i++) halfTable[i] = fromHalfBits(i);
  }
  const t = halfTable;
  // a plain loop: Float32Array.from(bits, fn) goes through the iterator protocol, ~100x slower
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = t[bits[i]];
  return out;
}

/** A typed view of `raw` (copied when its bytes are not aligned for the type). */
function typed<T extends Float32Array | Int32Array | Uint16Array>(raw: Uint8Array, Type: { new (b: ArrayBuffer, offset: number, length: number): T; BYTES_PER_ELEMENT: number }): T {
  const a = raw.byteOffset % Type.BYTES_PER_ELEMENT ? raw.slice() : raw;
  return new Type(a.buffer as ArrayBuffer, a.byteOffset, a.byteLength / Type.BYTES_PER_ELEMENT);
}

/**
 * Loads a weight file onto the GPU, one tensor at a time (at most one tensor
 * is held on the host). Tensors already uploaded are disposed if loading fails.
 */
export async function loadWeights(gpu: Gpu, source: WeightSource, opts: LoadOptions = {}): Promise<LoadedWeights> {
  if (isProvider(source)) {
    source = await source.weightFile({ onProgress: opts.onProgress });
    opts = { ...opts, onProgress: undefined };
  }
  const r = openSource(source);
  const tensors = new Map<string, Tensor>();
  try {
    const pre = await r.read(WEIGHT_PREAMBLE, 'the preamble');
    const len = readPreamble(pre, r.length);
    const head = new Uint8Array(WEIGHT_PREAMBLE + len);
    head.set(pre);
    head.set(await r.read(len, 'the header'), WEIGHT_PREAMBLE);
    const header = parseWeightHeader(head, r.length);
    opts.expectMeta?.(header.meta);
    const maxBuffer = gpu.limits.maxBufferSize;
    const keep = opts.keepF16;
    const widen = (t: WeightTensorInfo) => t.dtype === 'f16' && !(typeof keep === 'function' ? keep(t.name, t.shape) : keep);
    for (const t of header.tensors) {
      const onGpu = widen(t) ? t.bytes * 2 : t.bytes;
      if (onGpu > maxBuffer) {
        throw new WeightFormatError(`tensor '${t.name}' [${t.shape}] needs ${onGpu} bytes on the GPU, over the device's maxBufferSize (${maxBuffer})`);
      }
    }
    let pos = head.byteLength;
    for (const t of [...header.tensors].sort((a, b) => a.offset - b.offset)) {
      const what = `tensor '${t.name}'`;
      await r.read(t.offset - pos, what, true); // the padding before it
      const raw = await r.read(t.bytes, what);
      pos = t.offset + t.bytes;
      const { name, shape, dtype } = t;
      tensors.set(
        name,
        dtype === 'f32'
          ? upload(gpu, typed(raw, Float32Array), shape, 'f32')
          : dtype === 'i32'
            ? upload(gpu, typed(raw, Int32Array), shape, 'i32')
            : widen(t)
              ? upload(gpu, widenF16(typed(raw, Uint16Array)), shape, 'f32')
              : upload(gpu, typed(raw, Uint16Array), shape, 'f16'),
      );
      opts.onProgress?.(pos, header.totalBytes, name);
    }
    return { meta: header.meta, header, tensors };
  } catch (e) {
    for (const t of tensors.values()) t.dispose();
    throw e;
  } finally {
    await r.cancel();
  }
}
