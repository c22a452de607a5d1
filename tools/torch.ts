// PyTorch checkpoints (`pytorch_model.bin`, torch.save of a state dict since
// torch 1.6): a zip archive (tools/zip.ts) with one root folder holding
// `data.pkl` (the pickled dict of tensors), `data/KEY` (one file per storage),
// `byteorder` ('little'; absent in old files, which were little-endian) and
// version markers. The pickle is read by tools/pickle.ts with the torch
// subset switched on (state-dict globals only; anything else is refused as
// for any pickle); nothing is executed.
//
// The result is the state dict as a flat Map of HF key -> NdArray (row-major,
// storage offsets and strides applied). The legacy non-zip format
// (torch < 1.6) is refused. Browser-safe: no node: imports.

import { readZip, ZipFormatError } from './zip.ts';
import { parsePickle, NdArray, type ParseLimits } from './pickle.ts';

export class TorchFormatError extends Error {
  override name = 'TorchFormatError';
}

/** Reads torch.save's zip archive of a state dict into name -> array. */
export function readTorchStateDict(bytes: Uint8Array, limits: Omit<ParseLimits, 'torch'> = {}): Map<string, NdArray> {
  if (bytes.byteLength >= 2 && bytes[0] === 0x80) {
    throw new TorchFormatError('pytorch_model.bin: a bare pickle (torch < 1.6 legacy format) is not supported; re-save it with a current torch');
  }
  let entries;
  try {
    entries = readZip(bytes, 'pytorch_model.bin');
  } catch (e) {
    if (e instanceof ZipFormatError) throw new TorchFormatError(`not a PyTorch checkpoint archive: ${e.message}`);
    throw e;
  }
  const pkls = [...entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkls.length !== 1) throw new TorchFormatError(`a PyTorch archive has one ROOT/data.pkl; this one has ${pkls.length}`);
  const root = pkls[0].slice(0, -'data.pkl'.length);
  for (const n of entries.keys()) if (!n.startsWith(root)) throw new TorchFormatError(`entry '${n}' is outside the archive's root folder '${root}'`);
  const order = entries.get(`${root}byteorder`);
  if (order) {
    const text = new TextDecoder().decode(order.data).trim();
    if (text !== 'little') throw new TorchFormatError(`storages are stored '${text.slice(0, 20)}'-endian; only little-endian archives are read`);
  }
  const tree = parsePickle(entries.get(pkls[0])!.data, {
    maxArrayBytes: bytes.byteLength + 64 * 2 ** 20,
    ...limits,
    torch: (key) => entries.get(`${root}data/${key}`)?.data,
  });
  if (!(tree instanceof Map)) throw new TorchFormatError('data.pkl does not hold a state dict (a dict of tensors)');
  const out = new Map<string, NdArray>();
  for (const [k, v] of tree) {
    if (typeof k !== 'string') throw new TorchFormatError(`state dict key ${String(k)} is not a string`);
    if (!(v instanceof NdArray)) throw new TorchFormatError(`state dict entry '${k}' is not a tensor`);
    out.set(k, v);
  }
  return out;
}
