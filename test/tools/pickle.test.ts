// tools/pickle.ts: the golden checkpoints parse; hostile pickles are refused
// with clear messages, quickly, without crashing or executing anything.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { parsePickle, flattenArrays, PickleError, NdArray } from '../../tools/pickle.ts';
import { GOLDEN_DIR, COMPACT_DIR, PickleBuilder, checkpointPickle, treeFromFlat, randomF32Bytes, skipNote, type LeafSpec } from './helpers.ts';

/** Refusals slower than this mean unbounded work (see refused()). */
const HANG_MS = 10_000;

/** Runs fn, expects a PickleError whose message matches re, returns the error. */
function refused(fn: () => unknown, re: RegExp, label = ''): PickleError {
  const t0 = performance.now();
  try {
    fn();
  } catch (e) {
    const ms = performance.now() - t0;
    assert.instance(e, PickleError, `${label}: expected a PickleError, got ${(e as Error).constructor.name}: ${(e as Error).message}`);
    assert.ok(re.test((e as Error).message), `${label}: message ${JSON.stringify((e as Error).message)} does not match ${re}`);
    // A guard against blow-up (exponential work, an unbounded loop), not a
    // speed budget: 10 s is far above the milliseconds these take on an idle
    // machine, and far below what unbounded work would take.
    assert.ok(ms < HANG_MS, `${label}: took ${ms.toFixed(0)} ms`);
    return e as PickleError;
  }
  throw new assert.Assertion({ message: `${label}: was not refused`, details: '', generated: false, operator: 'throws', expects: re, actual: 'no error' });
}

function pickleFiles(dir: string | null): string[] {
  if (!dir) return [];
  return readdirSync(dir).filter((f) => f.endsWith('.pystate') || f.endsWith('.pickle')).map((f) => join(dir, f));
}

test('golden checkpoints parse into FlatMappings of float32 arrays', () => {
  if (skipNote('golden pickles', GOLDEN_DIR ?? COMPACT_DIR, 'PERCEIVER_GOLDEN_DIR')) return;
  const files = [...pickleFiles(GOLDEN_DIR), ...pickleFiles(COMPACT_DIR)];
  assert.ok(files.length >= 3);
  for (const f of files) {
    const root = parsePickle(readFileSync(f));
    assert.instance(root, Map, f);
    const flat = flattenArrays(root);
    assert.ok(flat.size > 50, `${f}: ${flat.size} arrays`);
    for (const [name, a] of flat) {
      assert.instance(a, NdArray);
      const n = a.shape.reduce((x, d) => x * d, 1);
      assert.is(a.data.length, n, name);
      if (name.endsWith('/counter')) assert.is(a.dtype, 'i32', name);
      else assert.is(a.dtype, 'f32', name);
    }
  }
});

test('a synthetic checkpoint round-trips (both numpy module names, f8, i4, Fortran order)', () => {
  const w = randomF32Bytes(6, 3);
  const flat = new Map<string, LeafSpec>([
    ['m/~/lin/w', { shape: [2, 3], data: w }],
    ['m/~/lin/b', { shape: [3] }],
    ['s/counter', { shape: [], dtype: 'i4', data: new Uint8Array([0xff, 0xff, 0xff, 0x7f]) }],
    ['s/f64', { shape: [2, 3], dtype: 'f8', data: new Uint8Array(new Float64Array([1, 2, 3, 4, 5, 6]).buffer), fortran: true }],
  ]);
  for (const numpyModule of ['numpy.core', 'numpy._core'] as const) {
    const out = flattenArrays(parsePickle(checkpointPickle(treeFromFlat(flat), { numpyModule })));
    assert.equal([...out.keys()], ['m/~/lin/w', 'm/~/lin/b', 's/counter', 's/f64']);
    assert.equal([...out.get('m/~/lin/w')!.data], [...new Float32Array(w.buffer)]);
    assert.equal(out.get('s/counter')!.shape, []);
    assert.equal([...out.get('s/counter')!.data], [0x7fffffff]);
    // Fortran [[1,3,5],[2,4,6]] in memory order 1..6 -> C order 1,3,5,2,4,6
    assert.equal([...out.get('s/f64')!.data], [1, 3, 5, 2, 4, 6]);
    assert.is(out.get('s/f64')!.sourceDtype, 'f8');
  }
});

test('protocol 2 (GLOBAL + _codecs.encode) and protocol 5 (_frombuffer + BYTEARRAY8) arrays', () => {
  // What numpy writes for np.arange(6, dtype=float32).reshape(2, 3) under protocol 2.
  const data = new Uint8Array(new Float32Array([0, 1, 2, 3, 4, 5]).buffer);
  const latin = String.fromCharCode(...data);
  const b = new PickleBuilder().proto(2).textGlobal('numpy._core.multiarray', '_reconstruct');
  b.textGlobal('numpy', 'ndarray').int(0).tuple(1);
  b.textGlobal('_codecs', 'encode').str('b').str('latin1').tuple(2).reduce().tuple(3).reduce();
  b.mark().int(1).int(2).int(3).tuple(2).textGlobal('numpy', 'dtype').str('f4').bool(false).bool(true).tuple(3).reduce();
  b.mark().int(3).str('<').none().none().none().int(-1).int(-1).int(0).raw(0x74).build();
  b.bool(false).textGlobal('_codecs', 'encode').str(latin).str('latin1').tuple(2).reduce().raw(0x74).build().stop();
  const a = parsePickle(b.finish()) as NdArray;
  assert.equal(a.shape, [2, 3]);
  assert.equal([...a.data], [0, 1, 2, 3, 4, 5]);

  const p5 = new PickleBuilder().proto(5).stackGlobal('numpy._core.numeric', '_frombuffer');
  p5.raw(0x96, 24, 0, 0, 0, 0, 0, 0, 0).rawBytes(data); // BYTEARRAY8
  p5.stackGlobal('numpy', 'dtype').str('f4').bool(false).bool(true).tuple(3).reduce();
  p5.mark().int(3).str('<').none().none().none().int(-1).int(-1).int(0).raw(0x74).build();
  p5.int(3).int(2).tuple(2).str('F').tuple(3); // (bytes, dtype, (3, 2)) then order below
  // rebuild as a 4-tuple: (buffer, dtype, shape, order)
  const q = new PickleBuilder().proto(5).stackGlobal('numpy._core.numeric', '_frombuffer').mark();
  q.raw(0x96, 24, 0, 0, 0, 0, 0, 0, 0).rawBytes(data);
  q.stackGlobal('numpy', 'dtype').str('f4').bool(false).bool(true).tuple(3).reduce();
  q.mark().int(3).str('<').none().none().none().int(-1).int(-1).int(0).raw(0x74).build();
  q.int(3).int(2).tuple(2).str('F').raw(0x74).reduce().stop();
  const f = parsePickle(q.finish()) as NdArray;
  assert.equal(f.shape, [3, 2]);
  // Fortran [3,2]: columns (0,1,2) and (3,4,5) -> rows [0,3],[1,4],[2,5]
  assert.equal([...f.data], [0, 3, 1, 4, 2, 5]);
});

test('scalars, numpy scalars, strings, containers and OrderedDict read as data', () => {
  const b = new PickleBuilder().proto(4).emptyDict().mark();
  b.str('f').raw(0x47, 0x40, 0x09, 0x21, 0xfb, 0x54, 0x44, 0x2d, 0x18); // BINFLOAT pi (big-endian)
  b.str('big').raw(0x8a, 8, 0, 0, 0, 0, 0, 0, 0, 0x40); // LONG1 2^62
  b.str('neg').raw(0x8a, 1, 0xff); // LONG1 -1
  b.str('list').emptyList().mark().int(1).int(2).raw(0x65); // APPENDS
  b.str('t').mark().none().bool(true).raw(0x74);
  b.str('od').stackGlobal('collections', 'OrderedDict').tuple(0).reduce().str('k').int(5).raw(0x73);
  b.str('sc').stackGlobal('numpy.core.multiarray', 'scalar').stackGlobal('numpy', 'dtype').str('f4').bool(false).bool(true).tuple(3).reduce();
  b.mark().int(3).str('<').none().none().none().int(-1).int(-1).int(0).raw(0x74).build();
  b.bytes(new Uint8Array(new Float32Array([2.5]).buffer)).tuple(2).reduce();
  b.str('ü€').str('unicode ✓');
  b.setitems().stop();
  const m = parsePickle(b.finish()) as Map<string, unknown>;
  assert.is(m.get('f'), Math.PI);
  assert.is(m.get('big'), 2n ** 62n);
  assert.is(m.get('neg'), -1);
  assert.equal(m.get('list'), [1, 2]);
  assert.equal(m.get('t'), [null, true]);
  assert.ok(Object.isFrozen(m.get('t')));
  assert.equal([...(m.get('od') as Map<string, number>)], [['k', 5]]);
  const sc = m.get('sc') as NdArray;
  assert.equal(sc.shape, []);
  assert.equal([...sc.data], [2.5]);
  assert.is(m.get('ü€'), 'unicode ✓');
});

// ---------------- hostile input ----------------

test('dangerous globals are refused by name and offset (GLOBAL and STACK_GLOBAL)', () => {
  const names: [string, string][] = [
    ['os', 'system'],
    ['posix', 'system'],
    ['nt', 'system'],
    ['builtins', 'eval'],
    ['builtins', 'exec'],
    ['__builtin__', 'eval'],
    ['subprocess', 'Popen'],
    ['builtins', 'getattr'],
    ['numpy', 'load'],
    ['numpy.core.multiarray', '_reconstructX'],
    ['haiku._src.data_structures', 'to_mutable_dict'],
    ['torch._utils', '_rebuild_tensor_v2'],
  ];
  for (const [m, n] of names) {
    const g = new PickleBuilder().proto(2).textGlobal(m, n).str('echo pwned').tuple(1).reduce().stop().finish();
    const e = refused(() => parsePickle(g), new RegExp(`refused global '${m.replace(/\./g, '\\.')}\\.${n}'.*at byte 2\\)`), `GLOBAL ${m}.${n}`);
    assert.is(e.offset, 2);
    const s = new PickleBuilder().proto(4).stackGlobal(m, n).str('echo pwned').tuple(1).reduce().stop().finish();
    refused(() => parsePickle(s), new RegExp(`refused global '${m.replace(/\./g, '\\.')}\\.${n}'`), `STACK_GLOBAL ${m}.${n}`);
  }
  // The classic protocol-0 payload is not even a protocol 2-5 pickle.
  refused(() => parsePickle(new TextEncoder().encode("cos\nsystem\n(S'echo pwned'\ntR.")), /not a protocol 2-5 pickle/, 'protocol 0');
  // Allowed global inside a hostile one: the refusal still comes first.
  const nested = new PickleBuilder().proto(4).stackGlobal('haiku._src.data_structures', 'FlatMapping').stackGlobal('os', 'system').tuple(1).reduce().stop().finish();
  refused(() => parsePickle(nested), /refused global 'os\.system'/);
  // A GLOBAL name with odd characters or no end of line
  refused(() => parsePickle(new PickleBuilder().proto(2).raw(0x63).rawBytes(new TextEncoder().encode('os system\nx\n')).finish()), /not a dotted Python name/);
  refused(() => parsePickle(new PickleBuilder().proto(2).raw(0x63).rawBytes(new Uint8Array(300).fill(0x61)).finish()), /longer than 256 bytes/);
});

test('refused and unknown opcodes are named', () => {
  const cases: [number[], RegExp][] = [
    [[0x50, 0x31, 0x0a], /refused opcode PERSID \(0x50\).*persistent/],
    [[0x4e, 0x51], /refused opcode BINPERSID/],
    [[0x82, 0x01], /refused opcode EXT1/],
    [[0x83, 0x01, 0x00], /refused opcode EXT2/],
    [[0x84, 1, 0, 0, 0], /refused opcode EXT4/],
    [[0x28, 0x69, 0x6f, 0x73, 0x0a, 0x73, 0x0a], /refused opcode INST/],
    [[0x28, 0x6f], /refused opcode OBJ/],
    [[0x92], /refused opcode NEWOBJ_EX/],
    [[0x97], /refused opcode NEXT_BUFFER/],
    [[0x98], /refused opcode READONLY_BUFFER/],
    [[0x53, 0x27, 0x27, 0x0a], /refused opcode STRING/],
    [[0x30], /refused opcode POP/],
    [[0xff], /unknown opcode 0xff/],
    [[0x00], /unknown opcode 0x00/],
  ];
  for (const [ops, re] of cases) {
    const e = refused(() => parsePickle(new PickleBuilder().proto(4).raw(...ops).stop().finish()), re, re.source);
    assert.match(e.message, /at byte \d+/);
  }
  refused(() => parsePickle(new PickleBuilder().proto(1).none().stop().finish()), /unsupported pickle protocol 1/);
  refused(() => parsePickle(new PickleBuilder().proto(6).none().stop().finish()), /unsupported pickle protocol 6/);
  refused(() => parsePickle(new Uint8Array(0)), /empty input/);
});

test('truncation anywhere gives a clear PickleError, never a crash', () => {
  const flat = new Map<string, LeafSpec>([
    ['enc/~/lin/w', { shape: [4, 5], data: randomF32Bytes(20) }],
    ['enc/~/lin/b', { shape: [5] }],
    ['dec/big', { shape: [70], data: randomF32Bytes(70, 9) }], // BINBYTES (> 255 bytes)
    ['dec/~/n', { shape: [], dtype: 'i4' }],
  ]);
  const full = checkpointPickle(new Map([['params', treeFromFlat(flat)], ['state', new Map()]]), { plainRoot: true });
  parsePickle(full); // the complete file is fine
  for (let cut = 0; cut < full.length; cut++) {
    refused(() => parsePickle(full.subarray(0, cut)), /truncated|without STOP|stack underflow|empty input|unclosed MARK|not a protocol/, `cut at ${cut}`);
  }
  if (COMPACT_DIR) {
    const g = readFileSync(join(COMPACT_DIR, 'imagenet_conv.pystate'));
    const step = Math.floor(g.length / 97);
    for (let cut = 1; cut < g.length; cut += step) {
      refused(() => parsePickle(g.subarray(0, cut)), /truncated|without STOP/, `golden cut at ${cut}`);
    }
  }
});

test('absurd claimed lengths are refused before allocating', () => {
  const big = [2n ** 60n, 2n ** 63n, 2n ** 64n - 1n, 2n ** 53n, 1000n];
  for (const n of big) {
    refused(() => parsePickle(new PickleBuilder().proto(4).str8(n).stop().finish()), new RegExp(`BINUNICODE8 claims ${n} bytes`), `BINUNICODE8 ${n}`);
    const b8 = new PickleBuilder().proto(4).raw(0x8e, ...Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))).stop().finish();
    refused(() => parsePickle(b8), /BINBYTES8 claims/, `BINBYTES8 ${n}`);
    const ba = new PickleBuilder().proto(5).raw(0x96, ...Array.from({ length: 8 }, (_, i) => Number((n >> BigInt(8 * i)) & 0xffn))).stop().finish();
    refused(() => parsePickle(ba), /BYTEARRAY8 claims/, `BYTEARRAY8 ${n}`);
    refused(() => parsePickle(new PickleBuilder().proto(4).frame(n).none().stop().finish()), /FRAME claims/, `FRAME ${n}`);
  }
  refused(() => parsePickle(new PickleBuilder().proto(4).raw(0x58, 0xff, 0xff, 0xff, 0xff).stop().finish()), /BINUNICODE needs 4294967295 bytes/);
  refused(() => parsePickle(new PickleBuilder().proto(4).raw(0x42, 0xff, 0xff, 0xff, 0xff).stop().finish()), /BINBYTES needs 4294967295 bytes/);
  refused(() => parsePickle(new PickleBuilder().proto(4).raw(0x8a, 0xff).stop().finish()), /LONG1 of 255 bytes/);
  refused(() => parsePickle(new PickleBuilder().proto(4).raw(0x8c, 2, 0xc3, 0x28).stop().finish()), /invalid UTF-8/);
});

/** A numpy array pickle with a given BUILD state (shape tuple written by the caller). */
function arrayPickle(shape: number[], dtype: string, data: Uint8Array, opts: { order?: string } = {}): Uint8Array {
  const b = new PickleBuilder().proto(4).stackGlobal('numpy.core.multiarray', '_reconstruct').stackGlobal('numpy', 'ndarray');
  b.int(0).tuple(1).bytes(new Uint8Array([0x62])).tuple(3).reduce();
  b.mark().int(1).mark();
  for (const d of shape) {
    if (d < 0 || d > 2 ** 31 - 1) b.raw(0x8a, 8, ...Array.from({ length: 8 }, (_, i) => Number((BigInt.asUintN(64, BigInt(d)) >> BigInt(8 * i)) & 0xffn)));
    else b.int(d);
  }
  b.raw(0x74).stackGlobal('numpy', 'dtype').str(dtype).bool(false).bool(true).tuple(3).reduce();
  b.mark().int(3).str(opts.order ?? '<').none().none().none().int(-1).int(-1).int(0).raw(0x74).build();
  b.bool(false).bytes(data).raw(0x74).build().stop();
  return b.finish();
}

test('array states that lie about their size, dtype or layout are refused', () => {
  refused(() => parsePickle(arrayPickle([2, 3], 'f4', new Uint8Array(20))), /needs 24 bytes but its data holds 20/);
  refused(() => parsePickle(arrayPickle([2 ** 31 - 1, 2 ** 31 - 1], 'f4', new Uint8Array(8))), /absurdly large/);
  refused(() => parsePickle(arrayPickle([2 ** 31 - 1, 2 ** 20], 'f4', new Uint8Array(8))), /needs \d+ bytes but its data holds 8/);
  refused(() => parsePickle(arrayPickle([2 ** 40, 2 ** 40], 'f4', new Uint8Array(8))), /absurdly large|needs/);
  refused(() => parsePickle(arrayPickle([-1, 2], 'f4', new Uint8Array(8))), /bad dimension -1/);
  refused(() => parsePickle(arrayPickle([2], 'O', new Uint8Array(16))), /unsupported numpy dtype 'O'/);
  refused(() => parsePickle(arrayPickle([2], 'c16', new Uint8Array(32))), /unsupported numpy dtype/);
  refused(() => parsePickle(arrayPickle([2], 'f4', new Uint8Array(8), { order: '>' })), /big-endian/);
  const i8 = new Uint8Array(new BigInt64Array([5n, 2n ** 40n]).buffer);
  refused(() => parsePickle(arrayPickle([2], 'i8', i8)), /does not fit in int32/);
  const ok = parsePickle(arrayPickle([2], 'i8', new Uint8Array(new BigInt64Array([5n, -7n]).buffer))) as NdArray;
  assert.equal([...ok.data], [5, -7]);
  // numpy.ndarray called directly, FlatMapping of an int, BUILD on a dict
  refused(() => parsePickle(new PickleBuilder().proto(4).stackGlobal('numpy', 'ndarray').int(3).tuple(1).reduce().stop().finish()), /only be passed to _reconstruct/);
  refused(() => parsePickle(new PickleBuilder().proto(4).stackGlobal('haiku._src.data_structures', 'FlatMapping').int(3).tuple(1).reduce().stop().finish()), /expected a dict/);
  refused(() => parsePickle(new PickleBuilder().proto(4).emptyDict().emptyDict().build().stop().finish()), /BUILD on a dict is not supported/);
  refused(() => parsePickle(new PickleBuilder().proto(4).str('x').tuple(0).reduce().stop().finish()), /string is not callable/);
  // an array used before its BUILD state
  const early = new PickleBuilder().proto(4).stackGlobal('numpy.core.multiarray', '_reconstruct').stackGlobal('numpy', 'ndarray');
  early.int(0).tuple(1).bytes(new Uint8Array([0x62])).tuple(3).reduce().tuple(1).stop();
  refused(() => parsePickle(early.finish()), /before its BUILD state/);
  // object arrays: the data is a list
  const obj = new PickleBuilder().proto(4).stackGlobal('numpy.core.multiarray', '_reconstruct').stackGlobal('numpy', 'ndarray');
  obj.int(0).tuple(1).bytes(new Uint8Array([0x62])).tuple(3).reduce();
  obj.mark().int(1).int(1).tuple(1).stackGlobal('numpy', 'dtype').str('f4').bool(false).bool(true).tuple(3).reduce();
  obj.bool(false).emptyList().raw(0x74).build().stop();
  refused(() => parsePickle(obj.finish()), /array data must be bytes/);
});

test('keys like __proto__ and constructor are plain Map keys', () => {
  const b = new PickleBuilder().proto(4).stackGlobal('haiku._src.data_structures', 'FlatMapping').emptyDict().mark();
  b.str('__proto__').emptyDict().mark().str('polluted').bool(true).setitems();
  b.str('constructor').str('x').str('hasOwnProperty').int(1).str('toString').none();
  b.setitems().tuple(1).reduce().stop();
  const m = parsePickle(b.finish()) as Map<string, unknown>;
  assert.instance(m, Map);
  assert.equal([...m.keys()], ['__proto__', 'constructor', 'hasOwnProperty', 'toString']);
  assert.instance(m.get('__proto__'), Map);
  assert.is(({} as Record<string, unknown>).polluted, undefined);
  assert.is(Object.prototype.hasOwnProperty.call(Object.prototype, 'polluted'), false);
  // tuple keys (unhashable as data here) are refused
  refused(() => parsePickle(new PickleBuilder().proto(4).emptyDict().int(1).tuple(1).int(2).raw(0x73).stop().finish()), /unsupported dict key of type tuple/);
});

test('deep nesting, huge stacks and memo abuse hit limits quickly', () => {
  const rep = (n: number, ...ops: number[]) => {
    const b = new PickleBuilder().proto(4);
    const chunk = new Uint8Array(n * ops.length);
    for (let i = 0; i < n; i++) chunk.set(ops, i * ops.length);
    return b.rawBytes(chunk);
  };
  refused(() => parsePickle(rep(100000, 0x28).stop().finish()), /more than 256 nested MARKs/);
  refused(() => parsePickle(rep(100000, 0x28, 0x5d).stop().finish()), /more than 256 nested MARKs/);
  // 100000 nested lists via EMPTY_LIST then APPEND
  const nest = rep(100000, 0x5d).rawBytes(new Uint8Array(99999).fill(0x61)).stop().finish();
  refused(() => parsePickle(nest), /nested deeper than 64 levels/);
  refused(() => parsePickle(rep(1_000_001, 0x4e).stop().finish()), /stack holds more than 1000000 values/);
  // memo: a missing entry, too many entries, a self-referencing list
  refused(() => parsePickle(new PickleBuilder().proto(4).raw(0x6a, 0xff, 0xff, 0xff, 0x7f).stop().finish()), /memo entry 2147483647 was never stored/);
  refused(() => parsePickle(rep(1_000_001, 0x94).stop().finish()), /stack underflow|memo holds more/);
  refused(() => parsePickle(new PickleBuilder().proto(4).none().rawBytes(new Uint8Array(1_000_001).fill(0x94)).stop().finish()), /memo holds more than 1000000/);
  refused(() => parsePickle(new PickleBuilder().proto(4).emptyList().memoize().get(0).raw(0x61).stop().finish()), /reference cycle/);
  // "billion laughs": each list holds its predecessor twice; the tree check is linear
  const laugh = (levels: number) => {
    const b = new PickleBuilder().proto(4).emptyList().memoize();
    for (let i = 0; i < levels; i++) b.emptyList().mark().get(i).get(i).raw(0x65).memoize();
    return b.stop().finish();
  };
  const t0 = performance.now();
  assert.ok(Array.isArray(parsePickle(laugh(60)))); // 2^60 paths, 61 nodes: checked in linear time
  assert.ok(performance.now() - t0 < HANG_MS); // linear, not 2^60: a guard against blow-up, not a speed budget
  refused(() => parsePickle(laugh(80)), /nested deeper than 64 levels/);
  const wide = new PickleBuilder().proto(4).emptyDict().memoize();
  for (let i = 0; i < 30; i++) wide.emptyDict().mark().str('a').get(i).str('b').get(i).setitems().memoize();
  const tree = parsePickle(wide.stop().finish(), { maxDepth: 64 });
  assert.throws(() => flattenArrays(tree), /more than 1000000 entries/);
  // many arrays sharing one memoized 1 MiB buffer exceed the array-bytes budget
  const b2 = new PickleBuilder().proto(4).bytes(new Uint8Array(1 << 20)).memoize().emptyList().mark();
  for (let i = 0; i < 200; i++) {
    b2.stackGlobal('numpy.core.numeric', '_frombuffer').mark().get(0);
    b2.stackGlobal('numpy', 'dtype').str('u1').bool(false).bool(true).tuple(3).reduce();
    b2.int(1 << 20).tuple(1).str('C').raw(0x74).reduce();
  }
  refused(() => parsePickle(b2.raw(0x65).stop().finish()), /array data would exceed/);
});

test('stack discipline: operations never reach below a MARK', () => {
  refused(() => parsePickle(new PickleBuilder().proto(4).none().mark().tuple(1).stop().finish()), /TUPLE1: stack underflow/);
  refused(() => parsePickle(new PickleBuilder().proto(4).raw(0x74).stop().finish()), /TUPLE without a MARK/);
  refused(() => parsePickle(new PickleBuilder().proto(4).emptyDict().mark().none().setitems().stop().finish()), /odd number of items/);
  refused(() => parsePickle(new PickleBuilder().proto(4).emptyDict().mark().stop().finish()), /STOP: stack underflow|unclosed MARK/);
  refused(() => parsePickle(new PickleBuilder().proto(4).none().mark().none().stop().finish()), /unclosed MARK/);
  refused(() => parsePickle(new PickleBuilder().proto(4).tuple(0).int(1).raw(0x61).stop().finish()), /APPEND on a tuple, not a list/);
  refused(() => parsePickle(new PickleBuilder().proto(4).int(1).int(1).int(1).raw(0x73).stop().finish()), /SETITEM on a number, not a dict/);
});

test('a mapping that repeats a key is refused (Python would keep the last and hide the first; found by npm run fuzz)', () => {
  // {'w': 1, 'w': 2} through SETITEMS, SETITEM, and FlatMapping([(k, v), ...])
  refused(() => parsePickle(new PickleBuilder().proto(4).emptyDict().mark().str('w').int(1).str('w').int(2).setitems().stop().finish()), /SETITEMS: duplicate key "w" in a mapping/);
  refused(() => parsePickle(new PickleBuilder().proto(4).emptyDict().str('w').int(1).raw(0x73).str('w').int(2).raw(0x73).stop().finish()), /SETITEM: duplicate key "w"/);
  const pairs = new PickleBuilder().proto(4).stackGlobal('collections', 'OrderedDict').emptyList().mark();
  pairs.str('b').int(1).tuple(2).str('b').int(2).tuple(2).raw(0x65); // APPENDS
  refused(() => parsePickle(pairs.tuple(1).reduce().stop().finish()), /duplicate key "b"/);
  // distinct keys still read
  const ok = parsePickle(new PickleBuilder().proto(4).emptyDict().mark().str('w').int(1).str('b').int(2).setitems().stop().finish());
  assert.equal([...(ok as Map<string, number>).entries()], [['w', 1], ['b', 2]]);
});

test.run();
