// The bytes tokenizer against DeepMind's BytesTokenizer: the golden random
// strings must give the official ids exactly, special ids and the byte offset
// are the original's, and decoding never throws on invalid UTF-8 (Python's
// errors='replace' output, computed with CPython, is hard-coded below).

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  encode,
  decode,
  idsToBytes,
  idToken,
  BytesTokenizer,
  VOCAB_SIZE,
  NUM_RESERVED_TOKENS,
  PAD_ID,
  BOS_ID,
  EOS_ID,
  MASK_ID,
  CLS_ID,
  SEP_ID,
} from '../../perceiver/language/tokenizer.ts';
import { skip } from '../skip.ts';

const here = dirname(fileURLToPath(import.meta.url));
const GOLDEN = join(here, '../../../shared/golden/bytes_tokenizer.json');

test('special tokens, byte offset and vocabulary size are the original ones', () => {
  assert.equal([PAD_ID, BOS_ID, EOS_ID, MASK_ID, CLS_ID, SEP_ID], [0, 1, 2, 3, 4, 5]);
  assert.is(NUM_RESERVED_TOKENS, 6);
  assert.is(VOCAB_SIZE, 262);
  assert.is(BytesTokenizer.vocabSize, 262);
  assert.is(BytesTokenizer.maskToken, 3);
});

test('golden strings give the official ids exactly, and decode back', () => {
  if (!existsSync(GOLDEN)) {
    skip(`${GOLDEN} is absent`);
    return;
  }
  const { strings, ids } = JSON.parse(readFileSync(GOLDEN, 'utf8')) as { strings: string[]; ids: number[][] };
  assert.ok(strings.length > 0 && strings.length === ids.length);
  strings.forEach((s, i) => {
    const got = encode(s);
    assert.ok(got instanceof Int32Array);
    assert.equal(Array.from(got), ids[i], `string ${i}`);
    assert.is(decode(ids[i]), s, `decode ${i}`);
  });
});

test("the colab's sentence: 60 bytes, ids = bytes + 6, no CLS/SEP", () => {
  const text = 'This is an incomplete sentence where some words are missing.';
  const ids = encode(text);
  assert.is(ids.length, 60);
  assert.is(ids[0], 'T'.charCodeAt(0) + 6);
  assert.is(decode(ids.subarray(51, 60)), ' missing.');
  // the colab's expected greedy prediction decodes to " missing."
  assert.is(decode([38, 115, 111, 121, 121, 111, 116, 109, 52]), ' missing.');
  assert.equal(Array.from(encode('')), []);
});

test('decode drops special ids and out-of-range ids', () => {
  const ids = [CLS_ID, ...encode('hi'), MASK_ID, PAD_ID, ...encode('!'), SEP_ID, EOS_ID, 262, -1, 1.5];
  assert.is(decode(ids), 'hi!');
  assert.equal(Array.from(idsToBytes(ids)), [104, 105, 33]);
});

test("invalid UTF-8 decodes like Python's errors='replace', never throws", () => {
  const R = '\ufffd';
  const cases: [number[], string][] = [
    [[255], R],
    [[97, 98, 99, 226, 130], `abc${R}`],
    [[226, 130, 226, 130, 172], `${R}€`],
    [[240, 159, 152], R],
    [[192, 175], R + R],
    [[237, 160, 128], R + R + R],
    [[239, 187, 191, 104, 105], '\ufeffhi'],
    [[244, 144, 128, 128], R + R + R + R],
    [[128, 128, 120], `${R}${R}x`],
  ];
  for (const [bytes, want] of cases) {
    const ids = bytes.map((b) => b + 6);
    assert.is(decode(ids), want, `bytes [${bytes}]`);
  }
});

test('any Unicode round-trips: astral planes, combining marks, RTL, NUL', () => {
  const s = 'a\u0000b 😀👩‍👩‍👧 é (e\u0301) עברית 中文 \ud834\udd1e';
  assert.is(decode(encode(s)), s);
  assert.is(encode('😀').length, 4);
});

test('idToken names special ids and shows bytes', () => {
  assert.is(idToken(MASK_ID), '[MASK]');
  assert.is(idToken('a'.charCodeAt(0) + 6), 'a');
  assert.is(idToken(0xe2 + 6), '\\xe2');
});

test.run();
