// engine/weights.ts: encode/parse/load round trips (bytes, Response, chunked
// streams), f16 storage, the incremental writer, and hostile files.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { read, readF32 } from '../../engine/index.ts';
import {
  encodeWeights,
  parseWeightHeader,
  loadWeights,
  WeightWriter,
  WeightFormatError,
  widenF16,
  WEIGHT_ALIGN,
  WEIGHT_PREAMBLE,
  type HostTensor,
} from '../../engine/weights.ts';
import { f32ToF16 } from '../../engine/f16.ts';

const meta = { preset: 'test', config: { a: 1 }, note: 'ünïcode' };

function sample(): HostTensor[] {
  return [
    { name: 'enc/~/lin/w', dtype: 'f32', shape: [3, 5], data: randn(15, 1) },
    { name: 'enc/~/lin/b', dtype: 'f32', shape: [5], data: randn(5, 2) },
    { name: 'ids', dtype: 'i32', shape: [2, 2], data: Int32Array.from([1, -2, 3, 2 ** 31 - 1]) },
    { name: 'half', dtype: 'f16', shape: [7], data: Float32Array.from([0, 1, -2.5, 65504, 1e-7, 0.1, -0]) },
    { name: 'scalar', dtype: 'f32', shape: [], data: Float32Array.from([42]) },
    { name: '__proto__', dtype: 'f32', shape: [1], data: Float32Array.from([3]) },
  ];
}

/** Rewrites a file's JSON header (data left where it was). */
function withHeader(file: Uint8Array, edit: (h: any) => void): Uint8Array {
  const len = new DataView(file.buffer, file.byteOffset).getUint32(12, true);
  const h = JSON.parse(new TextDecoder().decode(file.subarray(WEIGHT_PREAMBLE, WEIGHT_PREAMBLE + len)));
  edit(h);
  const json = new TextEncoder().encode(JSON.stringify(h));
  const dataStart = Math.ceil((WEIGHT_PREAMBLE + len) / WEIGHT_ALIGN) * WEIGHT_ALIGN;
  if (WEIGHT_PREAMBLE + json.length > dataStart) throw new Error('test header grew past the data');
  const out = file.slice();
  out.fill(0, WEIGHT_PREAMBLE, dataStart);
  new DataView(out.buffer).setUint32(12, json.length, true);
  out.set(json, WEIGHT_PREAMBLE);
  return out;
}

function chunkedStream(bytes: Uint8Array, seed = 1): ReadableStream<Uint8Array> {
  let pos = 0;
  let s = seed;
  return new ReadableStream({
    pull(c) {
      if (pos >= bytes.length) return c.close();
      s = (s * 1103515245 + 12345) & 0x7fffffff;
      const n = 1 + (s % 997);
      c.enqueue(bytes.slice(pos, pos + n));
      pos += n;
    },
  });
}

test('encode -> parse: layout, alignment and sizes', () => {
  const file = encodeWeights(meta, sample());
  const h = parseWeightHeader(file);
  assert.equal(h.meta, meta);
  assert.is(h.tensors.length, 6);
  for (const t of h.tensors) {
    assert.is(t.offset % WEIGHT_ALIGN, 0, t.name);
    assert.ok(t.offset >= h.dataStart);
  }
  assert.equal(h.tensors.map((t) => t.bytes), [60, 20, 16, 14, 4, 4]);
  assert.is(h.totalBytes, file.length);
  assert.equal(Array.from(file.subarray(0, 8)), [0x50, 0x49, 0x4f, 0x57, 0x47, 0x54, 0, 0]);
  // floatDtype: 'f16' stores every float tensor as f16
  const half = parseWeightHeader(encodeWeights(meta, sample(), { floatDtype: 'f16' }));
  assert.equal(half.tensors.map((t) => t.dtype), ['f16', 'f16', 'i32', 'f16', 'f16', 'f16']);
  assert.throws(() => encodeWeights(meta, [...sample(), sample()[0]]), /duplicate tensor name 'enc\/~\/lin\/w'/);
  assert.throws(() => encodeWeights(meta, [{ name: 'x', dtype: 'f32', shape: [4], data: new Float32Array(3) }]), /needs 16 bytes, its data has 12/);
  assert.throws(() => encodeWeights(meta, [{ name: 'x', dtype: 'i32', shape: [1], data: new Float32Array(1) }]), /is i32 but its data is Float32Array/);
});

test('the incremental writer produces the same bytes as encodeWeights', async () => {
  const tensors = sample();
  const chunks: Uint8Array[] = [];
  const w = new WeightWriter(meta, tensors, (c) => {
    chunks.push(c.slice());
  });
  for (const t of tensors) await w.write(t.name, t.data);
  await w.finish();
  const joined = new Uint8Array(chunks.reduce((a, c) => a + c.length, 0));
  let o = 0;
  for (const c of chunks) joined.set(c, (o += c.length) - c.length);
  assert.ok(Buffer.from(joined).equals(Buffer.from(encodeWeights(meta, tensors))));
  const w2 = new WeightWriter(meta, tensors, () => {});
  try {
    await w2.write('ids', tensors[2].data);
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /expected tensor 'enc\/~\/lin\/w' next, got 'ids'/);
  }
  const w3 = new WeightWriter(meta, tensors, () => {});
  await w3.write(tensors[0].name, tensors[0].data);
  try {
    await w3.finish();
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /5 tensors not written/);
  }
});

test('loadWeights from bytes, a Response and a chunked stream; f16 widened or kept', async () => {
  const gpu = await testGpu();
  const tensors = sample();
  const file = encodeWeights(meta, tensors);
  const sources = [
    () => file,
    () => file.buffer.slice(0),
    () => new Response(file as Uint8Array<ArrayBuffer>),
    () => chunkedStream(file, 3),
    () => chunkedStream(file, 77),
  ];
  for (const src of sources) {
    const progress: [number, number, string][] = [];
    let seenMeta: unknown = null;
    const r = await loadWeights(gpu, src() as Uint8Array, {
      onProgress: (a, b, n) => progress.push([a, b, n]),
      expectMeta: (m) => {
        seenMeta = m;
        assert.is(progress.length, 0, 'meta comes before any tensor');
      },
    });
    assert.equal(seenMeta, meta);
    assert.equal(r.meta, meta);
    assert.is(progress.length, 6);
    assert.is(progress[5][0], file.length);
    assert.ok(progress.every(([a, b], i) => b === file.length && (i === 0 || a > progress[i - 1][0])));
    for (const t of tensors) {
      const g = r.tensors.get(t.name)!;
      assert.equal([...g.shape], t.shape, t.name);
      if (t.dtype === 'i32') {
        assert.is(g.dtype, 'i32');
        assert.equal([...(await read(g))], [...t.data]);
      } else {
        assert.is(g.dtype, 'f32', `${t.name} uploaded as f32`);
        const want = t.dtype === 'f16' ? widenF16(f32ToF16(t.data as Float32Array)) : t.data;
        assert.equal([...(await readF32(g))], [...want], t.name);
      }
    }
    for (const t of r.tensors.values()) t.dispose();
  }
  const kept = await loadWeights(gpu, file, { keepF16: true });
  const h = kept.tensors.get('half')!;
  assert.is(h.dtype, 'f16');
  const back = await readF32(h);
  assert.equal([...back], [0, 1, -2.5, 65504, fromHalf(f32ToF16([1e-7])[0]), fromHalf(f32ToF16([0.1])[0]), -0]);
  for (const t of kept.tensors.values()) t.dispose();
});

function fromHalf(b: number): number {
  return widenF16(Uint16Array.from([b]))[0];
}

test('f16 storage round trip: every f16 value widens exactly; f32 -> f16 error within half an ulp', () => {
  const all = new Uint16Array(65536).map((_, i) => i);
  const wide = widenF16(all);
  const again = f32ToF16(wide);
  for (let i = 0; i < 65536; i++) {
    const isNaN = (i & 0x7c00) === 0x7c00 && (i & 0x3ff) !== 0;
    if (!isNaN) assert.is(again[i], i, `bits ${i.toString(16)}`);
  }
  const x = randn(10000, 5, 4);
  const y = widenF16(f32ToF16(x));
  for (let i = 0; i < x.length; i++) {
    const ulp = 2 ** (Math.floor(Math.log2(Math.max(Math.abs(x[i]), 2 ** -14))) - 10);
    assert.ok(Math.abs(x[i] - y[i]) <= ulp / 2 + 1e-12, `${x[i]} -> ${y[i]}`);
  }
});

test('hostile weight files: truncated, wrong magic, wrong version, bad offsets and sizes', async () => {
  const gpu = await testGpu();
  const file = encodeWeights(meta, sample());
  const bad = (f: Uint8Array, re: RegExp, label: string) => {
    assert.throws(() => parseWeightHeader(f), (e: unknown) => e instanceof WeightFormatError && re.test((e as Error).message), label);
  };
  // every truncation point
  for (let cut = 0; cut < file.length; cut += 7) {
    bad(file.subarray(0, cut), /truncated|shorter than/, `cut ${cut}`);
  }
  bad(new TextEncoder().encode('\x80\x04\x95 a pickle, not weights.....'), /not a weight file \(bad magic/, 'pickle');
  bad(new Uint8Array(64), /bad magic/, 'zeros');
  const v2 = file.slice();
  new DataView(v2.buffer).setUint32(8, 2, true);
  bad(v2, /weight format version 2; this build reads version 1/, 'version');
  const hl = file.slice();
  new DataView(hl.buffer).setUint32(12, 0xffffffff, true);
  bad(hl, /weight header of 4294967295 bytes \(limit/, 'header length');
  const hl2 = file.slice();
  new DataView(hl2.buffer).setUint32(12, file.length, true);
  bad(hl2, /truncated weight file: the header needs/, 'header past the end');
  const garbage = file.slice();
  garbage[WEIGHT_PREAMBLE + 3] = 0x7b;
  garbage[WEIGHT_PREAMBLE + 4] = 0xff;
  bad(garbage, /corrupt weight header/, 'json');
  const edits: [string, (h: any) => void, RegExp][] = [
    ['offset past the end', (h) => (h.tensors[1].offset = Math.ceil(file.length / 256) * 256), /ends at byte \d+, the file has/],
    ['offset way past', (h) => (h.tensors[0].offset = 2 ** 52), /ends at byte|bad offset/],
    ['misaligned', (h) => (h.tensors[0].offset += 4), /bad offset/],
    ['inside the header', (h) => (h.tensors[0].offset = 0), /bad offset 0/],
    ['negative', (h) => (h.tensors[0].offset = -256), /bad offset -256/],
    ['bytes mismatch', (h) => (h.tensors[0].bytes = 64), /needs 60 bytes, header says 64/],
    ['shape mismatch', (h) => (h.tensors[0].shape = [4, 5]), /needs 80 bytes, header says 60/],
    ['negative dim', (h) => (h.tensors[0].shape = [-3, -5]), /bad dimension -3/],
    ['fractional dim', (h) => (h.tensors[0].shape = [1.5, 2]), /bad dimension 1.5/],
    ['string dim', (h) => (h.tensors[0].shape = ['3', 5]), /bad dimension "3"/],
    ['absurd shape', (h) => (h.tensors[0].shape = [2 ** 30, 2 ** 30, 2 ** 30]), /absurdly large/],
    ['overlap', (h) => (h.tensors[1].offset = h.tensors[0].offset), /overlaps/],
    ['duplicate', (h) => (h.tensors[1].name = h.tensors[0].name), /duplicate tensor/],
    ['dtype', (h) => (h.tensors[0].dtype = 'f64'), /unknown dtype "f64"/],
    ['no name', (h) => (h.tensors[0].name = ''), /tensor '' has a bad name/],
    ['version field', (h) => (h.version = 7), /weight header version 7/],
    ['tensors not a list', (h) => (h.tensors = { a: 1 }), /no tensor list/],
    ['meta not an object', (h) => (h.meta = 'x'), /meta is not an object/],
  ];
  for (const [label, edit, re] of edits) bad(withHeader(file, edit), re, label);
  // loadWeights: the same refusals, from bytes and from streams; nothing leaks
  for (const [label, edit, re] of edits.slice(0, 3)) {
    const f = withHeader(file, edit);
    for (const src of [f, chunkedStream(f)]) {
      try {
        await loadWeights(gpu, src);
        assert.unreachable(label);
      } catch (e) {
        assert.ok(re.test((e as Error).message) || /truncated/.test((e as Error).message), `${label}: ${(e as Error).message}`);
      }
    }
  }
  // a stream (length unknown) whose header claims a huge tensor: refused before allocating
  const huge = withHeader(file, (h) => {
    h.tensors[5].shape = [2 ** 40];
    h.tensors[5].bytes = 2 ** 42;
  });
  try {
    await loadWeights(gpu, chunkedStream(huge));
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /needs 4398046511104 bytes on the GPU, over the device's maxBufferSize/);
  }
  for (const cut of [0, 5, 16, 100, file.length - 1]) {
    try {
      await loadWeights(gpu, chunkedStream(file.subarray(0, cut)));
      assert.unreachable(`stream cut ${cut}`);
    } catch (e) {
      assert.match((e as Error).message, /truncated|shorter than/, `stream cut ${cut}`);
    }
  }
  try {
    await loadWeights(gpu, file, {
      expectMeta(m) {
        if (m.preset !== 'imagenet-conv') throw new Error(`wrong preset ${String(m.preset)}`);
      },
    });
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /wrong preset test/);
  }
  try {
    await loadWeights(gpu, new Response('nope', { status: 404, statusText: 'Not Found' }));
    assert.unreachable();
  } catch (e) {
    assert.match((e as Error).message, /HTTP 404/);
  }
});

test.run();
