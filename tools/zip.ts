// A small, strict ZIP reader for PyTorch checkpoints (`pytorch_model.bin`:
// torch.save's zip archive of `ROOT/data.pkl`, `ROOT/data/KEY` storages and
// a few marker files). It reads what PyTorch's writer (miniz) produces and
// refuses the rest with the reason:
//
//   read        the end-of-central-directory record (ZIP64 records too), the
//               central directory, each entry's local header (for where its
//               data starts: PyTorch pads the local `extra` field to align
//               storages) and the data of *stored* entries (method 0), whose
//               CRC-32 is checked;
//   refused     compressed entries (any method but 0), encryption (flag bit
//               0), multi-disk archives, entry names that are absolute, hold
//               `..`/`.` segments, backslashes, drive letters or NUL, duplicate
//               names, entries whose data lies outside the archive or
//               overlaps another entry or the central directory, more than
//               MAX_ENTRIES entries.
//
// Nothing is ever written to disk: a bad name is refused because no honest
// checkpoint has one. Every offset and length is checked against the bytes
// before it is used. Entry data is returned as views of the input (no copy).
// Browser-safe: no node: imports.

export class ZipFormatError extends Error {
  override name = 'ZipFormatError';
  constructor(message: string) {
    super(`zip: ${message}`);
  }
}

export interface ZipEntry {
  name: string;
  /** the stored bytes (a view of the archive) */
  data: Uint8Array;
}

/** More entries than any checkpoint has (one per storage plus a few markers). */
const MAX_ENTRIES = 1_000_000;
/** End-of-central-directory record: 22 bytes plus a comment of at most 65535. */
const EOCD_SIZE = 22;
const MAX_COMMENT = 0xffff;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_EOCD64_LOCATOR = 0x07064b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_LOCAL = 0x04034b50;
const CENTRAL_SIZE = 46;
const LOCAL_SIZE = 30;
/** ZIP64 extended-information extra field id. */
const ZIP64_EXTRA = 0x0001;
/** A 32-bit field holding this value defers to the ZIP64 record. */
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;

let crcTable: Uint32Array | null = null;

/** CRC-32 (IEEE 802.3, as ZIP uses). */
export function crc32(bytes: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = t[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A name safe to use as a path inside the archive: relative, no `..`, no oddities. */
function checkName(name: string): void {
  const bad = (why: string): never => {
    throw new ZipFormatError(`entry ${JSON.stringify(name.slice(0, 200))} ${why}; refused`);
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
 * Lists a ZIP archive's entries with their data. Throws ZipFormatError
 * naming the problem for anything outside the subset above.
 */
export function readZip(bytes: Uint8Array): Map<string, ZipEntry> {
  const len = bytes.byteLength;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, len);
  const u16 = (at: number) => dv.getUint16(at, true);
  const u32 = (at: number) => dv.getUint32(at, true);
  const u64 = (at: number, what: string) => {
    const lo = u32(at);
    const hi = u32(at + 4);
    if (hi >= 0x200000) throw new ZipFormatError(`${what} is larger than 2^53`);
    return hi * 2 ** 32 + lo;
  };
  if (len < EOCD_SIZE) throw new ZipFormatError(`not a zip archive: ${len} bytes, shorter than an end-of-directory record`);
  // The EOCD is the last record; search backwards over a possible comment.
  let eocd = -1;
  for (let at = len - EOCD_SIZE; at >= Math.max(0, len - EOCD_SIZE - MAX_COMMENT); at--) {
    if (u32(at) === SIG_EOCD && at + EOCD_SIZE + u16(at + 20) === len) {
      eocd = at;
      break;
    }
  }
  if (eocd < 0) throw new ZipFormatError('not a zip archive (no end-of-central-directory record; truncated?)');
  if (u16(eocd + 4) !== 0 || u16(eocd + 6) !== 0) throw new ZipFormatError('multi-disk archives are not supported');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  let cdLimit = eocd; // where the central directory must end
  if (count === U16_MAX || cdSize === U32_MAX || cdOffset === U32_MAX || (eocd >= 20 && u32(eocd - 20) === SIG_EOCD64_LOCATOR)) {
    const loc = eocd - 20;
    if (loc < 0 || u32(loc) !== SIG_EOCD64_LOCATOR) throw new ZipFormatError('ZIP64 fields without a ZIP64 locator');
    const rec = u64(loc + 8, 'the ZIP64 record offset');
    if (rec + 56 > loc || u32(rec) !== SIG_EOCD64) throw new ZipFormatError(`ZIP64 end record at ${rec} is missing or out of bounds`);
    if (u32(rec + 16) !== 0 || u32(rec + 20) !== 0) throw new ZipFormatError('multi-disk archives are not supported');
    count = u64(rec + 32, 'the ZIP64 entry count');
    cdSize = u64(rec + 40, 'the ZIP64 directory size');
    cdOffset = u64(rec + 48, 'the ZIP64 directory offset');
    cdLimit = rec;
  }
  if (count > MAX_ENTRIES) throw new ZipFormatError(`${count} entries (limit ${MAX_ENTRIES})`);
  if (cdOffset + cdSize > cdLimit) throw new ZipFormatError(`central directory [${cdOffset}, ${cdOffset + cdSize}) runs past its end record at ${cdLimit} (truncated?)`);
  if (count * CENTRAL_SIZE > cdSize) throw new ZipFormatError(`central directory of ${cdSize} bytes cannot hold ${count} entries`);
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  const entries = new Map<string, ZipEntry>();
  const ranges: [number, number, string][] = [];
  let p = cdOffset;
  const cdEnd = cdOffset + cdSize;
  for (let i = 0; i < count; i++) {
    if (p + CENTRAL_SIZE > cdEnd || u32(p) !== SIG_CENTRAL) throw new ZipFormatError(`central directory entry ${i} at ${p} is malformed`);
    const flags = u16(p + 8);
    const method = u16(p + 10);
    const crc = u32(p + 16);
    let csize = u32(p + 20);
    let usize = u32(p + 24);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    let local = u32(p + 42);
    const next = p + CENTRAL_SIZE + nameLen + extraLen + commentLen;
    if (next > cdEnd) throw new ZipFormatError(`central directory entry ${i} runs past the directory`);
    let name: string;
    try {
      name = utf8.decode(bytes.subarray(p + CENTRAL_SIZE, p + CENTRAL_SIZE + nameLen));
    } catch {
      throw new ZipFormatError(`entry ${i} has a name that is not UTF-8`);
    }
    checkName(name);
    if (entries.has(name)) throw new ZipFormatError(`duplicate entry ${JSON.stringify(name)}`);
    // ZIP64 extra: the 64-bit values of the fields that hold 0xffffffff, in order.
    if (csize === U32_MAX || usize === U32_MAX || local === U32_MAX) {
      let e = p + CENTRAL_SIZE + nameLen;
      const eEnd = e + extraLen;
      let found = false;
      while (e + 4 <= eEnd) {
        const id = u16(e);
        const size = u16(e + 2);
        if (e + 4 + size > eEnd) break;
        if (id === ZIP64_EXTRA) {
          let q = e + 4;
          const take = (what: string) => {
            if (q + 8 > e + 4 + size) throw new ZipFormatError(`entry ${JSON.stringify(name)}: ZIP64 field too short for ${what}`);
            const v = u64(q, what);
            q += 8;
            return v;
          };
          if (usize === U32_MAX) usize = take('the size');
          if (csize === U32_MAX) csize = take('the compressed size');
          if (local === U32_MAX) local = take('the header offset');
          found = true;
          break;
        }
        e += 4 + size;
      }
      if (!found) throw new ZipFormatError(`entry ${JSON.stringify(name)} defers its sizes to a ZIP64 field it lacks`);
    }
    if (flags & 1) throw new ZipFormatError(`entry ${JSON.stringify(name)} is encrypted`);
    if (method !== 0) {
      throw new ZipFormatError(`entry ${JSON.stringify(name)} is compressed (method ${method}); only stored entries (method 0, as torch.save writes) are supported`);
    }
    if (csize !== usize) throw new ZipFormatError(`stored entry ${JSON.stringify(name)} has compressed size ${csize} but size ${usize}`);
    if (local + LOCAL_SIZE > cdOffset || u32(local) !== SIG_LOCAL) throw new ZipFormatError(`entry ${JSON.stringify(name)}: no local header at ${local}`);
    const start = local + LOCAL_SIZE + u16(local + 26) + u16(local + 28);
    const end = start + csize;
    if (end > cdOffset) throw new ZipFormatError(`entry ${JSON.stringify(name)}'s data [${start}, ${end}) runs past the archive's data (truncated?)`);
    const data = bytes.subarray(start, end);
    if (crc32(data) !== crc) throw new ZipFormatError(`entry ${JSON.stringify(name)} fails its CRC-32 check (corrupt)`);
    entries.set(name, { name, data });
    ranges.push([local, end, name]);
    p = next;
  }
  ranges.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < ranges.length; i++) {
    if (ranges[i][0] < ranges[i - 1][1]) throw new ZipFormatError(`entries ${JSON.stringify(ranges[i - 1][2])} and ${JSON.stringify(ranges[i][2])} overlap`);
  }
  return entries;
}
