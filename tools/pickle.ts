// A restricted pickle reader for Perceiver IO checkpoints (Haiku
// FlatMappings of numpy arrays). It is NOT a Python unpickler: it interprets a
// small set of opcodes as data and never executes anything.
//
// Accepted: protocols 2-5 (the stream must start with PROTO 2..5).
//   framing     PROTO, FRAME, STOP
//   memo        MEMOIZE, BINPUT, LONG_BINPUT, BINGET, LONG_BINGET
//   containers  MARK, EMPTY_DICT, DICT, SETITEM, SETITEMS, EMPTY_LIST, LIST,
//               APPEND, APPENDS, EMPTY_TUPLE, TUPLE, TUPLE1, TUPLE2, TUPLE3
//   scalars     NONE, NEWTRUE, NEWFALSE, BININT, BININT1, BININT2, LONG1
//               (at most 8 bytes), BINFLOAT
//   text/bytes  SHORT_BINUNICODE, BINUNICODE, BINUNICODE8, SHORT_BINBYTES,
//               BINBYTES, BINBYTES8, BYTEARRAY8
//   objects     GLOBAL, STACK_GLOBAL, REDUCE, BUILD, NEWOBJ, restricted to
//               the allow-list below.
// Everything else (PERSID/BINPERSID, EXT1/2/4, INST, OBJ, NEWOBJ_EX, the
// protocol-0 text opcodes, out-of-band buffers, ...) is refused with the
// opcode's name and byte offset.
//
// Allow-listed globals (anything else, e.g. os.system or builtins.eval, is
// refused the moment it is named):
//   haiku._src.data_structures.{FlatMapping, FlatMap, frozendict},
//   collections.OrderedDict                      -> a Map
//   numpy{.core,._core}.multiarray._reconstruct + numpy.ndarray + BUILD
//                                                -> NdArray
//   numpy.dtype (+ BUILD with its byte order)    -> a dtype descriptor
//   numpy{.core,._core}.multiarray.scalar        -> a 0-d NdArray
//   numpy{.core,._core}.numeric._frombuffer      -> NdArray (what numpy
//       writes under protocol 5; the data arrives as BYTEARRAY8)
//   _codecs.encode(str, 'latin1')                -> bytes (how protocol 2
//       carries bytes objects written by Python 3)
// These are implemented here as pure data transformations.
//
// PyTorch state dicts (torch.save's data.pkl inside a zip archive;
// tools/torch.ts), only when the caller passes `torch` storages: then
// BINPERSID is read for exactly the persistent id torch.save writes,
// ('storage', torch.<T>Storage, key, location, numel), and two more globals
// are allowed:
//   torch.{Float,Double,Half,BFloat16,Long,Int,Byte,Bool}Storage
//                                                -> a storage placeholder
//   torch._utils._rebuild_tensor_v2(storage, offset, size, stride,
//       requires_grad, backward_hooks[, metadata]) -> NdArray (strided
//       gather, bounds-checked against the storage; hooks must be empty)
// plus BUILD of a state dict's `_metadata` attribute (dropped). Without
// `torch` these stay refused like any other global.
//
// The input is treated as hostile: every read is bounds-checked; claimed
// lengths are compared with the bytes left before anything is allocated;
// the stack, the mark nesting, the memo, the total container items, the
// result's nesting depth and the bytes allocated for array data are capped
// (ParseLimits); dict keys go into Maps (a '__proto__' key is just a key).
//
// Result: a tree of Map (dicts, FlatMappings), arrays (lists; tuples are
// frozen arrays), numbers (bigint beyond 2^53), strings, booleans, null,
// Uint8Array (bytes), NdArray and, rarely, the descriptors below.
// Browser-safe: no node: imports.

import { NdArray, ArrayFormatError, checkedNumel, decodeNumpy, parseNumpyDtype, widenBf16, NUMPY_DTYPES } from './ndarray.ts';

export { NdArray } from './ndarray.ts';
export type { NdDType, NdData } from './ndarray.ts';

export class PickleError extends Error {
  override name = 'PickleError';
  constructor(
    message: string,
    readonly offset: number,
  ) {
    super(`pickle: ${message} (at byte ${offset})`);
  }
}

/** numpy.dtype(...) as read from a pickle. */
export class PyDType {
  constructor(
    readonly code: string,
    public byteOrder: string = '=',
  ) {}
  toString(): string {
    return `dtype('${this.byteOrder}${this.code}')`;
  }
}

/** A reference to an allow-listed Python callable (only ever a placeholder). */
export class PyGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly kind: GlobalKind,
  ) {}
  toString(): string {
    return `${this.module}.${this.name}`;
  }
}

export type PyKey = string | number | bigint | boolean | null;
export type PyValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Uint8Array
  | PyValue[]
  | Map<PyKey, PyValue>
  | NdArray
  | PyDType
  | PyGlobal
  | TorchStorage;

/** A torch storage named by a persistent id (only with ParseLimits.torch). */
export class TorchStorage {
  constructor(
    /** numpy code of the element type ('f4', 'f2', 'i8', ...; 'bf16' for bfloat16) */
    readonly code: string,
    readonly key: string,
    readonly numel: number,
    readonly bytes: Uint8Array,
  ) {}
  toString(): string {
    return `torch storage '${this.key}' (${this.numel} x ${this.code})`;
  }
}

/** torch.<T>Storage -> numpy code of its elements. */
const TORCH_STORAGES: Readonly<Record<string, string>> = Object.freeze({
  FloatStorage: 'f4',
  DoubleStorage: 'f8',
  HalfStorage: 'f2',
  BFloat16Storage: 'bf16',
  LongStorage: 'i8',
  IntStorage: 'i4',
  ByteStorage: 'u1',
  BoolStorage: 'b1',
});

export interface ParseLimits {
  /**
   * Read a PyTorch state dict: the storage files of the archive by key
   * (tools/torch.ts passes the zip's `ROOT/data/KEY` entries). Absent: torch
   * globals and persistent ids are refused.
   */
  torch?: (key: string) => Uint8Array | undefined;
  /** values on the stack, all mark frames together (default 1,000,000) */
  maxStack?: number;
  /** open MARKs (default 256) */
  maxMarks?: number;
  /** memo entries (default 1,000,000) */
  maxMemo?: number;
  /** items put into lists/dicts/tuples, in total (default 10,000,000) */
  maxItems?: number;
  /** nesting depth of the result tree (default 64) */
  maxDepth?: number;
  /** bytes allocated for array data, in total (default: the file's length + 64 MiB) */
  maxArrayBytes?: number;
}

type GlobalKind = 'mapping' | 'reconstruct' | 'ndarray' | 'dtype' | 'scalar' | 'frombuffer' | 'codecs_encode' | 'torch_storage' | 'torch_rebuild';

const ALLOWED_GLOBALS: ReadonlyMap<string, GlobalKind> = new Map<string, GlobalKind>([
  ['haiku._src.data_structures.FlatMapping', 'mapping'],
  ['haiku._src.data_structures.FlatMap', 'mapping'],
  ['haiku._src.data_structures.frozendict', 'mapping'],
  ['collections.OrderedDict', 'mapping'],
  ['numpy.core.multiarray._reconstruct', 'reconstruct'],
  ['numpy._core.multiarray._reconstruct', 'reconstruct'],
  ['numpy.ndarray', 'ndarray'],
  ['numpy.dtype', 'dtype'],
  ['numpy.core.multiarray.scalar', 'scalar'],
  ['numpy._core.multiarray.scalar', 'scalar'],
  ['numpy.core.numeric._frombuffer', 'frombuffer'],
  ['numpy._core.numeric._frombuffer', 'frombuffer'],
  ['_codecs.encode', 'codecs_encode'],
]);

/** Names of every pickle opcode, for error messages. */
const OPCODE_NAMES: Record<number, string> = {
  0x28: 'MARK', 0x2e: 'STOP', 0x30: 'POP', 0x31: 'POP_MARK', 0x32: 'DUP', 0x46: 'FLOAT', 0x49: 'INT',
  0x4a: 'BININT', 0x4b: 'BININT1', 0x4c: 'LONG', 0x4d: 'BININT2', 0x4e: 'NONE', 0x50: 'PERSID',
  0x51: 'BINPERSID', 0x52: 'REDUCE', 0x53: 'STRING', 0x54: 'BINSTRING', 0x55: 'SHORT_BINSTRING',
  0x56: 'UNICODE', 0x58: 'BINUNICODE', 0x61: 'APPEND', 0x62: 'BUILD', 0x63: 'GLOBAL', 0x64: 'DICT',
  0x7d: 'EMPTY_DICT', 0x65: 'APPENDS', 0x67: 'GET', 0x68: 'BINGET', 0x69: 'INST', 0x6a: 'LONG_BINGET',
  0x6c: 'LIST', 0x5d: 'EMPTY_LIST', 0x6f: 'OBJ', 0x70: 'PUT', 0x71: 'BINPUT', 0x72: 'LONG_BINPUT',
  0x73: 'SETITEM', 0x74: 'TUPLE', 0x29: 'EMPTY_TUPLE', 0x75: 'SETITEMS', 0x47: 'BINFLOAT',
  0x80: 'PROTO', 0x81: 'NEWOBJ', 0x82: 'EXT1', 0x83: 'EXT2', 0x84: 'EXT4', 0x85: 'TUPLE1',
  0x86: 'TUPLE2', 0x87: 'TUPLE3', 0x88: 'NEWTRUE', 0x89: 'NEWFALSE', 0x8a: 'LONG1', 0x8b: 'LONG4',
  0x42: 'BINBYTES', 0x43: 'SHORT_BINBYTES', 0x8c: 'SHORT_BINUNICODE', 0x8d: 'BINUNICODE8',
  0x8e: 'BINBYTES8', 0x8f: 'EMPTY_SET', 0x90: 'ADDITEMS', 0x91: 'FROZENSET', 0x92: 'NEWOBJ_EX',
  0x93: 'STACK_GLOBAL', 0x94: 'MEMOIZE', 0x95: 'FRAME', 0x96: 'BYTEARRAY8', 0x97: 'NEXT_BUFFER',
  0x98: 'READONLY_BUFFER',
};

/** Why some well-known opcodes are refused. */
const REFUSED_WHY: Record<string, string> = {
  PERSID: 'persistent ids need an external loader',
  BINPERSID: 'persistent ids need an external loader',
  EXT1: 'the extension registry names arbitrary objects',
  EXT2: 'the extension registry names arbitrary objects',
  EXT4: 'the extension registry names arbitrary objects',
  INST: 'it instantiates arbitrary classes',
  OBJ: 'it instantiates arbitrary classes',
  NEWOBJ_EX: 'it instantiates classes with keyword arguments',
  NEXT_BUFFER: 'out-of-band buffers are not supported',
  READONLY_BUFFER: 'out-of-band buffers are not supported',
};

const utf8 = new TextDecoder('utf-8', { fatal: true });

const MARK_FRAME = Symbol('mark');

/** A numpy array created by _reconstruct, waiting for its BUILD state. */
class PendingArray {
  result: NdArray | null = null;
  constructor(readonly offset: number) {}
}

type Item = PyValue | PendingArray;

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof Map) return 'dict';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'tuple' : 'list';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof NdArray) return `ndarray ${v}`;
  if (v instanceof PendingArray) return 'ndarray (unbuilt)';
  if (v instanceof PyDType) return String(v);
  if (v instanceof PyGlobal) return String(v);
  if (v instanceof TorchStorage) return String(v);
  return typeof v;
}

/**
 * Parses a pickle into plain data. Throws PickleError (with the byte offset)
 * for anything outside the accepted subset, and for malformed input.
 */
export function parsePickle(bytes: Uint8Array, limits: ParseLimits = {}): PyValue {
  return new Unpickler(bytes, limits).run();
}

class Unpickler {
  private pos = 0;
  private op = 0; // offset of the current opcode
  private stack: Item[] = [];
  private metastack: Item[][] = [];
  private stackCount = 0;
  private memo = new Map<number, Item>();
  private items = 0;
  private arrayBytes = 0;
  private readonly dv: DataView;
  private readonly maxStack: number;
  private readonly maxMarks: number;
  private readonly maxMemo: number;
  private readonly maxItems: number;
  private readonly maxDepth: number;
  private readonly maxArrayBytes: number;
  private readonly torch: ((key: string) => Uint8Array | undefined) | undefined;

  constructor(
    private readonly buf: Uint8Array,
    limits: ParseLimits,
  ) {
    this.dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    this.maxStack = limits.maxStack ?? 1_000_000;
    this.maxMarks = limits.maxMarks ?? 256;
    this.maxMemo = limits.maxMemo ?? 1_000_000;
    this.maxItems = limits.maxItems ?? 10_000_000;
    this.maxDepth = limits.maxDepth ?? 64;
    this.maxArrayBytes = limits.maxArrayBytes ?? buf.byteLength + 64 * 2 ** 20;
    this.torch = limits.torch;
  }

  private fail(msg: string, at = this.op): never {
    throw new PickleError(msg, at);
  }

  // ---- bounds-checked reads ----

  private need(n: number, what: string): void {
    const left = this.buf.byteLength - this.pos;
    if (n > left) {
      this.fail(`truncated or corrupt pickle: ${what} needs ${n} bytes but only ${left} remain of ${this.buf.byteLength}`);
    }
  }
  private u8(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++];
  }
  private u16(what: string): number {
    this.need(2, what);
    const v = this.dv.getUint16(this.pos, true);
    this.pos += 2;
    return v;
  }
  private u32(what: string): number {
    this.need(4, what);
    const v = this.dv.getUint32(this.pos, true);
    this.pos += 4;
    return v;
  }
  private i32(what: string): number {
    this.need(4, what);
    const v = this.dv.getInt32(this.pos, true);
    this.pos += 4;
    return v;
  }
  /** An unsigned 64-bit length, refused when larger than what remains. */
  private u64len(what: string): number {
    this.need(8, what);
    const lo = this.dv.getUint32(this.pos, true);
    const hi = this.dv.getUint32(this.pos + 4, true);
    this.pos += 8;
    const left = this.buf.byteLength - this.pos;
    if (hi >= 0x200000 || hi * 2 ** 32 + lo > left) {
      const claimed = (BigInt(hi) << 32n) | BigInt(lo);
      this.fail(`${what} claims ${claimed} bytes but only ${left} remain in the file (truncated or corrupt)`);
    }
    return hi * 2 ** 32 + lo;
  }
  private take(n: number, what: string): Uint8Array {
    this.need(n, what);
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return out;
  }
  private text(n: number, what: string): string {
    const raw = this.take(n, what);
    try {
      return utf8.decode(raw);
    } catch {
      return this.fail(`${what}: invalid UTF-8`);
    }
  }
  private line(what: string): string {
    const max = 256;
    const start = this.pos;
    const end = Math.min(this.buf.byteLength, start + max + 1);
    for (let i = start; i < end; i++) {
      if (this.buf[i] === 0x0a) {
        this.pos = i + 1;
        const s = String.fromCharCode(...this.buf.subarray(start, i));
        if (!/^[A-Za-z0-9_.]+$/.test(s)) this.fail(`${what}: not a dotted Python name: ${JSON.stringify(s.slice(0, 80))}`);
        return s;
      }
    }
    if (end === this.buf.byteLength && end - start <= max) this.fail(`truncated pickle: ${what} has no end of line`);
    return this.fail(`${what} is longer than ${max} bytes`);
  }

  // ---- stack ----

  private push(v: Item): void {
    if (++this.stackCount > this.maxStack) this.fail(`stack holds more than ${this.maxStack} values (limit)`);
    this.stack.push(v);
  }
  private pop(what: string): Item {
    if (this.stack.length === 0) this.fail(`${what}: stack underflow`);
    this.stackCount--;
    return this.stack.pop()!;
  }
  private top(what: string): Item {
    if (this.stack.length === 0) this.fail(`${what}: stack underflow`);
    return this.stack[this.stack.length - 1];
  }
  private mark(): void {
    if (this.metastack.length >= this.maxMarks) this.fail(`more than ${this.maxMarks} nested MARKs (limit)`);
    this.metastack.push(this.stack);
    this.stack = [];
  }
  private popMark(what: string): Item[] {
    if (this.metastack.length === 0) this.fail(`${what} without a MARK`);
    const items = this.stack;
    this.stack = this.metastack.pop()!;
    this.stackCount -= items.length;
    return items;
  }
  private countItems(n: number): void {
    this.items += n;
    if (this.items > this.maxItems) this.fail(`more than ${this.maxItems} container items in total (limit)`);
  }
  private memoPut(index: number, v: Item): void {
    if (!this.memo.has(index) && this.memo.size >= this.maxMemo) this.fail(`memo holds more than ${this.maxMemo} entries (limit)`);
    this.memo.set(index, v);
  }
  private memoGet(index: number): Item {
    if (!this.memo.has(index)) this.fail(`memo entry ${index} was never stored`);
    return this.memo.get(index)!;
  }

  // ---- values ----

  private value(v: Item, what: string): PyValue {
    if (v instanceof PendingArray) {
      if (!v.result) this.fail(`${what}: a numpy array is used before its BUILD state was applied`);
      return v.result;
    }
    return v;
  }
  private key(v: Item, what: string): PyKey {
    const k = this.value(v, what);
    if (k === null || typeof k === 'string' || typeof k === 'number' || typeof k === 'bigint' || typeof k === 'boolean') return k;
    return this.fail(`${what}: unsupported dict key of type ${describe(k)}`);
  }
  private dictOf(v: Item, what: string): Map<PyKey, PyValue> {
    if (!(v instanceof Map)) this.fail(`${what} on a ${describe(v)}, not a dict`);
    return v as Map<PyKey, PyValue>;
  }
  private listOf(v: Item, what: string): PyValue[] {
    if (!Array.isArray(v) || Object.isFrozen(v)) this.fail(`${what} on a ${describe(v)}, not a list`);
    return v as PyValue[];
  }
  private tuple(items: Item[], what: string): PyValue[] {
    this.countItems(items.length);
    return Object.freeze(items.map((x) => this.value(x, what))) as PyValue[];
  }

  run(): PyValue {
    const first = this.buf.byteLength > 0 ? this.buf[0] : -1;
    if (first !== 0x80) {
      this.op = 0;
      this.fail(
        this.buf.byteLength === 0
          ? 'empty input'
          : `not a protocol 2-5 pickle (first byte 0x${first.toString(16).padStart(2, '0')}, expected PROTO 0x80)`,
      );
    }
    for (;;) {
      this.op = this.pos;
      if (this.pos >= this.buf.byteLength) this.fail('truncated pickle: ended without STOP');
      const code = this.buf[this.pos++];
      switch (code) {
        case 0x80: {
          // PROTO
          const proto = this.u8('PROTO');
          if (proto < 2 || proto > 5) this.fail(`unsupported pickle protocol ${proto} (2-5 are read)`);
          break;
        }
        case 0x95: // FRAME: a length hint; the data follows inline
          this.u64len('FRAME');
          break;
        case 0x2e: {
          // STOP
          const result = this.value(this.pop('STOP'), 'STOP');
          if (this.metastack.length) this.fail('STOP with an unclosed MARK');
          this.checkTree(result);
          return result;
        }
        case 0x28:
          this.mark();
          break;

        // memo
        case 0x94: // MEMOIZE
          this.memoPut(this.memo.size, this.top('MEMOIZE'));
          break;
        case 0x71:
          this.memoPut(this.u8('BINPUT'), this.top('BINPUT'));
          break;
        case 0x72:
          this.memoPut(this.u32('LONG_BINPUT'), this.top('LONG_BINPUT'));
          break;
        case 0x68:
          this.push(this.memoGet(this.u8('BINGET')));
          break;
        case 0x6a:
          this.push(this.memoGet(this.u32('LONG_BINGET')));
          break;

        // scalars
        case 0x4e:
          this.push(null);
          break;
        case 0x88:
          this.push(true);
          break;
        case 0x89:
          this.push(false);
          break;
        case 0x4a:
          this.push(this.i32('BININT'));
          break;
        case 0x4b:
          this.push(this.u8('BININT1'));
          break;
        case 0x4d:
          this.push(this.u16('BININT2'));
          break;
        case 0x8a: {
          // LONG1
          const n = this.u8('LONG1');
          if (n > 8) this.fail(`LONG1 of ${n} bytes: integers wider than 64 bits are not supported`);
          const raw = this.take(n, 'LONG1');
          let v = 0n;
          for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(raw[i]);
          if (n > 0 && raw[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
          this.push(v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v);
          break;
        }
        case 0x47: {
          // BINFLOAT: big-endian float64
          this.need(8, 'BINFLOAT');
          this.push(this.dv.getFloat64(this.pos, false));
          this.pos += 8;
          break;
        }

        // text and bytes
        case 0x8c:
          this.push(this.text(this.u8('SHORT_BINUNICODE'), 'SHORT_BINUNICODE'));
          break;
        case 0x58: {
          const n = this.u32('BINUNICODE');
          this.push(this.text(n, 'BINUNICODE'));
          break;
        }
        case 0x8d: {
          const n = this.u64len('BINUNICODE8');
          this.push(this.text(n, 'BINUNICODE8'));
          break;
        }
        case 0x43:
          this.push(this.take(this.u8('SHORT_BINBYTES'), 'SHORT_BINBYTES'));
          break;
        case 0x42: {
          const n = this.u32('BINBYTES');
          this.push(this.take(n, 'BINBYTES'));
          break;
        }
        case 0x8e: {
          const n = this.u64len('BINBYTES8');
          this.push(this.take(n, 'BINBYTES8'));
          break;
        }
        case 0x96: {
          const n = this.u64len('BYTEARRAY8');
          this.push(this.take(n, 'BYTEARRAY8'));
          break;
        }

        // containers
        case 0x7d:
          this.push(new Map());
          break;
        case 0x64: {
          // DICT
          const items = this.popMark('DICT');
          this.push(this.setItems(new Map(), items, 'DICT'));
          break;
        }
        case 0x73: {
          // SETITEM
          const v = this.pop('SETITEM');
          const k = this.pop('SETITEM');
          const d = this.dictOf(this.top('SETITEM'), 'SETITEM');
          this.setItems(d, [k, v], 'SETITEM');
          break;
        }
        case 0x75: {
          // SETITEMS
          const items = this.popMark('SETITEMS');
          this.setItems(this.dictOf(this.top('SETITEMS'), 'SETITEMS'), items, 'SETITEMS');
          break;
        }
        case 0x5d:
          this.push([]);
          break;
        case 0x6c: {
          // LIST
          const items = this.popMark('LIST');
          this.countItems(items.length);
          this.push(items.map((x) => this.value(x, 'LIST')));
          break;
        }
        case 0x61: {
          // APPEND
          const v = this.value(this.pop('APPEND'), 'APPEND');
          this.countItems(1);
          this.listOf(this.top('APPEND'), 'APPEND').push(v);
          break;
        }
        case 0x65: {
          // APPENDS
          const items = this.popMark('APPENDS');
          const list = this.listOf(this.top('APPENDS'), 'APPENDS');
          this.countItems(items.length);
          for (const x of items) list.push(this.value(x, 'APPENDS'));
          break;
        }
        case 0x29:
          this.push(Object.freeze([] as PyValue[]) as PyValue[]);
          break;
        case 0x74:
          this.push(this.tuple(this.popMark('TUPLE'), 'TUPLE'));
          break;
        case 0x85:
        case 0x86:
        case 0x87: {
          const n = code - 0x84;
          const name = OPCODE_NAMES[code];
          if (this.stack.length < n) this.fail(`${name}: stack underflow`);
          const items = this.stack.splice(this.stack.length - n, n);
          this.stackCount -= n;
          this.push(this.tuple(items, name));
          break;
        }

        // objects
        case 0x63: {
          // GLOBAL
          const module = this.line('GLOBAL module');
          const name = this.line('GLOBAL name');
          this.push(this.global(module, name));
          break;
        }
        case 0x93: {
          // STACK_GLOBAL
          const name = this.value(this.pop('STACK_GLOBAL'), 'STACK_GLOBAL');
          const module = this.value(this.pop('STACK_GLOBAL'), 'STACK_GLOBAL');
          if (typeof module !== 'string' || typeof name !== 'string') {
            this.fail(`STACK_GLOBAL needs two strings, got ${describe(module)} and ${describe(name)}`);
          }
          this.push(this.global(module, name));
          break;
        }
        case 0x52: {
          // REDUCE
          const args = this.value(this.pop('REDUCE'), 'REDUCE');
          const fn = this.pop('REDUCE');
          this.push(this.call(fn, args, 'REDUCE'));
          break;
        }
        case 0x81: {
          // NEWOBJ: cls.__new__(cls, *args); only the mapping types
          const args = this.value(this.pop('NEWOBJ'), 'NEWOBJ');
          const cls = this.pop('NEWOBJ');
          if (!(cls instanceof PyGlobal) || cls.kind !== 'mapping') this.fail(`NEWOBJ on ${describe(cls)} is not supported`);
          this.push(this.call(cls, args, 'NEWOBJ'));
          break;
        }
        case 0x51: {
          // BINPERSID: torch.save's storage reference (only when reading a torch archive)
          if (!this.torch) this.fail(`refused opcode BINPERSID (0x51): ${REFUSED_WHY.BINPERSID}`);
          const pid = this.value(this.pop('BINPERSID'), 'BINPERSID');
          this.push(this.storage(pid));
          break;
        }
        case 0x62: {
          // BUILD
          const state = this.value(this.pop('BUILD'), 'BUILD');
          this.build(this.top('BUILD'), state);
          break;
        }

        default: {
          const name = OPCODE_NAMES[code];
          const hex = `0x${code.toString(16).padStart(2, '0')}`;
          if (!name) this.fail(`unknown opcode ${hex}`);
          this.fail(`refused opcode ${name} (${hex})${REFUSED_WHY[name] ? `: ${REFUSED_WHY[name]}` : ': not used by numpy/Haiku checkpoints'}`);
        }
      }
    }
  }

  private setItems(d: Map<PyKey, PyValue>, items: Item[], what: string): Map<PyKey, PyValue> {
    if (items.length % 2) this.fail(`${what} with an odd number of items (${items.length})`);
    this.countItems(items.length / 2);
    for (let i = 0; i < items.length; i += 2) {
      const k = this.key(items[i], what);
      // Python keeps the last of two equal keys; a pickled dict never repeats one, so a
      // repeat is a crafted file hiding a tensor behind another: refused
      if (d.has(k)) this.fail(`${what}: duplicate key ${JSON.stringify(typeof k === 'bigint' ? String(k) : k)} in a mapping`);
      d.set(k, this.value(items[i + 1], what));
    }
    return d;
  }

  private global(module: string, name: string): PyGlobal {
    const full = `${module}.${name}`;
    if (this.torch) {
      if (module === 'torch' && Object.hasOwn(TORCH_STORAGES, name)) return new PyGlobal(module, name, 'torch_storage');
      if (full === 'torch._utils._rebuild_tensor_v2') return new PyGlobal(module, name, 'torch_rebuild');
    }
    const kind = ALLOWED_GLOBALS.get(full);
    if (!kind) {
      this.fail(
        `refused global '${full}': only Haiku's FlatMapping, collections.OrderedDict and numpy's array ` +
          `reconstruction${this.torch ? ', torch storages and torch._utils._rebuild_tensor_v2' : ''} may be named (nothing in a pickle is ever executed)`,
      );
    }
    return new PyGlobal(module, name, kind);
  }

  private call(fn: Item, args: PyValue, what: string): Item {
    if (!(fn instanceof PyGlobal)) this.fail(`${what}: ${describe(fn)} is not callable`);
    if (!Array.isArray(args) || !Object.isFrozen(args)) this.fail(`${what}: arguments of ${fn} must be a tuple, got ${describe(args)}`);
    const bad = (msg: string): never => this.fail(`${what} ${fn}${msg}`);
    switch (fn.kind) {
      case 'mapping': {
        if (args.length === 0) return new Map();
        if (args.length !== 1) bad(`: expected one argument, got ${args.length}`);
        const m = args[0];
        if (m instanceof Map) return m; // FlatMapping(dict) reads as the dict itself
        if (Array.isArray(m)) {
          const out = new Map<PyKey, PyValue>();
          for (const pair of m) {
            if (!Array.isArray(pair) || pair.length !== 2) bad(': expected (key, value) pairs');
            const p = pair as PyValue[];
            this.setItems(out, p, what);
          }
          return out;
        }
        return bad(`: expected a dict, got ${describe(m)}`);
      }
      case 'reconstruct': {
        // numpy.core.multiarray._reconstruct(ndarray, (0,), b'b'): an empty array; BUILD fills it.
        const [cls, shape, tag] = args as PyValue[];
        if (args.length !== 3 || !(cls instanceof PyGlobal) || cls.kind !== 'ndarray') {
          bad(': expected (numpy.ndarray, shape, typecode)');
        }
        if (!Array.isArray(shape) || !(tag instanceof Uint8Array || typeof tag === 'string')) bad(': malformed arguments');
        return new PendingArray(this.op);
      }
      case 'dtype': {
        const [code, align, copy] = args as PyValue[];
        if (args.length < 1 || args.length > 3 || typeof code !== 'string') bad(': expected a dtype code string');
        void align;
        void copy;
        return new PyDType(this.dtypeCode(code as string));
      }
      case 'scalar': {
        const [dt, raw] = args as PyValue[];
        if (args.length !== 2 || !(dt instanceof PyDType) || !(raw instanceof Uint8Array)) bad(': expected (dtype, bytes)');
        return this.array(raw as Uint8Array, dt as PyDType, [], false);
      }
      case 'frombuffer': {
        // numpy.core.numeric._frombuffer(buffer, dtype, shape, order)
        const [raw, dt, shape, order] = args as PyValue[];
        if (args.length !== 4 || !(raw instanceof Uint8Array) || !(dt instanceof PyDType) || !Array.isArray(shape)) {
          bad(': expected (bytes, dtype, shape, order)');
        }
        if (order !== 'C' && order !== 'F') bad(`: order must be 'C' or 'F', got ${String(order)}`);
        return this.array(raw as Uint8Array, dt as PyDType, this.shape(shape as PyValue[]), order === 'F');
      }
      case 'codecs_encode': {
        const [s, enc] = args as PyValue[];
        if (args.length !== 2 || typeof s !== 'string' || (enc !== 'latin1' && enc !== 'latin-1')) {
          bad(": only _codecs.encode(str, 'latin1') is supported");
        }
        const str = s as string;
        const out = new Uint8Array(str.length);
        for (let i = 0; i < str.length; i++) {
          const c = str.charCodeAt(i);
          if (c > 255) bad(': character outside latin-1');
          out[i] = c;
        }
        return out;
      }
      case 'ndarray':
        return bad(': numpy.ndarray may only be passed to _reconstruct');
      case 'torch_storage':
        return bad(': a storage class may only appear in a persistent id');
      case 'torch_rebuild':
        return this.rebuildTensor(args as PyValue[], bad);
    }
  }

  /** ('storage', torch.<T>Storage, key, location, numel) -> the storage's bytes, checked. */
  private storage(pid: PyValue): TorchStorage {
    if (!Array.isArray(pid) || pid.length !== 5 || pid[0] !== 'storage') {
      this.fail(`BINPERSID: expected ('storage', type, key, location, numel), got ${describe(pid)}`);
    }
    const [, cls, key, location, numel] = pid as PyValue[];
    if (!(cls instanceof PyGlobal) || cls.kind !== 'torch_storage') this.fail(`BINPERSID: ${describe(cls)} is not a torch storage type`);
    if (typeof key !== 'string' || !/^[A-Za-z0-9_]{1,64}$/.test(key)) this.fail(`BINPERSID: bad storage key ${describe(key)}`);
    if (typeof location !== 'string') this.fail(`BINPERSID: bad storage location ${describe(location)}`);
    if (typeof numel !== 'number' || !Number.isSafeInteger(numel) || numel < 0) this.fail(`BINPERSID: bad storage size ${String(numel)}`);
    const code = TORCH_STORAGES[(cls as PyGlobal).name];
    const itemsize = code === 'bf16' ? 2 : NUMPY_DTYPES[code].itemsize;
    const bytes = this.torch!(key as string);
    if (!bytes) this.fail(`BINPERSID: the archive has no storage '${key as string}'`);
    if (bytes.byteLength !== (numel as number) * itemsize) {
      this.fail(`BINPERSID: storage '${key as string}' claims ${numel as number} x ${code} (${(numel as number) * itemsize} bytes), its file holds ${bytes.byteLength}`);
    }
    return new TorchStorage(code, key as string, numel as number, bytes);
  }

  /** torch._utils._rebuild_tensor_v2: a strided view of a storage, gathered into a row-major NdArray. */
  private rebuildTensor(args: PyValue[], bad: (msg: string) => never): NdArray {
    if (args.length !== 6 && args.length !== 7) bad(`: expected 6 or 7 arguments, got ${args.length}`);
    const [st, offset, size, stride, , hooks] = args;
    if (!(st instanceof TorchStorage)) bad(`: expected a storage, got ${describe(st)}`);
    const storage = st as TorchStorage;
    if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) bad(`: bad storage offset ${String(offset)}`);
    if (!Array.isArray(size) || !Array.isArray(stride) || size.length !== stride.length) bad(': size and stride must be tuples of one length');
    if (!(hooks instanceof Map) || hooks.size) bad(': backward hooks must be an empty OrderedDict');
    const shape = this.shape(size as PyValue[]);
    const strides = this.shape(stride as PyValue[]);
    for (const s of strides) if (s < 0) bad(`: negative stride in [${strides}]`);
    let n: number;
    try {
      n = checkedNumel(shape, 'torch tensor');
    } catch (e) {
      return bad(`: ${(e as Error).message}`);
    }
    const off = offset as number;
    if (n > 0) {
      let last = off;
      for (let k = 0; k < shape.length; k++) last += (shape[k] - 1) * strides[k];
      if (last >= storage.numel) bad(`: a [${shape}] view at offset ${off} with strides [${strides}] reaches element ${last} of a ${storage.numel}-element storage`);
    }
    const isize = storage.code === 'bf16' ? 2 : NUMPY_DTYPES[storage.code].itemsize;
    // row-major strides: then the view is one slice of the storage
    let contiguous = true;
    for (let k = shape.length - 1, want = 1; k >= 0; k--) {
      if (shape[k] !== 1 && strides[k] !== want) contiguous = false;
      want *= shape[k];
    }
    this.arrayBytes += n * 4;
    if (this.arrayBytes > this.maxArrayBytes) this.fail(`array data would exceed ${this.maxArrayBytes} bytes in total (limit)`);
    let raw: Uint8Array;
    if (contiguous) raw = storage.bytes.subarray(off * isize, (off + n) * isize);
    else {
      raw = new Uint8Array(n * isize);
      const idx = new Array<number>(shape.length).fill(0);
      let src = off;
      for (let i = 0; i < n; i++) {
        raw.set(storage.bytes.subarray(src * isize, (src + 1) * isize), i * isize);
        for (let k = shape.length - 1; k >= 0; k--) {
          idx[k]++;
          src += strides[k];
          if (idx[k] < shape[k]) break;
          src -= strides[k] * shape[k];
          idx[k] = 0;
        }
      }
    }
    if (storage.code === 'bf16') return new NdArray('f32', shape, widenBf16(raw), 'bf16');
    try {
      return decodeNumpy(raw, storage.code, shape, false, 'torch tensor');
    } catch (e) {
      if (e instanceof ArrayFormatError) this.fail(e.message);
      throw e;
    }
  }

  private build(target: Item, state: PyValue): void {
    if (target instanceof PendingArray) {
      if (target.result) this.fail('BUILD applied twice to one numpy array');
      // ndarray.__setstate__((version, shape, dtype, is_fortran, rawdata))
      if (!Array.isArray(state) || (state.length !== 5 && state.length !== 4)) {
        this.fail(`BUILD: numpy array state must be (version, shape, dtype, is_fortran, data), got ${describe(state)}`);
      }
      const s = state.length === 5 ? state.slice(1) : state;
      const [shape, dt, fortran, raw] = s;
      if (!Array.isArray(shape)) this.fail(`BUILD: array shape must be a tuple, got ${describe(shape)}`);
      if (!(dt instanceof PyDType)) this.fail(`BUILD: array dtype must be a numpy.dtype, got ${describe(dt)}`);
      if (typeof fortran !== 'boolean' && fortran !== 0 && fortran !== 1) this.fail('BUILD: is_fortran must be a boolean');
      if (!(raw instanceof Uint8Array)) {
        this.fail(`BUILD: array data must be bytes, got ${describe(raw)} (object arrays are not supported)`);
      }
      target.result = this.array(raw as Uint8Array, dt as PyDType, this.shape(shape as PyValue[]), Boolean(fortran));
      return;
    }
    if (target instanceof PyDType) {
      // dtype.__setstate__((3, '<', subarray, names, fields, elsize, alignment, flags[, metadata]))
      if (!Array.isArray(state) || state.length < 8) this.fail(`BUILD: unexpected numpy dtype state ${describe(state)}`);
      const [, order, subarray, names, fields] = state;
      if (subarray !== null || names !== null || fields !== null) this.fail('BUILD: structured or sub-array dtypes are not supported');
      if (typeof order !== 'string' || !['<', '>', '|', '='].includes(order)) this.fail(`BUILD: bad dtype byte order ${String(order)}`);
      if (order === '>' && NUMPY_DTYPES[target.code].itemsize > 1) this.fail(`big-endian dtype '>${target.code}' is not supported`);
      target.byteOrder = order as string;
      return;
    }
    if (this.torch && target instanceof Map && state instanceof Map && [...state.keys()].every((k) => k === '_metadata')) {
      return; // a torch state dict's `_metadata` attribute (module versions): not data
    }
    this.fail(`BUILD on a ${describe(target)} is not supported`);
  }

  private dtypeCode(code: string): string {
    try {
      return parseNumpyDtype(code, 'numpy.dtype');
    } catch (e) {
      return this.fail((e as Error).message);
    }
  }

  private shape(dims: PyValue[]): number[] {
    for (const d of dims) if (typeof d !== 'number') this.fail(`array shape holds ${describe(d)}, not an int`);
    return dims as number[];
  }

  private array(raw: Uint8Array, dt: PyDType, shape: number[], fortran: boolean): NdArray {
    try {
      const n = checkedNumel(shape, 'numpy array');
      const spec = NUMPY_DTYPES[dt.code];
      const outBytes = n * Math.min(spec.itemsize, 4);
      if (n * spec.itemsize !== raw.byteLength) {
        this.fail(`numpy array of shape [${shape.join(', ')}] and dtype ${dt.code} needs ${n * spec.itemsize} bytes but its data holds ${raw.byteLength}`);
      }
      this.arrayBytes += outBytes;
      if (this.arrayBytes > this.maxArrayBytes) {
        this.fail(`array data would exceed ${this.maxArrayBytes} bytes in total (limit; arrays sharing one memoized buffer?)`);
      }
      return decodeNumpy(raw, dt.code, shape, fortran, 'numpy array');
    } catch (e) {
      if (e instanceof ArrayFormatError) this.fail(e.message);
      throw e;
    }
  }

  /**
   * Checks the finished tree: nesting depth (also catches cycles) and arrays
   * that never got their state. Each container is visited once.
   */
  private checkTree(root: PyValue): void {
    const height = new Map<object, number>();
    const onPath = new Set<object>();
    const visit = (v: unknown, depth: number): number => {
      if (v instanceof PendingArray) this.fail('a numpy array in the result never received its BUILD state');
      if (!(v instanceof Map) && !Array.isArray(v)) return 0;
      if (depth > this.maxDepth) this.fail(`result nested deeper than ${this.maxDepth} levels (limit)`);
      if (onPath.has(v)) this.fail('the result contains a reference cycle');
      const known = height.get(v);
      if (known !== undefined) {
        if (depth + known > this.maxDepth) this.fail(`result nested deeper than ${this.maxDepth} levels (limit)`);
        return known;
      }
      onPath.add(v);
      let h = 0;
      const children = v instanceof Map ? v.values() : v;
      for (const c of children) h = Math.max(h, 1 + visit(c, depth + 1));
      onPath.delete(v);
      height.set(v, h);
      return h;
    };
    this.op = this.pos - 1;
    visit(root, 0);
  }
}

// ---- helpers for consumers ----

/** True for a dict-like node of a parsed pickle. */
export function isMapping(v: PyValue): v is Map<PyKey, PyValue> {
  return v instanceof Map;
}

/**
 * Flattens nested mappings of arrays into 'a/b/c' names (Haiku's module
 * path + '/' + parameter name). Every leaf must be an NdArray and every key a
 * string; the first offending path is reported.
 */
export function flattenArrays(root: PyValue, prefix = '', maxVisits = 1_000_000): Map<string, NdArray> {
  const out = new Map<string, NdArray>();
  let visits = 0;
  const walk = (v: PyValue, path: string, depth: number): void => {
    if (depth > 64) throw new Error(`flattenArrays: nesting deeper than 64 at '${path}'`);
    // Shared sub-mappings are walked once per path: bound the total work.
    if (++visits > maxVisits) throw new Error(`flattenArrays: more than ${maxVisits} entries (shared sub-mappings?)`);
    if (v instanceof NdArray) {
      if (out.has(path)) throw new Error(`flattenArrays: two arrays are both named '${path}'`);
      out.set(path, v);
      return;
    }
    if (!(v instanceof Map)) throw new Error(`flattenArrays: '${path || '<root>'}' is a ${describe(v)}, not a mapping or an array`);
    for (const [k, c] of v) {
      if (typeof k !== 'string') throw new Error(`flattenArrays: non-string key ${String(k)} under '${path || '<root>'}'`);
      walk(c, path ? `${path}/${k}` : k, depth + 1);
    }
  };
  walk(root, prefix, 0);
  return out;
}
