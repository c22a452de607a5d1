// safetensors files (HuggingFace's tensor format), read as hostile input:
//
//   bytes 0-7     u64 little-endian N, the header's length
//   bytes 8..8+N  UTF-8 JSON: { NAME: { "dtype", "shape", "data_offsets":
//                 [begin, end] }, ..., "__metadata__"?: { str: str } }
//   then          the data; offsets are relative to byte 8 + N
//
// Checks before any tensor is allocated: N within MAX_HEADER and the file,
// the header is a JSON object, each entry has a known dtype, a shape of
// safe non-negative integers, offsets inside the data and exactly
// numel x itemsize apart, no two tensors overlapping, at most MAX_TENSORS.
// Errors name the tensor and the problem (SafetensorsError).
//
// Reading: readSafetensors (bytes in memory) or streamSafetensors (a fetch
// Response or a ReadableStream: the header, then each tensor's bytes in file
// order, each decoded as it arrives, so the file is never held twice).
// dtypes: F32, F16, F64 (rounded to f32), BF16 (widened to f32, exact), I64
// (must fit int32), I32, U8, BOOL -> NdArray (tools/ndarray.ts).
// Browser-safe: no node: imports.

import { NdArray, decodeNumpy, checkedNumel, widenBf16, ArrayFormatError } from './ndarray.ts';

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
  constructor(message: string) {
    super(`safetensors: ${message}`);
  }
}

/** Largest header read (the format's own limit is 100 MB). */
export const MAX_HEADER = 100_000_000;
const MAX_TENSORS = 1_000_000;

/** safetensors dtype -> numpy code (tools/ndarray.ts) and item size; 'bf16' is widened here. */
const DTYPES: Readonly<Record<string, { code: string; itemsize: number }>> = Object.freeze({
  F32: { code: 'f4', itemsize: 4 },
  F16: { code: 'f2', itemsize: 2 },
  F64: { code: 'f8', itemsize: 8 },
  BF16: { code: 'bf16', itemsize: 2 },
  I64: { code: 'i8', itemsize: 8 },
  I32: { code: 'i4', itemsize: 4 },
  U8: { code: 'u1', itemsize: 1 },
  BOOL: { code: 'b1', itemsize: 1 },
});

export interface SafetensorsEntry {
  name: string;
  dtype: string;
  shape: number[];
  /** byte range in the data section */
  begin: number;
  end: number;
}

export interface SafetensorsHeader {
  /** entries in file (offset) order */
  tensors: SafetensorsEntry[];
  metadata: Record<string, string>;
  /** where the data section starts (8 + N) */
  dataStart: number;
}

/** The header's length from the first 8 bytes, bounds-checked. */
function headerLength(first8: Uint8Array, fileLength: number | null): number {
  if (first8.byteLength < 8) throw new SafetensorsError(`${first8.byteLength} bytes: too short for the 8-byte header length (truncated?)`);
  const dv = new DataView(first8.buffer, first8.byteOffset, 8);
  const lo = dv.getUint32(0, true);
  const hi = dv.getUint32(4, true);
  const n = hi * 2 ** 32 + lo;
  if (hi >= 0x200000 || n > MAX_HEADER) throw new SafetensorsError(`header of ${hi >= 0x200000 ? 'over 2^53' : n} bytes (limit ${MAX_HEADER}): not a safetensors file?`);
  if (n < 2) throw new SafetensorsError(`header of ${n} bytes cannot hold a JSON object`);
  if (fileLength !== null && 8 + n > fileLength) throw new SafetensorsError(`the header needs ${8 + n} bytes, the file has ${fileLength} (truncated?)`);
  return n;
}

/**
 * Parses and checks the header. `head` holds at least 8 + N bytes;
 * `fileLength` is the whole file's length (null when unknown: the data's
 * end is then checked while reading).
 */
export function parseSafetensorsHeader(head: Uint8Array, fileLength: number | null = head.byteLength): SafetensorsHeader {
  const n = headerLength(head, fileLength);
  if (head.byteLength < 8 + n) throw new SafetensorsError(`the header needs ${8 + n} bytes, only ${head.byteLength} are here (truncated?)`);
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(head.subarray(8, 8 + n)));
  } catch (e) {
    throw new SafetensorsError(`the header is not UTF-8 JSON (${(e as Error).message.slice(0, 120)})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) throw new SafetensorsError('the header is not a JSON object');
  const dataLength = fileLength === null ? null : fileLength - 8 - n;
  const tensors: SafetensorsEntry[] = [];
  let metadata: Record<string, string> = {};
  const keys = Object.keys(json);
  if (keys.length > MAX_TENSORS) throw new SafetensorsError(`${keys.length} header entries (limit ${MAX_TENSORS})`);
  for (const name of keys) {
    const v = (json as Record<string, unknown>)[name];
    if (name === '__metadata__') {
      if (typeof v !== 'object' || v === null || Array.isArray(v) || Object.values(v).some((x) => typeof x !== 'string')) {
        throw new SafetensorsError('__metadata__ must map strings to strings');
      }
      metadata = v as Record<string, string>;
      continue;
    }
    const bad = (why: string): never => {
      throw new SafetensorsError(`tensor '${name.slice(0, 200)}' ${why}`);
    };
    if (typeof v !== 'object' || v === null || Array.isArray(v)) bad('is not an object');
    const { dtype, shape, data_offsets: offs } = v as Record<string, unknown>;
    if (typeof dtype !== 'string' || !Object.hasOwn(DTYPES, dtype)) bad(`has unsupported dtype ${JSON.stringify(dtype)} (read: ${Object.keys(DTYPES).join(', ')})`);
    if (!Array.isArray(shape)) bad('has no shape list');
    let numel = 0;
    try {
      numel = checkedNumel(shape as unknown[], `tensor '${name}'`);
    } catch (e) {
      bad(`has a bad shape: ${(e as Error).message}`);
    }
    if (!Array.isArray(offs) || offs.length !== 2 || !offs.every((x) => Number.isSafeInteger(x) && x >= 0) || offs[1] < offs[0]) {
      bad(`has bad data_offsets ${JSON.stringify(offs)?.slice(0, 80)}`);
    }
    const [begin, end] = offs as [number, number];
    const need = numel * DTYPES[dtype as string].itemsize;
    if (end - begin !== need) bad(`[${(shape as number[]).join(', ')}] ${dtype as string} needs ${need} bytes, its offsets span ${end - begin}`);
    if (dataLength !== null && end > dataLength) bad(`ends at data byte ${end}, past the end of the data (${dataLength} bytes; truncated?)`);
    tensors.push({ name, dtype: dtype as string, shape: [...(shape as number[])], begin, end });
  }
  tensors.sort((a, b) => a.begin - b.begin || a.end - b.end);
  for (let i = 1; i < tensors.length; i++) {
    const a = tensors[i - 1];
    const b = tensors[i];
    if (b.begin < a.end) throw new SafetensorsError(`tensors '${a.name}' and '${b.name}' overlap`);
  }
  return { tensors, metadata, dataStart: 8 + n };
}

/** One tensor's bytes -> NdArray. */
function decode(t: SafetensorsEntry, raw: Uint8Array): NdArray {
  const { code } = DTYPES[t.dtype];
  if (code === 'bf16') return new NdArray('f32', [...t.shape], widenBf16(raw), 'bf16');
  try {
    return decodeNumpy(raw, code, t.shape, false, `safetensors tensor '${t.name}'`);
  } catch (e) {
    if (e instanceof ArrayFormatError) throw new SafetensorsError(e.message);
    throw e;
  }
}

/** Reads a whole safetensors file held in memory. */
export function readSafetensors(bytes: Uint8Array): Map<string, NdArray> {
  const h = parseSafetensorsHeader(bytes, bytes.byteLength);
  const out = new Map<string, NdArray>();
  for (const t of h.tensors) out.set(t.name, decode(t, bytes.subarray(h.dataStart + t.begin, h.dataStart + t.end)));
  return out;
}

/** Sequential exact reads over a stream's chunks; `onBytes` sees the running count. */
function chunkReader(stream: ReadableStream<Uint8Array>, onBytes?: (n: number) => void) {
  const reader = stream.getReader();
  let chunk: Uint8Array = new Uint8Array(0);
  let pos = 0;
  return {
    cancel: () => reader.cancel().catch(() => {}),
    /** exactly n bytes (copied); `skip`: only pass over them. Throws when the stream ends first. */
    async read(n: number, what: string, skip = false): Promise<Uint8Array> {
      const out = new Uint8Array(skip ? 0 : n);
      let got = 0;
      while (got < n) {
        if (!chunk.byteLength) {
          const r = await reader.read();
          if (r.done) throw new SafetensorsError(`truncated: ${what} needs ${n - got} more bytes, the stream ended at byte ${pos}`);
          chunk = r.value instanceof Uint8Array ? r.value : new Uint8Array(r.value as ArrayBuffer);
        }
        const k = Math.min(n - got, chunk.byteLength);
        if (!skip) out.set(chunk.subarray(0, k), got);
        chunk = chunk.subarray(k);
        got += k;
        pos += k;
        onBytes?.(pos);
      }
      return out;
    },
  };
}

export interface StreamOptions {
  /** the file's length when known (checked against the header) */
  length?: number | null;
  /** bytes consumed so far */
  onBytes?(n: number): void;
}

/**
 * Reads a safetensors file from a stream (or a fetch Response) tensor by
 * tensor in file order: only the decoded tensors are kept, never the file.
 */
export async function streamSafetensors(source: Response | ReadableStream<Uint8Array>, opts: StreamOptions = {}): Promise<Map<string, NdArray>> {
  let length = opts.length ?? null;
  let stream: ReadableStream<Uint8Array>;
  if (typeof Response !== 'undefined' && source instanceof Response) {
    if (!source.ok) throw new SafetensorsError(`request failed: HTTP ${source.status} ${source.statusText}`);
    const cl = source.headers.get('content-length');
    if (length === null && !source.headers.get('content-encoding') && cl && /^\d+$/.test(cl)) length = Number(cl);
    if (!source.body) throw new SafetensorsError('the response has no body');
    stream = source.body;
  } else stream = source as ReadableStream<Uint8Array>;
  const r = chunkReader(stream, opts.onBytes);
  try {
    const first = await r.read(8, 'the header length');
    const n = headerLength(first, length);
    const head = new Uint8Array(8 + n);
    head.set(first);
    head.set(await r.read(n, 'the header'), 8);
    const h = parseSafetensorsHeader(head, length);
    const out = new Map<string, NdArray>();
    let at = 0; // data bytes consumed
    for (const t of h.tensors) {
      await r.read(t.begin - at, `the gap before '${t.name}'`, true);
      out.set(t.name, decode(t, await r.read(t.end - t.begin, `tensor '${t.name}'`)));
      at = t.end;
    }
    if (length !== null && h.dataStart + at !== length) {
      throw new SafetensorsError(`the file is ${length} bytes but its tensors end at ${h.dataStart + at}`);
    }
    return out;
  } finally {
    await r.cancel();
  }
}

/** model.safetensors.index.json: which shard holds each tensor. Returns shard file -> tensor names. */
export function parseSafetensorsIndex(text: string): Map<string, string[]> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new SafetensorsError(`index: not JSON (${(e as Error).message.slice(0, 120)})`);
  }
  const map = (json as { weight_map?: unknown })?.weight_map;
  if (typeof map !== 'object' || map === null || Array.isArray(map)) throw new SafetensorsError('index: no weight_map object');
  const shards = new Map<string, string[]>();
  for (const [name, file] of Object.entries(map)) {
    if (typeof file !== 'string' || !/^[A-Za-z0-9._-]+\.safetensors$/.test(file) || file.startsWith('.')) {
      throw new SafetensorsError(`index: tensor '${name}' is in ${JSON.stringify(file)?.slice(0, 80)}, not a plain *.safetensors file name`);
    }
    if (!shards.has(file)) shards.set(file, []);
    shards.get(file)!.push(name);
  }
  if (shards.size > 10_000) throw new SafetensorsError(`index: ${shards.size} shards (limit 10000)`);
  return shards;
}

/** Joins shards read separately, checking each holds exactly what the index says. */
export function joinShards(index: Map<string, string[]>, shards: Map<string, Map<string, NdArray>>): Map<string, NdArray> {
  const out = new Map<string, NdArray>();
  for (const [file, names] of index) {
    const got = shards.get(file);
    if (!got) throw new SafetensorsError(`index: shard ${file} was not read`);
    const want = new Set(names);
    for (const name of names) if (!got.has(name)) throw new SafetensorsError(`shard ${file} lacks '${name}', which the index puts there`);
    for (const [name, a] of got) {
      if (!want.has(name)) throw new SafetensorsError(`shard ${file} holds '${name}', which the index does not list there`);
      if (out.has(name)) throw new SafetensorsError(`'${name}' is in two shards`);
      out.set(name, a);
    }
  }
  return out;
}
