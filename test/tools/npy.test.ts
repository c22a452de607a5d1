// tools/npy.ts: .npy/.npz round trips, the golden archives, malformed input.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseNpy, encodeNpy, readNpz, writeNpz, listZip, crc32, NpyError, ndarray } from '../../tools/npy.ts';
import { GOLDEN_DIR, COMPACT_DIR, skipNote } from './helpers.ts';

/** A hand-made .npy (version 1.0) with an arbitrary header and data. */
function npy(header: string, data: Uint8Array, major = 1): Uint8Array {
  const pre = major === 1 ? 10 : 12;
  const h = new TextEncoder().encode(header);
  const out = new Uint8Array(pre + h.length + data.length);
  out.set([0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59, major, 0]);
  const dv = new DataView(out.buffer);
  if (major === 1) dv.setUint16(8, h.length, true);
  else dv.setUint32(8, h.length, true);
  out.set(h, pre);
  out.set(data, pre + h.length);
  return out;
}

test('encodeNpy/parseNpy round-trip every written dtype', () => {
  const cases = [
    ndarray([2, 3], Float32Array.from([1, -2, 3.5, 0, 1e-30, -Infinity])),
    ndarray([4], Int32Array.from([0, -1, 2 ** 31 - 1, -(2 ** 31)])),
    ndarray([2, 2], Uint16Array.from([0x3c00, 0xbc00, 0x7c00, 0x0001]), 'f16'),
    ndarray([3], Uint8Array.from([0, 200, 255]), 'u8'),
    ndarray([2], Uint8Array.from([1, 0]), 'bool'),
    ndarray([], Float32Array.from([7])),
    ndarray([0, 5], new Float32Array(0)),
  ];
  for (const a of cases) {
    const bytes = encodeNpy(a);
    const headerEnd = 10 + new DataView(bytes.buffer).getUint16(8, true);
    assert.is(headerEnd % 64, 0, 'data starts on a 64-byte boundary');
    const b = parseNpy(bytes);
    assert.is(b.dtype, a.dtype);
    assert.equal(b.shape, a.shape);
    assert.equal([...b.data], [...a.data]);
  }
  assert.throws(() => encodeNpy({ dtype: 'f32', shape: [3], data: new Float32Array(2) }), /holds 3 values but data has 2/);
  assert.throws(() => encodeNpy({ dtype: 'i32', shape: [2], data: new Float32Array(2) }), /needs a Int32Array/);
});

test('parseNpy reads f8/i8 (narrowed), Fortran order, versions 2 and 3', () => {
  const f8 = new Uint8Array(new Float64Array([1, 2, 3, 4, 5, 6]).buffer);
  const a = parseNpy(npy("{'descr': '<f8', 'fortran_order': True, 'shape': (2, 3), }\n", f8));
  assert.is(a.dtype, 'f32');
  assert.equal([...a.data], [1, 3, 5, 2, 4, 6]);
  const i8 = new Uint8Array(new BigInt64Array([1n, -2n]).buffer);
  assert.equal([...parseNpy(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (2,), }\n", i8, 2)).data], [1, -2]);
  const big = new Uint8Array(new BigInt64Array([2n ** 33n]).buffer);
  assert.throws(() => parseNpy(npy("{'descr': '<i8', 'fortran_order': False, 'shape': (1,), }", big)), /does not fit in int32/);
  assert.equal([...parseNpy(npy('{"descr": "|b1", "fortran_order": False, "shape": (3,)}', Uint8Array.from([0, 1, 7]), 3)).data], [0, 1, 1]);
});

test('parseNpy refuses malformed files with clear errors', () => {
  const ok = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }\n";
  const data = new Uint8Array(24);
  assert.throws(() => parseNpy(new Uint8Array(5)), /too short/);
  assert.throws(() => parseNpy(new TextEncoder().encode('PK\x03\x04 not npy at all')), /bad magic/);
  assert.throws(() => parseNpy(npy(ok, data.subarray(0, 20))), /needs 24 data bytes but the file holds 20/);
  assert.throws(() => parseNpy(npy(ok, data).subarray(0, 40)), /header claims/);
  assert.throws(() => parseNpy(npy("{'descr': '>f4', 'fortran_order': False, 'shape': (6,), }", data)), /big-endian/);
  assert.throws(() => parseNpy(npy("{'descr': '<c8', 'fortran_order': False, 'shape': (3,), }", data)), /unsupported numpy dtype/);
  assert.throws(() => parseNpy(npy("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': (6,), }", data)), /structured dtypes|malformed/);
  assert.throws(() => parseNpy(npy("{'descr': '<f4', 'shape': (6,), }", data)), /fortran_order/);
  assert.throws(() => parseNpy(npy("__import__('os').system('x')", data)), /malformed header/);
  assert.throws(() => parseNpy(npy("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999, 99999999999), }", data)), /absurdly large|needs/);
  const v9 = npy(ok, data);
  v9[6] = 9;
  assert.throws(() => parseNpy(v9), /unsupported .npy format version 9/);
  const huge = npy(ok, data, 2);
  new DataView(huge.buffer).setUint32(8, 0xfffffff0, true);
  assert.throws(() => parseNpy(huge), /header of \d+ bytes \(limit/);
});

test('writeNpz/readNpz round-trip; CRC, truncation and compression are checked', () => {
  const arrays = new Map([
    ['logits', ndarray([2, 3], Float32Array.from([1, 2, 3, 4, 5, 6]))],
    ['ids', ndarray([3], Int32Array.from([7, 8, 9]))],
    ['ünï', ndarray([1], Float32Array.from([0.5]))],
  ]);
  const z = writeNpz(arrays);
  const back = readNpz(z);
  assert.equal([...back.keys()], ['logits', 'ids', 'ünï']);
  for (const [k, v] of arrays) assert.equal([...back.get(k)!.data], [...v.data], k);
  assert.equal(listZip(z).map((e) => e.name), ['logits.npy', 'ids.npy', 'ünï.npy']);
  // corrupt one data byte -> CRC mismatch
  const bad = z.slice();
  const entry = listZip(z)[0];
  bad[entry.localOffset + 30 + 'logits.npy'.length + 100] ^= 0xff;
  assert.throws(() => readNpz(bad), /CRC mismatch in 'logits.npy'/);
  // deflate entries are refused with a message naming np.savez_compressed
  const deflated = z.slice();
  const dv = new DataView(deflated.buffer);
  dv.setUint16(entry.localOffset + 8, 8, true);
  const cd = deflated.length - 22 - 3 * 46 - ['logits.npy', 'ids.npy', 'ünï.npy'].reduce((a, n) => a + new TextEncoder().encode(n).length, 0);
  assert.is(dv.getUint32(cd, true), 0x02014b50);
  dv.setUint16(cd + 10, 8, true);
  assert.throws(() => readNpz(deflated), /deflate-compressed \(np\.savez_compressed\)/);
  // truncations
  for (const cut of [0, 10, 21, z.length - 1, Math.floor(z.length / 2)]) {
    assert.throws(() => readNpz(z.subarray(0, cut)), (e: unknown) => e instanceof NpyError, `cut ${cut}`);
  }
  assert.throws(() => readNpz(new Uint8Array(100)), /not a zip archive/);
  assert.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
});

test('the golden .npz archives read with the shapes the README lists', () => {
  if (skipNote('golden .npz', GOLDEN_DIR ?? COMPACT_DIR, 'PERCEIVER_GOLDEN_DIR')) return;
  const expect: Record<string, Record<string, number[]>> = {
    imagenet_conv: { images: [2, 224, 224, 3], logits: [2, 1000] },
    imagenet_fourier: { images: [2, 224, 224, 3], logits: [2, 1000] },
    imagenet_learned: { images: [2, 64, 64, 3], logits: [2, 1000] },
    language_mlm: { inputs: [2, 2048], input_mask: [2, 2048], logits: [2, 2048, 262] },
    optical_flow: { frames: [1, 2, 368, 496, 3], flow: [1, 368, 496, 2], big_frames: [2, 400, 520, 3], big_flow: [1, 400, 520, 2] },
    multimodal_autoencoder: { images: [1, 16, 224, 224, 3], audio: [1, 30720, 1], rec_image: [1, 16, 224, 224, 3], rec_audio: [1, 30720, 1], rec_label: [1, 700] },
  };
  if (GOLDEN_DIR) {
    for (const [stem, arrays] of Object.entries(expect)) {
      const m = readNpz(readFileSync(join(GOLDEN_DIR, `${stem}.npz`)));
      assert.equal([...m.keys()].sort(), Object.keys(arrays).sort(), stem);
      for (const [k, shape] of Object.entries(arrays)) {
        assert.equal(m.get(k)!.shape, shape, `${stem}.${k}`);
        assert.is(m.get(k)!.dtype, k === 'inputs' || k === 'input_mask' ? 'i32' : 'f32', `${stem}.${k}`);
      }
      // and they survive our writer
      const again = readNpz(writeNpz(m));
      for (const [k, a] of m) assert.ok(Buffer.from(again.get(k)!.data.buffer).equals(Buffer.from(a.data.buffer)), `${stem}.${k} rewritten`);
    }
  }
  if (COMPACT_DIR) {
    for (const stem of ['imagenet_conv', 'imagenet_fourier', 'imagenet_learned']) {
      const m = readNpz(readFileSync(join(COMPACT_DIR, `${stem}.npz`)));
      assert.equal(m.get('logits')!.shape, [2, 1000], stem);
      assert.is(m.get('images')!.shape.length, 4);
    }
  }
});

test.run();
