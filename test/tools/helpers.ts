// Helpers for the weight-tooling tests: locating the golden fixtures, and a
// tiny pickle *writer* that emits checkpoints the way Python/numpy/Haiku do
// (protocol 4, FlatMapping via STACK_GLOBAL, numpy arrays via _reconstruct +
// BUILD), plus raw opcode building for hostile inputs.

import { existsSync } from 'node:fs';
import { join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
export const REPO = resolve(here, '..', '..');

/** An env var, when set, decides alone (set it to 'none' to simulate a missing set); else the first existing candidate. */
function firstDir(env: string, candidates: (string | undefined)[]): string | null {
  const forced = process.env[env];
  if (forced !== undefined && forced !== '') return existsSync(forced) ? forced : null;
  for (const c of candidates) if (c && existsSync(c)) return c;
  return null;
}

/** The full golden set (../shared/golden), or null. Override with PERCEIVER_GOLDEN_DIR. */
export const GOLDEN_DIR = firstDir('PERCEIVER_GOLDEN_DIR', [join(REPO, '..', 'shared', 'golden')]);

/** The compact set: PERCEIVER_GOLDEN_COMPACT_DIR, the repo's bench/fixtures, or ../shared/golden-compact. */
export const COMPACT_DIR = firstDir('PERCEIVER_GOLDEN_COMPACT_DIR', [
  existsSync(join(REPO, 'bench', 'fixtures', 'imagenet_conv.pystate')) ? join(REPO, 'bench', 'fixtures') : undefined,
  join(REPO, '..', 'shared', 'golden-compact'),
]);

export const STEMS: Record<string, string> = {
  'imagenet-conv': 'imagenet_conv',
  'imagenet-fourier': 'imagenet_fourier',
  'imagenet-learned': 'imagenet_learned',
  'language-mlm': 'language_mlm',
  'optical-flow': 'optical_flow',
  'multimodal-autoencoder': 'multimodal_autoencoder',
};

/** When `dir` is null: records the running test as skipped (test/skip.ts) and returns true. */
export function skipNote(what: string, dir: string | null, env: string): boolean {
  if (dir) return false;
  skip(`${what}: no fixture directory found; set ${env}`);
  return true;
}

// ---------------- pickle writing ----------------

/** Low-level opcode writer; data blocks may be 'zeros' (not allocated until finish). */
export class PickleBuilder {
  private parts: (Uint8Array | number)[] = [];
  private memoCount = 0;

  raw(...bytes: number[]): this {
    this.parts.push(Uint8Array.from(bytes));
    return this;
  }
  rawBytes(b: Uint8Array): this {
    this.parts.push(b);
    return this;
  }
  /** n zero bytes, materialised only in finish() */
  zeros(n: number): this {
    this.parts.push(n);
    return this;
  }
  private u32(n: number): number[] {
    return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
  }
  private u64(n: number | bigint): number[] {
    const b = BigInt(n);
    return Array.from({ length: 8 }, (_, i) => Number((b >> BigInt(8 * i)) & 0xffn));
  }
  proto(p = 4): this {
    return this.raw(0x80, p);
  }
  frame(n: number | bigint): this {
    return this.raw(0x95, ...this.u64(n));
  }
  stop(): this {
    return this.raw(0x2e);
  }
  mark(): this {
    return this.raw(0x28);
  }
  /** MEMOIZE; returns the memo index */
  put(): number {
    this.raw(0x94);
    return this.memoCount++;
  }
  memoize(): this {
    this.put();
    return this;
  }
  get(i: number): this {
    return i < 256 ? this.raw(0x68, i) : this.raw(0x6a, ...this.u32(i));
  }
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    if (b.length < 256) this.raw(0x8c, b.length);
    else this.raw(0x58, ...this.u32(b.length));
    return this.rawBytes(b);
  }
  /** BINUNICODE8 with an arbitrary claimed length and the given payload */
  str8(claimed: number | bigint, payload = new Uint8Array(0)): this {
    return this.raw(0x8d, ...this.u64(claimed)).rawBytes(payload);
  }
  bytesHeader(n: number): this {
    if (n < 256) return this.raw(0x43, n);
    if (n < 2 ** 32) return this.raw(0x42, ...this.u32(n));
    return this.raw(0x8e, ...this.u64(n));
  }
  bytes(b: Uint8Array): this {
    return this.bytesHeader(b.length).rawBytes(b);
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.raw(0x4b, n);
    if (n >= 0 && n < 65536) return this.raw(0x4d, n & 0xff, n >> 8);
    return this.raw(0x4a, ...this.u32(n >>> 0));
  }
  none(): this {
    return this.raw(0x4e);
  }
  bool(v: boolean): this {
    return this.raw(v ? 0x88 : 0x89);
  }
  stackGlobal(module: string, name: string): this {
    this.str(module).memoize();
    this.str(name).memoize();
    return this.raw(0x93);
  }
  textGlobal(module: string, name: string): this {
    return this.raw(0x63).rawBytes(new TextEncoder().encode(`${module}\n${name}\n`));
  }
  tuple(n: 0 | 1 | 2 | 3): this {
    return this.raw([0x29, 0x85, 0x86, 0x87][n]);
  }
  reduce(): this {
    return this.raw(0x52);
  }
  build(): this {
    return this.raw(0x62);
  }
  emptyDict(): this {
    return this.raw(0x7d);
  }
  setitems(): this {
    return this.raw(0x75);
  }
  emptyList(): this {
    return this.raw(0x5d);
  }

  get length(): number {
    let n = 0;
    for (const p of this.parts) n += typeof p === 'number' ? p : p.length;
    return n;
  }
  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      if (typeof p === 'number') o += p;
      else {
        out.set(p, o);
        o += p.length;
      }
    }
    return out;
  }
}

export interface LeafSpec {
  shape: number[];
  dtype?: 'f4' | 'i4' | 'f8';
  /** raw little-endian bytes; default zeros */
  data?: Uint8Array;
  fortran?: boolean;
}
export type Tree = Map<string, Tree | LeafSpec>;

/**
 * Writes a checkpoint pickle in the released layout: every mapping is a
 * haiku FlatMapping(dict) (as Haiku 0.0.4 pickles it), every leaf a numpy
 * array (_reconstruct + BUILD). `numpyModule` picks numpy 1.x or 2.x names.
 */
export function checkpointPickle(root: Tree, opts: { numpyModule?: 'numpy.core' | 'numpy._core'; plainRoot?: boolean } = {}): Uint8Array {
  const np = opts.numpyModule ?? 'numpy.core';
  const b = new PickleBuilder().proto(4);
  const memo: Record<string, number> = {};
  const cached = (key: string, emit: () => void) => {
    if (key in memo) b.get(memo[key]);
    else {
      emit();
      memo[key] = b.put();
    }
  };
  const leaf = (l: LeafSpec) => {
    const dt = l.dtype ?? 'f4';
    const item = dt === 'f8' ? 8 : 4;
    const n = l.shape.reduce((a, d) => a * d, 1);
    cached('reconstruct', () => b.stackGlobal(`${np}.multiarray`, '_reconstruct'));
    cached('ndarray', () => b.stackGlobal('numpy', 'ndarray'));
    b.int(0).tuple(1);
    b.memoize();
    b.bytes(new Uint8Array([0x62])); // b'b'
    b.memoize();
    b.tuple(3).memoize();
    b.reduce().memoize();
    b.mark().int(1);
    b.mark();
    for (const d of l.shape) b.int(d);
    b.raw(0x74).memoize(); // TUPLE
    cached(`dtype:${dt}`, () => {
      cached('dtype', () => b.stackGlobal('numpy', 'dtype'));
      b.str(dt).memoize();
      b.bool(false).bool(true).tuple(3).memoize();
      b.reduce().memoize();
      b.mark().int(3).str('<').memoize();
      b.none().none().none().int(0xffffffff | 0).int(0xffffffff | 0).int(0);
      b.raw(0x74).memoize();
      b.build();
    });
    b.bool(Boolean(l.fortran));
    if (l.data) {
      if (l.data.length !== n * item) throw new Error('leaf data size');
      b.bytes(l.data);
    } else {
      b.bytesHeader(n * item).zeros(n * item);
    }
    b.memoize();
    b.raw(0x74).memoize(); // TUPLE (state)
    b.build();
  };
  const mapping = (t: Tree, flat: boolean) => {
    if (flat) cached('FlatMapping', () => b.stackGlobal('haiku._src.data_structures', 'FlatMapping'));
    b.emptyDict().memoize();
    b.mark();
    for (const [k, v] of t) {
      b.str(k).memoize();
      if (v instanceof Map) mapping(v, true);
      else leaf(v);
    }
    b.setitems();
    if (flat) b.tuple(1).memoize().reduce().memoize();
  };
  mapping(root, !opts.plainRoot);
  b.stop();
  return b.finish();
}

/** Haiku's two-level layout from flat names: module path -> param -> leaf. */
export function treeFromFlat(flat: Map<string, LeafSpec>): Tree {
  const root: Tree = new Map();
  for (const [name, leaf] of flat) {
    const i = name.lastIndexOf('/');
    const mod = name.slice(0, i);
    const param = name.slice(i + 1);
    if (!root.has(mod)) root.set(mod, new Map());
    (root.get(mod) as Tree).set(param, leaf);
  }
  return root;
}

/** A deterministic pseudo-random float32 buffer as raw bytes. */
export function randomF32Bytes(n: number, seed = 1): Uint8Array {
  const f = new Float32Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    f[i] = ((s >>> 0) / 4294967296) * 2 - 1;
  }
  return new Uint8Array(f.buffer);
}

/** Runs one `perceiver-io` command line in-process (tools/cli.ts main); returns its exit code, stdout and stderr. */
export async function runCli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  const { main } = await import('../../tools/cli.ts');
  let out = '';
  let err = '';
  const code = await main(argv, { out: (l) => void (out += `${l}\n`), err: (l) => void (err += `${l}\n`) });
  return { code, out, err };
}
