// The HuggingFace readers on hostile input: safetensors (tools/safetensors.ts),
// the zip reader (tools/zip.ts) and torch.save archives (tools/torch.ts with
// the pickle reader's torch subset). Each bad file is refused quickly with an
// error naming the problem; nothing is executed, nothing huge is allocated.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readSafetensors, streamSafetensors, parseSafetensorsIndex, joinShards } from '../../tools/safetensors.ts';
import { readZip } from '../../tools/zip.ts';
import { readTorchStateDict } from '../../tools/torch.ts';
import { parsePickle } from '../../tools/pickle.ts';
import { makeZip, torchPickle, torchArchive, safetensorsFile, f32Bytes } from './hf_helpers.ts';

function refused(fn: () => unknown, re: RegExp, label: string): void {
  const t0 = performance.now();
  try {
    fn();
  } catch (e) {
    assert.ok(re.test((e as Error).message), `${label}: message ${JSON.stringify((e as Error).message)} does not match ${re}`);
    assert.ok(performance.now() - t0 < 2000, `${label}: slow`);
    return;
  }
  assert.unreachable(`${label}: was not refused`);
}

async function refusedAsync(fn: () => Promise<unknown>, re: RegExp, label: string): Promise<void> {
  try {
    await fn();
  } catch (e) {
    assert.ok(re.test((e as Error).message), `${label}: message ${JSON.stringify((e as Error).message)} does not match ${re}`);
    return;
  }
  assert.unreachable(`${label}: was not refused`);
}

const twoTensors = () =>
  safetensorsFile(
    { __metadata__: { format: 'pt' }, b: { dtype: 'F32', shape: [2], data_offsets: [24, 32] }, a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] } },
    f32Bytes([1, 2, 3, 4, 5, 6, 7, 8]),
  );

test('safetensors: tensors read in memory and streamed in small chunks agree', async () => {
  const file = twoTensors();
  const m = readSafetensors(file);
  assert.equal([...m.keys()].sort(), ['a', 'b']);
  assert.equal(m.get('a')!.shape, [2, 3]);
  assert.equal([...m.get('b')!.data], [7, 8]);
  // a stream that hands out 3 bytes at a time
  let at = 0;
  const stream = new ReadableStream<Uint8Array>({
    pull(c) {
      if (at >= file.length) return c.close();
      c.enqueue(file.slice(at, at + 3));
      at += 3;
    },
  });
  let seen = 0;
  const s = await streamSafetensors(stream, { length: file.length, onBytes: (n) => (seen = n) });
  assert.equal([...s.get('a')!.data], [1, 2, 3, 4, 5, 6]);
  assert.is(seen, file.length);
  // bf16 widens exactly: 0x3f80 is 1.0
  const bf = readSafetensors(safetensorsFile({ x: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, Uint8Array.from([0x80, 0x3f, 0x00, 0xc0])));
  assert.equal([...bf.get('x')!.data], [1, -2]);
});

test('safetensors: hostile headers are refused naming the problem', () => {
  const data = f32Bytes([1, 2, 3, 4]);
  const cases: [string, Uint8Array, RegExp][] = [
    ['offsets past the end', safetensorsFile({ x: { dtype: 'F32', shape: [4], data_offsets: [8, 24] } }, data), /past the end of the data/],
    ['overlapping tensors', safetensorsFile({ x: { dtype: 'F32', shape: [3], data_offsets: [0, 12] }, y: { dtype: 'F32', shape: [2], data_offsets: [8, 16] } }, data), /overlap/],
    ['a 10^12-element claim', safetensorsFile({ x: { dtype: 'F32', shape: [1000000, 1000000], data_offsets: [0, 16] } }, data), /needs 4000000000000 bytes, its offsets span 16/],
    ['a 10^12-element claim with matching offsets', safetensorsFile({ x: { dtype: 'F32', shape: [1000000, 1000000], data_offsets: [0, 4e12] } }, data), /past the end/],
    ['a non-JSON header', safetensorsFile(null, data, '{"x": {"dtype": "F32",'), /not UTF-8 JSON/],
    ['a JSON array header', safetensorsFile([1, 2], data), /not a JSON object/],
    ['an unknown dtype', safetensorsFile({ x: { dtype: 'C64', shape: [2], data_offsets: [0, 16] } }, data), /unsupported dtype "C64"/],
    ['a negative dimension', safetensorsFile({ x: { dtype: 'F32', shape: [-4], data_offsets: [0, 16] } }, data), /bad shape/],
    ['offsets reversed', safetensorsFile({ x: { dtype: 'F32', shape: [0], data_offsets: [16, 0] } }, data), /bad data_offsets/],
    ['bad metadata', safetensorsFile({ __metadata__: { a: 1 } }, data), /__metadata__/],
    ['too short', Uint8Array.from([1, 2, 3]), /too short/],
  ];
  for (const [label, file, re] of cases) refused(() => readSafetensors(file), re, label);
  // a header length beyond the limit or the file
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setUint32(4, 0x10, true);
  refused(() => readSafetensors(huge), /header of .* bytes \(limit/, 'a 2^36-byte header');
  const long = new Uint8Array(16);
  new DataView(long.buffer).setUint32(0, 1000, true);
  refused(() => readSafetensors(long), /needs 1008 bytes, the file has 16/, 'a header longer than the file');
});

test('safetensors: a stream cut short is an error, never a partial result', async () => {
  const file = twoTensors();
  await refusedAsync(() => streamSafetensors(new Response(file.slice(0, file.length - 5)).body!), /truncated/, 'cut stream');
  // a content-length that disagrees with the header
  await refusedAsync(() => streamSafetensors(new Response(file.slice(0, file.length - 4)).body!, { length: file.length }), /truncated|past the end/, 'length mismatch');
});

test('safetensors index: shards joined only as the index says', () => {
  const idx = parseSafetensorsIndex(JSON.stringify({ weight_map: { a: 'model-1.safetensors', b: 'model-2.safetensors' } }));
  const m = readSafetensors(twoTensors());
  const one = new Map([['a', m.get('a')!]]);
  const two = new Map([['b', m.get('b')!]]);
  assert.equal([...joinShards(idx, new Map([['model-1.safetensors', one], ['model-2.safetensors', two]])).keys()], ['a', 'b']);
  refused(() => joinShards(idx, new Map([['model-1.safetensors', m], ['model-2.safetensors', two]])), /does not list there/, 'extra tensor in a shard');
  refused(() => parseSafetensorsIndex(JSON.stringify({ weight_map: { a: '../../etc/passwd.safetensors' } })), /not a plain/, 'a shard path outside');
  refused(() => parseSafetensorsIndex('nope'), /not JSON/, 'non-JSON index');
});

const weights6 = f32Bytes([0, 1, 2, 3, 4, 5]);

test('torch archives: a state dict with offsets and strides reads as row-major arrays', () => {
  const pkl = torchPickle([
    { name: 'w', storage: '0', numel: 6, shape: [2, 3], stride: [3, 1] },
    { name: 'wT', storage: '0', numel: 6, shape: [3, 2], stride: [1, 3] }, // a transposed view of the same storage
    { name: 'tail', storage: '0', numel: 6, offset: 4, shape: [2], stride: [1] },
    { name: 'n', storage: '1', type: 'LongStorage', numel: 1, shape: [], stride: [] },
  ]);
  const sd = readTorchStateDict(torchArchive(pkl, { 0: weights6, 1: new Uint8Array(8) }));
  assert.equal([...sd.keys()], ['w', 'wT', 'tail', 'n']);
  assert.equal([...sd.get('w')!.data], [0, 1, 2, 3, 4, 5]);
  assert.equal([...sd.get('wT')!.data], [0, 3, 1, 4, 2, 5]);
  assert.equal([...sd.get('tail')!.data], [4, 5]);
  assert.equal(sd.get('n')!.shape, []);
});

test('torch archives: hostile pickles are refused; nothing runs', () => {
  const arch = (pkl: Uint8Array, st: Record<string, Uint8Array> = { 0: weights6 }) => torchArchive(pkl, st);
  const t = [{ name: 'w', storage: '0', numel: 6, shape: [2, 3], stride: [3, 1] }];
  for (const g of [['os', 'system'], ['builtins', 'exec'], ['builtins', 'eval'], ['torch', 'load'], ['torch.serialization', '_load'], ['torch._utils', '_rebuild_parameter'], ['torch', 'Tensor']] as [string, string][]) {
    refused(() => readTorchStateDict(arch(torchPickle(t, { global: g }))), new RegExp(`refused global '${g.join('.').replace(/\./g, '\\.')}'`), g.join('.'));
  }
  refused(() => readTorchStateDict(arch(torchPickle([{ ...t[0], type: 'os' }]))), /refused global 'torch\.os'/, 'storage type not a storage');
  refused(() => readTorchStateDict(arch(torchPickle([{ ...t[0], storage: '7' }]))), /no storage '7'/, 'missing storage');
  refused(() => readTorchStateDict(arch(torchPickle([{ ...t[0], numel: 600 }]))), /claims 600 x f4/, 'storage larger than its file');
  refused(() => readTorchStateDict(arch(torchPickle([{ ...t[0], shape: [3, 3] }]))), /reaches element 8 of a 6-element storage/, 'view past the storage');
  refused(() => readTorchStateDict(arch(torchPickle([{ ...t[0], offset: 1 }]))), /reaches element 6/, 'offset view past the storage');
  refused(() => readTorchStateDict(arch(torchPickle([{ ...t[0], shape: [1000000, 1000000], stride: [0, 0] }]))), /exceed|absurd|limit/, 'a 10^12-element view of one element');
  refused(() => readTorchStateDict(arch(torchPickle(t, { hooks: true }))), /backward hooks must be an empty/, 'backward hooks');
  refused(() => readTorchStateDict(torchArchive(torchPickle(t), { 0: weights6 }, { byteorder: 'big' })), /only little-endian/, 'big-endian storages');
  // without the torch switch, the same pickle is refused as any other pickle
  refused(() => parsePickle(torchPickle(t)), /refused global 'torch\._utils\._rebuild_tensor_v2'/, 'plain pickle reader');
});

test('zip: entries outside the archive, compressed or corrupt entries are refused', () => {
  const ok = { name: 'archive/data.pkl', data: torchPickle([]) };
  assert.equal([...readZip(makeZip([ok])).keys()], ['archive/data.pkl']);
  const cases: [string, Uint8Array, RegExp][] = [
    ['../ traversal', makeZip([ok, { name: 'archive/../../etc/passwd', data: weights6 }]), /'\.\.' segment \(points outside/],
    ['absolute path', makeZip([ok, { name: '/etc/passwd', data: weights6 }]), /absolute path/],
    ['backslash', makeZip([ok, { name: 'archive\\..\\x', data: weights6 }]), /backslash/],
    ['drive letter', makeZip([ok, { name: 'C:/x', data: weights6 }]), /drive letter/],
    ['deflated entry', makeZip([ok, { name: 'archive/data/0', data: weights6, method: 8 }]), /compressed \(method 8\); only stored entries/],
    ['bad CRC', makeZip([ok, { name: 'archive/data/0', data: weights6, badCrc: true }]), /CRC mismatch in 'archive\/data\/0'/],
    ['duplicate names', makeZip([ok, ok]), /duplicate entry/],
  ];
  for (const [label, file, re] of cases) refused(() => readZip(file), re, label);
  const whole = makeZip([ok, { name: 'archive/data/0', data: weights6 }]);
  refused(() => readZip(whole.slice(0, whole.length - 30)), /no end-of-central-directory|truncated/, 'truncated archive');
  refused(() => readZip(new Uint8Array(100)), /not a zip archive/, 'zeros');
  // through the torch reader the message says what the file is not
  refused(() => readTorchStateDict(makeZip([ok, { name: 'archive/data/0', data: weights6, method: 8 }])), /not a PyTorch checkpoint archive: pytorch_model\.bin: entry .*compressed/, 'torch reader');
  refused(() => readTorchStateDict(makeZip([{ name: 'a/data.pkl', data: ok.data }, { name: 'b/x', data: weights6 }])), /outside the archive's root folder/, 'two roots');
});

test.run();
