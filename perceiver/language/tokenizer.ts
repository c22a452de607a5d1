// DeepMind's BytesTokenizer (perceiver/bytes_tokenizer.py), byte for byte:
// six reserved ids (PAD 0, BOS 1, EOS 2, MASK 3, CLS 4, SEP 5) followed by the
// 256 byte values shifted by 6, so the vocabulary has 262 ids. `encode` adds
// no BOS/EOS/CLS/SEP (the released MLM model was trained without them).
// `decode` drops the reserved ids, subtracts 6 and decodes UTF-8 the way
// Python's `bytes.decode('utf-8', errors='replace')` does: it never throws,
// and every ill-formed sequence becomes U+FFFD (maximal-subpart rule, which
// Python and the WHATWG decoder share). A leading byte-order mark is kept.

export const PAD_ID = 0;
export const BOS_ID = 1;
export const EOS_ID = 2;
export const MASK_ID = 3;
export const CLS_ID = 4;
export const SEP_ID = 5;
/** ids below this are special tokens; byte b has id b + NUM_RESERVED_TOKENS */
export const NUM_RESERVED_TOKENS = 6;
export const VOCAB_SIZE = 256 + NUM_RESERVED_TOKENS;

export const SPECIAL_TOKENS: Readonly<Record<string, number>> = {
  '[PAD]': PAD_ID,
  '[BOS]': BOS_ID,
  '[EOS]': EOS_ID,
  '[MASK]': MASK_ID,
  '[CLS]': CLS_ID,
  '[SEP]': SEP_ID,
};

const encoder = new TextEncoder();
// fatal: false -> U+FFFD replacement; ignoreBOM: true -> a leading BOM is kept (Python keeps it)
const decoder = new TextDecoder('utf-8', { fatal: false, ignoreBOM: true });

/** UTF-8 bytes of a string (a lone surrogate encodes as U+FFFD's bytes). */
export function utf8(text: string): Uint8Array {
  return encoder.encode(text);
}

/** UTF-8 decoding with replacement characters; never throws. */
export function fromUtf8(bytes: Uint8Array): string {
  return decoder.decode(bytes);
}

/** Byte values -> ids (byte + 6). */
export function bytesToIds(bytes: Uint8Array): Int32Array {
  const ids = new Int32Array(bytes.length);
  for (let i = 0; i < bytes.length; i++) ids[i] = bytes[i] + NUM_RESERVED_TOKENS;
  return ids;
}

/** Ids -> byte values, dropping special (and out-of-range) ids. */
export function idsToBytes(ids: ArrayLike<number>): Uint8Array {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    const id = ids[i];
    if (Number.isInteger(id) && id >= NUM_RESERVED_TOKENS && id < VOCAB_SIZE) out.push(id - NUM_RESERVED_TOKENS);
  }
  return Uint8Array.from(out);
}

/** `BytesTokenizer.to_int`: text -> UTF-8 bytes + 6, no special tokens added. */
export function encode(text: string): Int32Array {
  if (typeof text !== 'string') throw new TypeError(`encode: expected a string, got ${typeof text}`);
  return bytesToIds(utf8(text));
}

/**
 * `BytesTokenizer.to_string`: drops ids below 6 (special tokens), subtracts 6
 * and decodes UTF-8 with replacement characters. Never throws on invalid
 * UTF-8. Ids outside [0, 262) are dropped too (the original would wrap them
 * through uint8; they cannot come from the model).
 */
export function decode(ids: ArrayLike<number>): string {
  return fromUtf8(idsToBytes(ids));
}

/** The printable form of one id: the special token's name, or the byte. */
export function idToken(id: number): string {
  if (id < NUM_RESERVED_TOKENS) return Object.keys(SPECIAL_TOKENS).find((k) => SPECIAL_TOKENS[k] === id) ?? `[${id}]`;
  const b = id - NUM_RESERVED_TOKENS;
  return b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`;
}

/** The same API as an object, for code that wants a tokenizer instance. */
export const BytesTokenizer = {
  vocabSize: VOCAB_SIZE,
  padToken: PAD_ID,
  bosToken: BOS_ID,
  eosToken: EOS_ID,
  maskToken: MASK_ID,
  clsToken: CLS_ID,
  sepToken: SEP_ID,
  numReservedTokens: NUM_RESERVED_TOKENS,
  encode,
  decode,
} as const;
