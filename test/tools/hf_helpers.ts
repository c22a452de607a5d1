// Writers for HuggingFace-format test files: a stored-entry zip (as torch.save
// lays one out), torch.save's data.pkl for a state dict, and safetensors
// files, each with knobs for hostile variants.

import { crc32 } from '../../tools/zip.ts';
import { PickleBuilder } from './helpers.ts';

export interface ZipIn {
  name: string;
  data: Uint8Array;
  /** compression method written into the headers (the data stays as given) */
  method?: number;
  /** a wrong CRC */
  badCrc?: boolean;
}

/** A zip archive of stored entries (central directory, EOCD; no ZIP64). */
export function makeZip(entries: ZipIn[]): Uint8Array {
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let off = 0;
  const enc = new TextEncoder();
  for (const e of entries) {
    const name = enc.encode(e.name);
    const crc = e.badCrc ? crc32(e.data) ^ 1 : crc32(e.data);
    const local = new Uint8Array(30 + name.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(8, e.method ?? 0, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, e.data.length, true);
    lv.setUint32(22, e.data.length, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    const c = new Uint8Array(46 + name.length);
    const cv = new DataView(c.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(10, e.method ?? 0, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, e.data.length, true);
    cv.setUint32(24, e.data.length, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, off, true);
    c.set(name, 46);
    central.push(c);
    parts.push(local, e.data);
    off += local.length + e.data.length;
  }
  const cdSize = central.reduce((a, c) => a + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, cdSize, true);
  ev.setUint32(16, off, true);
  const all = [...parts, ...central, eocd];
  const out = new Uint8Array(all.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of all) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

export interface TorchTensorIn {
  name: string;
  storage: string;
  /** storage class name, e.g. FloatStorage */
  type?: string;
  numel: number;
  offset?: number;
  shape: number[];
  stride: number[];
}

/**
 * data.pkl as torch.save writes a state dict (protocol 2: an OrderedDict of
 * _rebuild_tensor_v2 calls on persistent storage ids). `global` swaps the
 * rebuild function for another (hostile) global.
 */
export function torchPickle(tensors: TorchTensorIn[], opts: { global?: [string, string]; hooks?: boolean } = {}): Uint8Array {
  const b = new PickleBuilder().proto(2);
  b.textGlobal('collections', 'OrderedDict').tuple(0).reduce();
  b.mark();
  for (const t of tensors) {
    b.str(t.name);
    const [m, n] = opts.global ?? ['torch._utils', '_rebuild_tensor_v2'];
    b.textGlobal(m, n);
    b.mark();
    b.mark().str('storage').textGlobal('torch', t.type ?? 'FloatStorage').str(t.storage).str('cpu').int(t.numel).raw(0x74); // TUPLE
    b.raw(0x51); // BINPERSID
    b.int(t.offset ?? 0);
    b.mark();
    for (const d of t.shape) b.int(d);
    b.raw(0x74);
    b.mark();
    for (const d of t.stride) b.int(d);
    b.raw(0x74);
    b.bool(false);
    b.textGlobal('collections', 'OrderedDict').tuple(0).reduce();
    if (opts.hooks) b.mark().int(1).int(2).raw(0x75); // SETITEMS into the hooks dict
    b.raw(0x74); // TUPLE of the args
    b.reduce();
  }
  b.setitems();
  return b.stop().finish();
}

/** A torch.save-style archive: ROOT/data.pkl, ROOT/byteorder, ROOT/data/KEY. */
export function torchArchive(pkl: Uint8Array, storages: Record<string, Uint8Array>, opts: { root?: string; byteorder?: string; extra?: ZipIn[] } = {}): Uint8Array {
  const root = opts.root ?? 'archive';
  return makeZip([
    { name: `${root}/data.pkl`, data: pkl },
    { name: `${root}/byteorder`, data: new TextEncoder().encode(opts.byteorder ?? 'little') },
    ...Object.entries(storages).map(([k, data]) => ({ name: `${root}/data/${k}`, data })),
    ...(opts.extra ?? []),
  ]);
}

/** A safetensors file from a header object (written as given) and the data bytes. */
export function safetensorsFile(header: unknown, data: Uint8Array, rawHeader?: string): Uint8Array {
  const json = new TextEncoder().encode(rawHeader ?? JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + data.length);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  out.set(data, 8 + json.length);
  return out;
}

export const f32Bytes = (xs: number[]) => new Uint8Array(Float32Array.from(xs).buffer);
