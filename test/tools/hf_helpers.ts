// Writers for HuggingFace-format test files: a stored-entry zip (as torch.save
// lays one out), torch.save's data.pkl for a state dict, and safetensors
// files, each with knobs for hostile variants.

import { writeZip } from '../../tools/npy.ts';
import { PickleBuilder } from './helpers.ts';

export interface ZipIn {
  name: string;
  data: Uint8Array;
  /** compression method written into the headers (the data stays as given) */
  method?: number;
  /** a wrong CRC */
  badCrc?: boolean;
}

/**
 * A zip archive of stored entries (tools/npy.ts's writeZip, as torch.save
 * lays one out), then the hostile knobs patched into both of each entry's
 * headers: the method field, a flipped CRC bit.
 */
export function makeZip(entries: ZipIn[]): Uint8Array {
  const out = writeZip(entries);
  const dv = new DataView(out.buffer);
  const nameLength = (e: ZipIn) => new TextEncoder().encode(e.name).length;
  let local = 0; // writeZip: every local header and its data, then the central directory in the same order
  let central = entries.reduce((n, e) => n + 30 + nameLength(e) + e.data.length, 0);
  for (const e of entries) {
    for (const [at, method, crc] of [[local, 8, 14], [central, 10, 16]]) {
      if (e.method !== undefined) dv.setUint16(at + method, e.method, true);
      if (e.badCrc) dv.setUint32(at + crc, dv.getUint32(at + crc, true) ^ 1, true);
    }
    local += 30 + nameLength(e) + e.data.length;
    central += 46 + nameLength(e);
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
