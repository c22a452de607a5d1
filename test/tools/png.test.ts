// tools/png.ts: the real photographs in shared/media (pixels checked against
// libpng through OpenCV), every colour type x bit depth x interlace x filter
// built by an independent writer in this file, round trips, and hostile input.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createHash } from 'node:crypto';
import { deflateSync } from 'node:zlib';
import { decodePng, encodePng, readPng, crc32, PngError } from '../../tools/png.ts';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
const MEDIA = join(here, '../../../shared/media');
const REPO_MEDIA = join(here, '../media');

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex');

/** A small deterministic PRNG (LCG) giving bytes. */
function rng(seed: number) {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s >>> 24;
  };
}

// ------------------------------------------------------------ an independent writer

/** CRC-32 bit by bit (no table), independent of tools/png.ts's. */
function refCrc32(bytes: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of bytes) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xedb88320 & -(c & 1));
  }
  return (c ^ 0xffffffff) >>> 0;
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];
const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };

function pngChunk(type: string, data: Uint8Array): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(refCrc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, crc]);
}

interface Spec {
  width: number;
  height: number;
  colorType: number;
  depth: number;
  interlace: 0 | 1;
  /** width * height * channels samples, each < 2^depth */
  samples: number[];
  plte?: Uint8Array;
  trns?: Uint8Array;
}

/** Serialise samples as a PNG, row filters cycling through all five types. */
function writeSpec(s: Spec): Uint8Array {
  const ch = CHANNELS[s.colorType];
  const bpp = Math.max(1, (ch * s.depth) / 8);
  const passes = s.interlace ? ADAM7 : [[0, 0, 1, 1]];
  const raw: number[] = [];
  let filterCounter = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const xs: number[] = [];
    for (let x = x0; x < s.width; x += dx) xs.push(x);
    if (xs.length === 0) continue;
    let prev: number[] | null = null;
    for (let y = y0; y < s.height; y += dy) {
      // Pack the row.
      const row: number[] = [];
      let acc = 0;
      let bits = 0;
      for (const x of xs) {
        for (let c = 0; c < ch; c++) {
          const v = s.samples[(y * s.width + x) * ch + c];
          if (s.depth === 16) row.push(v >> 8, v & 255);
          else if (s.depth === 8) row.push(v);
          else {
            acc = (acc << s.depth) | v;
            bits += s.depth;
            if (bits === 8) {
              row.push(acc);
              acc = 0;
              bits = 0;
            }
          }
        }
      }
      if (bits > 0) row.push(acc << (8 - bits));
      const up = prev ?? row.map(() => 0);
      const f = filterCounter++ % 5;
      raw.push(f);
      for (let i = 0; i < row.length; i++) {
        const a = i >= bpp ? row[i - bpp] : 0;
        const b = up[i];
        const c = i >= bpp ? up[i - bpp] : 0;
        const p = a + b - c;
        const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
        const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
        const pred = [0, a, b, Math.floor((a + b) / 2), paeth][f];
        raw.push((row[i] - pred + 256) % 256);
      }
      prev = row;
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(s.width, 0);
  ihdr.writeUInt32BE(s.height, 4);
  ihdr[8] = s.depth;
  ihdr[9] = s.colorType;
  ihdr[12] = s.interlace;
  const parts = [Buffer.from([137, 80, 78, 71, 13, 10, 26, 10]), pngChunk('IHDR', ihdr)];
  if (s.plte) parts.push(pngChunk('PLTE', s.plte));
  if (s.trns) parts.push(pngChunk('tRNS', s.trns));
  parts.push(pngChunk('tEXt', Buffer.from('Comment\0ancillary chunks are skipped', 'latin1')));
  // Split the data over two IDAT chunks, as real encoders often do.
  const z = deflateSync(Buffer.from(raw));
  const cut = Math.floor(z.length / 2);
  parts.push(pngChunk('IDAT', z.subarray(0, cut)), pngChunk('IDAT', z.subarray(cut)), pngChunk('IEND', new Uint8Array(0)));
  return new Uint8Array(Buffer.concat(parts));
}

/** The RGBA bytes a spec should decode to, straight from the PNG specification. */
function expectedRgba(s: Spec): Uint8Array {
  const ch = CHANNELS[s.colorType];
  const out = new Uint8Array(s.width * s.height * 4);
  const to8 = (v: number) => (s.depth === 16 ? Math.round(v / 257) : Math.round((v * 255) / ((1 << s.depth) - 1)));
  const key16 = (i: number) => (s.trns![i] << 8) | s.trns![i + 1];
  for (let p = 0; p < s.width * s.height; p++) {
    const v = s.samples.slice(p * ch, p * ch + ch);
    let rgba: number[];
    switch (s.colorType) {
      case 0:
        rgba = [to8(v[0]), to8(v[0]), to8(v[0]), s.trns && v[0] === key16(0) ? 0 : 255];
        break;
      case 2:
        rgba = [...v.map(to8), s.trns && v[0] === key16(0) && v[1] === key16(2) && v[2] === key16(4) ? 0 : 255];
        break;
      case 3:
        rgba = [s.plte![v[0] * 3], s.plte![v[0] * 3 + 1], s.plte![v[0] * 3 + 2], s.trns && v[0] < s.trns.length ? s.trns[v[0]] : 255];
        break;
      case 4:
        rgba = [to8(v[0]), to8(v[0]), to8(v[0]), to8(v[1])];
        break;
      default:
        rgba = v.map(to8);
    }
    out.set(rgba, p * 4);
  }
  return out;
}

function randomSpec(colorType: number, depth: number, interlace: 0 | 1, width: number, height: number, seed: number): Spec {
  const r = rng(seed);
  const ch = CHANNELS[colorType];
  const max = (1 << depth) - 1;
  const paletteSize = colorType === 3 ? Math.min(1 << depth, 5 + (seed % 200)) : 0;
  const samples: number[] = [];
  for (let i = 0; i < width * height * ch; i++) {
    // Mix smooth ramps (which the filters predict well) with noise.
    const smooth = ((i * 7) >> 3) % (max + 1);
    const noise = depth === 16 ? (r() << 8) | r() : r() & max;
    samples.push(colorType === 3 ? (i % 3 === 0 ? smooth : noise) % paletteSize : i % 3 === 0 ? smooth : noise);
  }
  const spec: Spec = { width, height, colorType, depth, interlace, samples };
  if (colorType === 3) {
    spec.plte = new Uint8Array(paletteSize * 3).map(() => r());
    spec.trns = new Uint8Array(Math.max(1, paletteSize - 2)).map(() => r());
  } else if (colorType === 0) {
    const k = samples[Math.min(5, samples.length - 1)];
    spec.trns = new Uint8Array([k >> 8, k & 255]);
  } else if (colorType === 2) {
    const k = samples.length >= 6 ? samples.slice(3, 6) : samples.slice(0, 3);
    spec.trns = new Uint8Array(k.flatMap((v) => [v >> 8, v & 255]));
  }
  return spec;
}

// ------------------------------------------------------------ real files

// sha256 of the RGBA bytes OpenCV 4.6.0 (libpng) reads from each file
// (cv2.imread(path, cv2.IMREAD_UNCHANGED), BGR -> RGB, alpha 255 appended).
const MEDIA_FILES = [
  { file: 'chelsea.png', width: 451, height: 300, sha: '64fe24103e06b43e8610a29557ae4ffb479e8ed4d420c82d7a144f4c688270f7' },
  { file: 'coffee.png', width: 600, height: 400, sha: '2c9022e5a85bd6baa1679a11f91fa94fd1d69ba879414f5da7c55066ea3b28fc' },
  { file: 'astronaut.png', width: 512, height: 512, sha: '0df3c62c654dd5432e753a8d273e73ad3fb7d5826848b395afaead620b89bdd0' },
];

for (const m of MEDIA_FILES) {
  test(`decodes shared/media/${m.file} to the pixels libpng gives, and round trips`, () => {
    const path = join(MEDIA, m.file);
    if (!existsSync(path)) {
      skip(`${path} is absent (shared/media is read in place)`);
      return;
    }
    const img = readPng(path);
    assert.is(img.width, m.width);
    assert.is(img.height, m.height);
    assert.ok(img.data instanceof Uint8ClampedArray);
    assert.is(img.data.length, m.width * m.height * 4);
    assert.is(sha256(new Uint8Array(img.data.buffer)), m.sha);
    const again = decodePng(encodePng(img.width, img.height, img.data));
    assert.equal([again.width, again.height], [img.width, img.height]);
    assert.ok(Buffer.compare(Buffer.from(again.data.buffer), Buffer.from(img.data.buffer)) === 0, 'round trip changed pixels');
  });
}

test('test/media/chelsea-224.png decodes (the photograph shipped in the repository)', () => {
  const img = readPng(join(REPO_MEDIA, 'chelsea-224.png'));
  assert.is(img.width, 224);
  assert.is(img.height, 149);
  assert.is(img.data.length, 224 * 149 * 4);
});

// ------------------------------------------------------------ every format

const FORMATS: [number, number[]][] = [
  [0, [1, 2, 4, 8, 16]],
  [2, [8, 16]],
  [3, [1, 2, 4, 8]],
  [4, [8, 16]],
  [6, [8, 16]],
];

test('every colour type, bit depth, interlace and filter decodes to the specified RGBA', () => {
  let seed = 1;
  let count = 0;
  for (const [colorType, depths] of FORMATS) {
    for (const depth of depths) {
      for (const interlace of [0, 1] as const) {
        // Sizes that leave Adam7 passes empty (1x1, 3x2), odd, and bigger than one 8x8 block.
        for (const [w, h] of [[1, 1], [3, 2], [13, 7], [33, 17]]) {
          const spec = randomSpec(colorType, depth, interlace, w, h, seed++);
          const img = decodePng(writeSpec(spec));
          assert.is(img.width, w);
          assert.is(img.height, h);
          const want = expectedRgba(spec);
          for (let i = 0; i < want.length; i++) {
            if (img.data[i] !== want[i]) {
              assert.unreachable(`type ${colorType} depth ${depth} interlace ${interlace} ${w}x${h}: byte ${i} is ${img.data[i]}, want ${want[i]}`);
            }
          }
          count++;
        }
      }
    }
  }
  assert.is(count, 15 * 2 * 4);
});

test('16-bit samples scale to 8 bits by rounding v / 257', () => {
  const spec: Spec = { width: 4, height: 1, colorType: 0, depth: 16, interlace: 0, samples: [0, 128, 129, 65535] };
  assert.equal(Array.from(decodePng(writeSpec(spec)).data.filter((_, i) => i % 4 === 0)), [0, 0, 1, 255]);
});

test('round trips: opaque images as RGB, translucent ones as RGBA, every size class', () => {
  const r = rng(42);
  for (const [w, h, opaque] of [[1, 1, true], [1, 1, false], [7, 3, true], [64, 1, false], [1, 40, false], [97, 61, true], [97, 61, false]] as const) {
    const data = new Uint8Array(w * h * 4);
    for (let i = 0; i < data.length; i++) data[i] = i % 4 === 3 && opaque ? 255 : i % 5 < 2 ? r() : (i >> 4) & 255;
    const png = encodePng(w, h, data);
    assert.is(png[25], opaque ? 2 : 6, 'colour type byte in IHDR');
    const img = decodePng(png);
    assert.equal([img.width, img.height], [w, h]);
    assert.equal(Array.from(img.data), Array.from(data));
    // keepAlpha writes RGBA even when opaque.
    assert.is(encodePng(w, h, data, { keepAlpha: true })[25], 6);
  }
  // Level 0 (stored) output decodes too.
  const flat = new Uint8ClampedArray(10 * 10 * 4).fill(200);
  assert.equal(Array.from(decodePng(encodePng(10, 10, flat, { level: 0 })).data), Array.from(flat));
});

test('crc32 is the standard CRC-32', () => {
  assert.is(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.is(crc32(new Uint8Array(0)), 0);
});

// ------------------------------------------------------------ hostile input

function small(): Uint8Array {
  return writeSpec(randomSpec(6, 8, 0, 5, 4, 99));
}

/** Rewrite a chunk's data (and its CRC) in a PNG made by writeSpec. */
function patchChunk(png: Uint8Array, type: string, patch: (data: Uint8Array) => Uint8Array): Uint8Array {
  const parts: Buffer[] = [Buffer.from(png.subarray(0, 8))];
  let pos = 8;
  while (pos < png.length) {
    const len = Buffer.from(png.buffer, png.byteOffset + pos).readUInt32BE(0);
    const name = Buffer.from(png.subarray(pos + 4, pos + 8)).toString('latin1');
    const data = png.subarray(pos + 8, pos + 8 + len);
    parts.push(name === type ? pngChunk(name, patch(data.slice())) : Buffer.from(png.subarray(pos, pos + 12 + len)));
    pos += 12 + len;
  }
  return new Uint8Array(Buffer.concat(parts));
}

function throwsPng(fn: () => unknown, pattern: RegExp): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, PngError);
    assert.match((e as Error).message, /^PNG: /);
    assert.match((e as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a PngError matching ${pattern}`);
}

test('refuses bad signatures, bad CRCs and malformed headers with clear errors', () => {
  throwsPng(() => decodePng(new Uint8Array(0)), /not a PNG/);
  throwsPng(() => decodePng(new TextEncoder().encode('GIF89a........')), /not a PNG/);
  const png = small();
  const bad = png.slice();
  bad[20] ^= 1; // inside IHDR's data
  throwsPng(() => decodePng(bad), /CRC mismatch in chunk IHDR/);
  throwsPng(() => decodePng(patchChunk(png, 'IHDR', (d) => (d[8] = 3, d))), /bit depth 3 is not allowed/);
  throwsPng(() => decodePng(patchChunk(png, 'IHDR', (d) => (d[9] = 5, d))), /invalid colour type 5/);
  throwsPng(() => decodePng(patchChunk(png, 'IHDR', (d) => (d[12] = 2, d))), /interlace method/);
  throwsPng(() => decodePng(patchChunk(png, 'IHDR', (d) => (d.fill(0, 0, 4), d))), /invalid dimensions 0x4/);
  throwsPng(() => decodePng(patchChunk(png, 'IHDR', (d) => d.subarray(0, 12))), /IHDR must be 13 bytes/);
});

test('refuses absurd dimensions before allocating anything', () => {
  const huge = patchChunk(small(), 'IHDR', (d) => {
    Buffer.from(d.buffer, d.byteOffset).writeUInt32BE(0x7fffffff, 0);
    Buffer.from(d.buffer, d.byteOffset).writeUInt32BE(0x7fffffff, 4);
    return d;
  });
  const t0 = performance.now();
  throwsPng(() => decodePng(huge), /more than the limit/);
  assert.ok(performance.now() - t0 < 200);
  // A caller's own limit applies too.
  throwsPng(() => decodePng(small(), { maxPixels: 19 }), /5x4 has 20 pixels, more than the limit of 19/);
  assert.is(decodePng(small(), { maxPixels: 20 }).width, 5);
});

test('every truncation of a file is a PngError naming the problem', () => {
  const png = writeSpec(randomSpec(3, 4, 1, 9, 9, 7));
  for (let n = 0; n < png.length; n++) {
    try {
      decodePng(png.subarray(0, n));
      assert.unreachable(`a ${n}-byte prefix decoded`);
    } catch (e) {
      assert.instance(e, PngError, `prefix ${n}: ${(e as Error).message}`);
    }
  }
  throwsPng(() => decodePng(png.subarray(0, png.length - 12)), /no IEND/);
  throwsPng(() => decodePng(png.subarray(0, 40)), /truncated/);
});

test('corrupt image data: short, long, undecodable, bad filters, bad palette use', () => {
  const spec = randomSpec(6, 8, 0, 5, 4, 3);
  const png = writeSpec(spec);
  const rowBytes = 1 + 5 * 4;
  const rawOf = (bytes: number[]) => deflateSync(Buffer.from(bytes));
  const replaceData = (raw: Uint8Array) => {
    // Keep IHDR, drop the test's two IDATs, add one with the given zlib data.
    const withoutIdat = patchChunk(png, 'IDAT', () => new Uint8Array(0));
    const iend = withoutIdat.length - 12;
    return new Uint8Array(Buffer.concat([Buffer.from(withoutIdat.subarray(0, iend - 24)), pngChunk('IDAT', raw), Buffer.from(withoutIdat.subarray(iend))]));
  };
  throwsPng(() => decodePng(replaceData(rawOf(new Array(rowBytes * 4 - 1).fill(0)))), /too short.*needs 84/);
  throwsPng(() => decodePng(replaceData(rawOf(new Array(rowBytes * 4 + 1).fill(0)))), /more than the 84 bytes/);
  throwsPng(() => decodePng(replaceData(new Uint8Array([120, 156, 255, 255, 255]))), /corrupt image data \(zlib/);
  const badFilter = new Array(rowBytes * 4).fill(0);
  badFilter[rowBytes * 2] = 5;
  throwsPng(() => decodePng(replaceData(rawOf(badFilter))), /invalid filter type 5 in row 2/);
  // A zip bomb: 32 MB of zeros claiming to be a 5x4 image is cut off at 84 bytes.
  throwsPng(() => decodePng(replaceData(deflateSync(Buffer.alloc(32 << 20)))), /more than the 84 bytes/);

  // Palette images: index beyond the palette, missing PLTE, tRNS longer than PLTE.
  const pal: Spec = { width: 2, height: 1, colorType: 3, depth: 8, interlace: 0, samples: [0, 2], plte: new Uint8Array([1, 2, 3, 4, 5, 6]) };
  throwsPng(() => decodePng(writeSpec(pal)), /palette index 2 out of range/);
  throwsPng(() => decodePng(writeSpec({ ...pal, samples: [0, 1], plte: undefined })), /without a PLTE/);
  throwsPng(() => decodePng(writeSpec({ ...pal, samples: [0, 1], trns: new Uint8Array(3) })), /tRNS has 3 entries/);
  throwsPng(() => decodePng(writeSpec({ ...spec, trns: new Uint8Array(2) })), /tRNS chunk is not allowed/);
});

test('unknown critical chunks are refused, unknown ancillary ones skipped', () => {
  const png = small();
  const withChunk = (type: string) => new Uint8Array(Buffer.concat([Buffer.from(png.subarray(0, 33)), pngChunk(type, new Uint8Array([1, 2])), Buffer.from(png.subarray(33))]));
  throwsPng(() => decodePng(withChunk('ABCD')), /unknown critical chunk ABCD/);
  assert.is(decodePng(withChunk('abCD')).width, 5);
  throwsPng(() => decodePng(withChunk('ab1D')), /invalid chunk type/);
});

test('random corruption never escapes as anything but a PngError (fuzz, CRCs fixed up)', () => {
  const r = rng(5);
  const bases = [writeSpec(randomSpec(3, 2, 1, 11, 6, 1)), writeSpec(randomSpec(2, 16, 0, 6, 5, 2)), small()];
  let decoded = 0;
  for (let iter = 0; iter < 600; iter++) {
    const png = bases[iter % bases.length].slice();
    const flips = 1 + (r() % 4);
    for (let k = 0; k < flips; k++) png[8 + ((r() << 8 | r()) % (png.length - 8))] = r();
    // Recompute every CRC so the corruption reaches the parser and inflater.
    let pos = 8;
    while (pos + 12 <= png.length) {
      const len = Buffer.from(png.buffer).readUInt32BE(pos);
      if (pos + 12 + len > png.length) break;
      Buffer.from(png.buffer).writeUInt32BE(refCrc32(png.subarray(pos + 4, pos + 8 + len)), pos + 8 + len);
      pos += 12 + len;
    }
    try {
      const img = decodePng(png);
      assert.is(img.data.length, img.width * img.height * 4);
      decoded++;
    } catch (e) {
      if (!(e instanceof PngError)) assert.unreachable(`iteration ${iter}: ${(e as Error).stack}`);
    }
  }
  assert.ok(decoded < 600);
});

test('encodePng checks its arguments', () => {
  throwsPng(() => encodePng(0, 1, new Uint8Array(0)), /invalid dimensions/);
  throwsPng(() => encodePng(2, 2, new Uint8Array(15)), /expected 16 bytes/);
  throwsPng(() => encodePng(1.5, 2, new Uint8Array(12)), /invalid dimensions/);
});

test.run();
