// Reading a ZIP archive as hostile input, for PyTorch checkpoints
// (`pytorch_model.bin`: torch.save's zip of `ROOT/data.pkl`, `ROOT/data/KEY`
// storages and marker files). The zip structure itself is read by
// tools/npy.ts's listZip/zipEntryData (the project's one zip reader: end
// records incl. ZIP64, central directory, local headers, stored entries only,
// CRC-32 checked, every offset bounds-checked). On top, for archives whose
// entries name paths, this refuses:
//   entry names that are absolute, hold `..` or `.` segments, backslashes,
//   drive letters or NUL (nothing is ever written to disk, but no honest
//   checkpoint has such a name), duplicate names, entries whose bytes overlap
//   another's, and compressed entries (with the method named).
// Entry data are views of the input (no copy). Browser-safe: no node: imports.

import { listZip, zipEntryData, NpyError } from './npy.ts';

export class ZipFormatError extends Error {
  override name = 'ZipFormatError';
}

export interface ZipEntry {
  name: string;
  /** the stored bytes (a view of the archive) */
  data: Uint8Array;
}

/** A name safe as a path inside the archive: relative, no `..`, no oddities. */
function checkName(name: string, where: string): void {
  const bad = (why: string): never => {
    throw new ZipFormatError(`${where}: entry ${JSON.stringify(name.slice(0, 200))} ${why}; refused`);
  };
  if (!name) bad('has an empty name');
  if (name.includes('\0')) bad('has a NUL in its name');
  if (name.includes('\\')) bad('has a backslash in its name (a path outside the archive?)');
  if (name.startsWith('/')) bad('is an absolute path (points outside the archive)');
  if (/^[A-Za-z]:/.test(name)) bad('starts with a drive letter (points outside the archive)');
  for (const seg of name.split('/')) {
    if (seg === '..') bad("has a '..' segment (points outside the archive)");
    if (seg === '.') bad("has a '.' segment");
  }
}

/**
 * A ZIP archive's entries by name with their data. Throws ZipFormatError
 * naming the problem for anything outside the subset above.
 */
export function readZip(bytes: Uint8Array, where = 'zip archive'): Map<string, ZipEntry> {
  const entries = new Map<string, ZipEntry>();
  const ranges: [number, number, string][] = [];
  try {
    for (const e of listZip(bytes, where)) {
      checkName(e.name, where);
      if (entries.has(e.name)) throw new ZipFormatError(`${where}: duplicate entry ${JSON.stringify(e.name)}`);
      if (e.method !== 0) {
        throw new ZipFormatError(`${where}: entry ${JSON.stringify(e.name)} is compressed (method ${e.method}); only stored entries (method 0, as torch.save writes) are supported`);
      }
      const data = zipEntryData(bytes, e, where);
      entries.set(e.name, { name: e.name, data });
      ranges.push([e.localOffset, data.byteOffset - bytes.byteOffset + data.byteLength, e.name]);
    }
  } catch (e) {
    if (e instanceof NpyError) throw new ZipFormatError(e.message);
    throw e;
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) throw new ZipFormatError(`${where}: entries ${JSON.stringify(ranges[i - 1][2])} and ${JSON.stringify(ranges[i][2])} overlap`);
  }
  return entries;
}
