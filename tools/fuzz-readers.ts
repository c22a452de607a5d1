// The readers of outside bytes that `npm run fuzz` (tools/fuzz.ts) mutates,
// each with the real inputs it starts from. Node-only (reads fixture files).
//
// To add a reader, append an entry to READERS:
//
//   {
//     name: 'safetensors',                       // --reader NAME
//     what: 'tools/safetensors.ts parseSafetensors',
//     seeds: () => [readFileSync(join(REPO, 'bench/fixtures/x.safetensors'))],
//     read: (bytes) => parseSafetensors(bytes),  // return = accepted, throw = refused
//     fields: (seed) => [{ at: 0, size: 8 }],    // optional: length/offset fields worth editing
//     fixup: (bytes) => bytes,                   // optional: re-seal checksums after a mutation
//   }
//
// `read` must refuse a bad file by throwing an Error that names the problem
// (its own class, or a plain Error with a message); a RangeError, TypeError or
// the like counts as a failure, as does taking over FUZZ_TIME_LIMIT_MS (tools/fuzz.ts),
// a crash, or memory beyond the input's size times a small factor.
// Seeds are loaded in the child process that runs the reader, once per run.

import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parsePickle, flattenArrays } from './pickle.ts';
import { convertToWeightFile } from './convert.ts';
import { parseNpy, readNpz, listZip, zipEntryData, crc32 as zipCrc32 } from './npy.ts';
import { decodePng, encodePng, crc32 as pngCrc32 } from './png.ts';
import { readFlo, writeFlo } from '../perceiver/flow/flo.ts';
import { loadWeights } from '../engine/weights.ts';
import { BufferPool } from '../engine/pool.ts';
import type { Gpu } from '../engine/gpu.ts';
import { presetConfig, type Overrides, type PresetName } from '../perceiver/config.ts';
import { flattenCheckpoint, parseHfConfig, planHfConversion } from './convert.ts';
import { readSafetensors } from './safetensors.ts';
import { readTorchStateDict } from './torch.ts';
import { haikuToHf, hfConfigJson, encodeSafetensors, encodeTorchStateDict } from './hf-write.ts';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..');
const FIXTURES = join(REPO, 'bench', 'fixtures');

/** An integer field of a seed worth editing (a length, an offset, a count, a dimension). */
export interface Field {
  at: number;
  size: 1 | 2 | 4 | 8;
  /** big-endian (PNG); default little-endian */
  be?: boolean;
}

export interface FuzzReader {
  name: string;
  /** the function under test, for the report */
  what: string;
  /** real inputs to mutate */
  seeds(): Uint8Array[];
  /** reads the bytes: returns when it accepts them, throws an Error naming the problem when it refuses them */
  read(bytes: Uint8Array): unknown;
  /** integer fields of a seed that the 'field' mutation edits (else it edits random positions) */
  fields?(seed: Uint8Array): Field[];
  /** re-seals checksums after a mutation, so that the mutant reaches the parser behind them (applied to half the mutants) */
  fixup?(bytes: Uint8Array): Uint8Array;
  /** format-aware edits (duplicated keys and entries, huge shapes, overlapping offsets), `int(n)` a random integer in [0, n) */
  structural?(seed: Uint8Array, int: (n: number) => number): { bytes: Uint8Array; op: string };
}

/** The compact ImageNet fixtures shipped in bench/fixtures: checkpoint, preset and overrides. */
function compactCheckpoint(stem: string): { bytes: Uint8Array; preset: PresetName; overrides: Overrides } {
  const info = JSON.parse(readFileSync(join(FIXTURES, `${stem}.json`), 'utf8')) as { preset: PresetName; overrides: Overrides };
  return { bytes: readFileSync(join(FIXTURES, `${stem}.pystate`)), preset: info.preset, overrides: info.overrides };
}

/**
 * `make()`, run on the first call only. The fixtures a `read` needs besides
 * the mutant are made once per child process: a mutant's time and memory
 * are the reader's, not the fixture loading's.
 */
function once<T>(make: () => T): () => T {
  let made: { value: T } | undefined;
  return () => (made ??= { value: make() }).value;
}

const fourier = once(() => compactCheckpoint('imagenet_fourier'));

/**
 * A host-only stand-in for a Gpu, enough for loadWeights: the buffer pool's
 * size checks run, `write` checks the bytes fit the buffer, nothing reaches a
 * device. It lets the weight loader's parsing and streaming be fuzzed in a
 * plain child process.
 */
export function hostGpu(maxBufferSize = 256 * 2 ** 20): Gpu {
  const device = { createBuffer: ({ size }: { size: number }) => ({ size, destroy() {} }) } as unknown as GPUDevice;
  const gpu = {
    limits: { maxBufferSize, maxStorageBufferBindingSize: 128 * 2 ** 20 },
    pool: new BufferPool(device, maxBufferSize),
    write(buffer: GPUBuffer, offset: number, data: ArrayBufferView) {
      if (offset + data.byteLength > buffer.size) throw new Error(`hostGpu.write: ${data.byteLength} bytes at ${offset} overrun a ${buffer.size}-byte buffer`);
    },
  };
  return gpu as unknown as Gpu;
}

/** loadWeights on a fresh hostGpu: the count of tensors it accepted (released again). */
async function loadOnHost(source: Uint8Array | ReadableStream<Uint8Array>): Promise<number> {
  const { tensors } = await loadWeights(hostGpu(), source);
  for (const t of tensors.values()) t.dispose();
  return tensors.size;
}

/** The u32 length field of every PNG chunk, and IHDR's width and height. */
function pngFields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let p = 8; p + 12 <= b.length; ) {
    const len = dv.getUint32(p);
    out.push({ at: p, size: 4, be: true });
    if (p === 8) out.push({ at: 16, size: 4, be: true }, { at: 20, size: 4, be: true });
    p += 12 + len;
  }
  return out;
}

/** Recomputes each PNG chunk's CRC where the chunk structure can still be walked. */
function pngFixup(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b); // a copy, even of a Buffer
  const dv = new DataView(out.buffer);
  for (let p = 8; p + 12 <= out.length; ) {
    const len = dv.getUint32(p);
    if (p + 12 + len > out.length) break;
    dv.setUint32(p + 8 + len, pngCrc32(out, p + 4, p + 8 + len));
    p += 12 + len;
  }
  return out;
}

/** The zip fields of an .npz: sizes, name lengths and offsets in the central directory, local headers and end record. */
function zipFields(b: Uint8Array): Field[] {
  const out: Field[] = [];
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  for (let p = 0; p + 4 <= b.length; p++) {
    const sig = dv.getUint32(p, true);
    if (sig === 0x04034b50) out.push(...[14, 18, 22].map((o) => ({ at: p + o, size: 4 as const })), { at: p + 26, size: 2 }, { at: p + 28, size: 2 });
    else if (sig === 0x02014b50) out.push(...[16, 20, 24, 42].map((o) => ({ at: p + o, size: 4 as const })), ...[28, 30, 32].map((o) => ({ at: p + o, size: 2 as const })));
    else if (sig === 0x06054b50) out.push({ at: p + 8, size: 2 }, { at: p + 10, size: 2 }, { at: p + 12, size: 4 }, { at: p + 16, size: 4 });
  }
  return out.filter((f) => f.at + f.size <= b.length);
}

/** Recomputes the CRC-32 of each stored zip entry that can still be located. */
function zipFixup(b: Uint8Array): Uint8Array {
  const out = new Uint8Array(b); // a copy, even of a Buffer
  const dv = new DataView(out.buffer);
  let entries;
  try {
    entries = listZip(out);
  } catch {
    return out;
  }
  let p = 0;
  for (const e of entries) {
    const lo = e.localOffset;
    if (lo + 30 > out.length || dv.getUint32(lo, true) !== 0x04034b50) continue;
    const start = lo + 30 + dv.getUint16(lo + 26, true) + dv.getUint16(lo + 28, true);
    if (start + e.size > out.length) continue;
    const crc = zipCrc32(out.subarray(start, start + e.size));
    dv.setUint32(lo + 14, crc, true);
    // the central directory's copy
    for (; p + 46 <= out.length; p++) {
      if (dv.getUint32(p, true) === 0x02014b50 && dv.getUint32(p + 42, true) === lo) {
        dv.setUint32(p + 16, crc, true);
        break;
      }
    }
  }
  return out;
}

/** The weight file's preamble fields (version, header length). */
function weightFields(): Field[] {
  return [{ at: 8, size: 4 }, { at: 12, size: 4 }];
}

const HUGE = [2 ** 31, 2 ** 32, 2 ** 53 + 2, 1e300, -1, 0, 1.5];

/** The compact Fourier fixture as HuggingFace would publish it (tools/hf-write.ts): its state dict and config.json. */
const compactHf = once((): { tensors: ReturnType<typeof haikuToHf>; config: string } => {
  const c = fourier();
  return { tensors: haikuToHf(flattenCheckpoint(parsePickle(c.bytes)), presetConfig(c.preset, c.overrides)), config: hfConfigJson(c.preset, c.overrides) };
});

/**
 * Edits a safetensors header as a hostile writer would: a huge or negative
 * dimension, a 10^12-element claim, offsets past the end, reversed or
 * overlapping, an unknown dtype, bad metadata, a duplicated key. The header
 * is re-serialised and its 8-byte length updated.
 */
function safetensorsStructural(seed: Uint8Array, int: (n: number) => number): { bytes: Uint8Array; op: string } {
  const len = new DataView(seed.buffer, seed.byteOffset).getUint32(0, true);
  const h = JSON.parse(new TextDecoder().decode(seed.subarray(8, 8 + len))) as Record<string, { dtype: unknown; shape: unknown[]; data_offsets: unknown[] }>;
  const names = Object.keys(h).filter((k) => k !== '__metadata__');
  const t = h[names[int(names.length)]];
  const other = h[names[int(names.length)]];
  const edits: [string, () => void][] = [
    ['huge dimension', () => (t.shape[0] = HUGE[int(HUGE.length)])],
    ['10^12 elements', () => (t.shape = [1_000_000, 1_000_000])],
    ['offsets past the end', () => (t.data_offsets = [seed.length, seed.length + 4 * 64])],
    ['reversed offsets', () => (t.data_offsets = [...t.data_offsets].reverse())],
    ['overlapping offsets', () => (t.data_offsets = [...other.data_offsets])],
    ['huge offset', () => (t.data_offsets = [HUGE[int(HUGE.length)], HUGE[int(HUGE.length)]])],
    ['dtype', () => (t.dtype = ['F8_E4M3', 'C64', '', null, 7][int(5)])],
    ['metadata', () => ((h as Record<string, unknown>).__metadata__ = [null, 'x', { a: 1 }, []][int(4)])],
  ];
  const [op, edit] = edits[int(edits.length)];
  edit();
  let json = JSON.stringify(h);
  if (int(4) === 0) json = json.replace('"dtype":', '"dtype":"F64","dtype":');
  const body = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + body.length + (seed.length - 8 - len));
  new DataView(out.buffer).setUint32(0, body.length, true);
  out.set(body, 8);
  out.set(seed.subarray(8 + len), 8 + body.length);
  return { bytes: out, op };
}

/**
 * Edits a weight file's JSON header as a hostile writer would: a duplicated
 * tensor entry or key, a huge or negative dimension, an offset inside the
 * header or overlapping the previous tensor, a wrong byte count or dtype, a
 * meta that is not an object. The header is re-serialised (padded with
 * spaces to its old length where it fits, else longer) and the preamble's
 * length updated.
 */
function weightStructural(seed: Uint8Array, int: (n: number) => number): { bytes: Uint8Array; op: string } {
  const dv = new DataView(seed.buffer, seed.byteOffset, seed.byteLength);
  const len = dv.getUint32(12, true);
  const h = JSON.parse(new TextDecoder().decode(seed.subarray(16, 16 + len))) as { meta: unknown; tensors: Record<string, unknown>[] };
  const i = int(h.tensors.length);
  const t = h.tensors[i];
  const edits: [string, () => void][] = [
    ['duplicate entry', () => h.tensors.splice(int(h.tensors.length), 0, { ...t })],
    ['duplicate name', () => (h.tensors[(i + 1) % h.tensors.length].name = t.name)],
    ['huge dimension', () => ((t.shape as number[])[0] = HUGE[int(HUGE.length)])],
    ['rank 40', () => (t.shape = Array(40).fill(1))],
    ['huge offset', () => (t.offset = HUGE[int(HUGE.length)])],
    ['offset in the header', () => (t.offset = 256)],
    ['overlapping offset', () => (t.offset = (h.tensors[Math.max(0, i - 1)].offset as number) + 256)],
    ['bytes', () => (t.bytes = HUGE[int(HUGE.length)])],
    ['dtype', () => (t.dtype = ['f64', 'F32', '', null, 7][int(5)])],
    ['name', () => (t.name = ['', null, 'x'.repeat(5000), 42][int(4)])],
    ['meta', () => (h.meta = [null, 'x', [], 3][int(4)])],
    ['no tensors', () => (h.tensors = [] as never)],
  ];
  const [op, edit] = edits[int(edits.length)];
  edit();
  let json = JSON.stringify(h);
  // a duplicated key, textually (JSON.parse keeps the last)
  if (int(4) === 0) json = json.replace('"offset":', `"offset":${int(1_000_000)},"offset":`);
  const body = new TextEncoder().encode(json.length <= len ? json.padEnd(len, ' ') : json);
  const out = new Uint8Array(Math.max(seed.length, 16 + body.length));
  out.set(seed);
  out.set(body, 16);
  new DataView(out.buffer).setUint32(12, body.length, true);
  return { bytes: out, op };
}

/** Gives a pickle's SHORT_BINUNICODE string (a dict key or a module name) another's text of the same length: duplicated keys. */
function pickleStructural(seed: Uint8Array, int: (n: number) => number): { bytes: Uint8Array; op: string } {
  const byLength = new Map<number, number[]>();
  // SHORT_BINUNICODE (0x8c) then a length byte then printable ASCII, followed by MEMOIZE (0x94)
  for (let p = 0; p + 2 < seed.length && p < 1 << 20; p++) {
    if (seed[p] !== 0x8c) continue;
    const n = seed[p + 1];
    if (n === 0 || p + 2 + n >= seed.length || seed[p + 2 + n] !== 0x94) continue;
    let ok = true;
    for (let k = 0; k < n && ok; k++) ok = seed[p + 2 + k] >= 0x20 && seed[p + 2 + k] < 0x7f;
    if (ok) byLength.set(n, [...(byLength.get(n) ?? []), p]);
  }
  const groups = [...byLength.values()].filter((g) => g.length > 1);
  const out = new Uint8Array(seed);
  if (!groups.length) return { bytes: out, op: 'no keys' };
  const g = groups[int(groups.length)];
  const a = g[int(g.length)], b = g[int(g.length)];
  const n = seed[a + 1];
  out.set(seed.subarray(a + 2, a + 2 + n), b + 2);
  return { bytes: out, op: `key@${b}=key@${a}` };
}

/** Gives one .npz entry another's name (in its local and central headers): a duplicated entry. */
function npzStructural(seed: Uint8Array, int: (n: number) => number): { bytes: Uint8Array; op: string } {
  const entries = listZip(seed);
  const out = new Uint8Array(seed);
  if (entries.length < 2) return { bytes: out, op: 'one entry' };
  const a = entries[int(entries.length)], b = entries[int(entries.length)];
  const enc = new TextEncoder();
  const name = enc.encode(a.name);
  const dv = new DataView(out.buffer);
  for (let p = 0; p + 46 <= out.length; p++) {
    const sig = dv.getUint32(p, true);
    const at = sig === 0x04034b50 ? 30 : sig === 0x02014b50 ? 46 : 0;
    if (!at) continue;
    const n = dv.getUint16(p + (sig === 0x04034b50 ? 26 : 28), true);
    if (n === name.length && new TextDecoder().decode(out.subarray(p + at, p + at + n)) === b.name) out.set(name, p + at);
  }
  return { bytes: out, op: `entry '${b.name}' renamed '${a.name}'` };
}

export const READERS: FuzzReader[] = [
  {
    name: 'weights',
    what: 'engine/weights.ts loadWeights (parseWeightHeader, then each tensor streamed to a host-only Gpu)',
    seeds: () => {
      const { bytes, preset, overrides } = fourier();
      return [convertToWeightFile(bytes, preset, overrides, 'f32'), convertToWeightFile(bytes, preset, overrides, 'f16')];
    },
    read: (bytes) => loadOnHost(bytes),
    fields: weightFields,
    structural: weightStructural,
  },
  {
    name: 'weights-stream',
    what: 'engine/weights.ts loadWeights from a ReadableStream of odd-sized chunks (length unknown)',
    seeds: () => {
      const { bytes, preset, overrides } = fourier();
      return [convertToWeightFile(bytes, preset, overrides, 'f16')];
    },
    read: async (bytes) => {
      const chunk = 4093; // odd-sized: tensors straddle chunks
      let at = 0;
      const stream = new ReadableStream<Uint8Array>({
        pull(c) {
          if (at >= bytes.length) return c.close();
          c.enqueue(bytes.slice(at, (at += chunk)));
        },
      });
      return loadOnHost(stream);
    },
    fields: weightFields,
    structural: weightStructural,
  },
  {
    name: 'pickle',
    what: 'tools/pickle.ts parsePickle + flattenArrays',
    seeds: () => [fourier().bytes, compactCheckpoint('imagenet_conv').bytes],
    read: (bytes) => flattenArrays(parsePickle(bytes)).size,
    structural: pickleStructural,
  },
  {
    name: 'convert',
    what: 'tools/convert.ts convertToWeightFile (parse, match the preset, apply the layout, encode)',
    seeds: () => [fourier().bytes],
    read: (bytes) => convertToWeightFile(bytes, 'imagenet-fourier', fourier().overrides, 'f16').byteLength,
    structural: pickleStructural,
  },
  {
    name: 'npy',
    what: 'tools/npy.ts parseNpy',
    seeds: () => {
      const npz = readFileSync(join(FIXTURES, 'imagenet_learned.npz'));
      return listZip(npz).map((e) => new Uint8Array(zipEntryData(npz, e)));
    },
    read: (bytes) => parseNpy(bytes).data.length,
    fields: () => [{ at: 8, size: 2 }],
  },
  {
    name: 'npz',
    what: 'tools/npy.ts readNpz (zip directory, then each .npy)',
    seeds: () => [readFileSync(join(FIXTURES, 'imagenet_learned.npz'))],
    read: (bytes) => readNpz(bytes).size,
    fields: zipFields,
    fixup: zipFixup,
    structural: npzStructural,
  },
  {
    name: 'png',
    what: 'tools/png.ts decodePng',
    seeds: () => {
      const rgba = new Uint8Array(13 * 7 * 4).map((_, i) => (i * 37) % 251);
      return [
        readFileSync(join(REPO, 'test', 'media', 'chelsea-224.png')),
        encodePng(13, 7, rgba, { keepAlpha: true }),
        encodePng(13, 7, rgba.map((v, i) => (i % 4 === 3 ? 255 : v))),
      ];
    },
    read: (bytes) => decodePng(bytes).data.length,
    fields: pngFields,
    fixup: pngFixup,
  },
  {
    name: 'flo',
    what: 'perceiver/flow/flo.ts readFlo',
    seeds: () => [writeFlo({ width: 24, height: 16, data: new Float32Array(24 * 16 * 2).map((_, i) => Math.sin(i) * 7) })],
    read: (bytes) => readFlo(bytes).data.length,
    fields: () => [{ at: 0, size: 4 }, { at: 4, size: 4 }, { at: 8, size: 4 }],
  },
  {
    name: 'safetensors',
    what: 'tools/safetensors.ts readSafetensors (header checks, then each tensor)',
    seeds: () => [encodeSafetensors(compactHf().tensors)],
    read: (bytes) => readSafetensors(bytes).size,
    fields: () => [{ at: 0, size: 8 }],
    structural: safetensorsStructural,
  },
  {
    name: 'torch-bin',
    what: 'tools/torch.ts readTorchStateDict (zip with name/overlap checks, then the pickle with the torch subset)',
    seeds: () => [encodeTorchStateDict(compactHf().tensors)],
    read: (bytes) => readTorchStateDict(bytes).size,
    fields: zipFields,
    fixup: zipFixup,
  },
  {
    name: 'hf-config',
    what: 'tools/convert.ts parseHfConfig (config.json -> preset, overrides, labels)',
    seeds: () => [new TextEncoder().encode(compactHf().config), new TextEncoder().encode(hfConfigJson('language-mlm', {}, ['a', 'b']))],
    read: (bytes) => parseHfConfig(new TextDecoder().decode(bytes)).preset,
  },
  {
    name: 'hf-convert',
    what: 'tools/convert.ts planHfConversion on a safetensors file (HF keys, shapes, transforms)',
    seeds: () => [encodeSafetensors(compactHf().tensors)],
    read: (bytes) => planHfConversion(compactHf().config, readSafetensors(bytes)).entries.length,
    fields: () => [{ at: 0, size: 8 }],
    structural: safetensorsStructural,
  },
];

/**
 * Readers that misbehave on purpose, so that test/tools/fuzz.test.ts can show
 * the harness catches each kind of failure. Not in READERS (never run by
 * default); `--reader selftest-hang` etc. runs them.
 */
export const SELFTEST_READERS: FuzzReader[] = [
  {
    name: 'selftest-rangeerror',
    what: 'throws new Float32Array(-1) on anything but its seed (64 zero bytes)',
    seeds: () => [new Uint8Array(64)],
    read: (b) => (b.length === 64 && b.every((x) => x === 0) ? 0 : new Float32Array(-1)),
  },
  {
    name: 'selftest-hang',
    what: 'spins forever on anything but its seed (64 zero bytes)',
    seeds: () => [new Uint8Array(64)],
    read: (b) => {
      const seed = b.length === 64 && b.every((x) => x === 0);
      while (!seed) b[0]++;
    },
  },
  {
    name: 'selftest-crash',
    what: 'exits the process on anything but its seed (64 zero bytes)',
    seeds: () => [new Uint8Array(64)],
    read: (b) => {
      if (!(b.length === 64 && b.every((x) => x === 0))) process.exit(70);
    },
  },
];

export function readerNamed(name: string): FuzzReader {
  const r = READERS.find((x) => x.name === name) ?? SELFTEST_READERS.find((x) => x.name === name);
  if (!r) throw new Error(`no fuzz reader '${name}' (readers: ${READERS.map((x) => x.name).join(', ')})`);
  return r;
}
