// Writing HuggingFace-format checkpoints from the released Haiku leaves: the
// inverse of perceiver/hf.ts's table (each transform HF's converter applies:
// all axes reversed for `reverse`, batch-norm tensors squeezed), a
// config.json for a preset and overrides, safetensors, and torch.save's zip
// archive of a state dict (protocol-2 data.pkl: an OrderedDict of
// _rebuild_tensor_v2 over FloatStorages, one storage file per tensor).
// Used to make HF files from the shipped fixtures (tests and the fuzzer's
// seeds, where ../shared/golden-hf is absent); the real files come from HF's
// own converter. Browser-safe: no node: imports.

import { NdArray } from './ndarray.ts';
import { writeZip } from './npy.ts';
import { reverseAxes } from './convert.ts';
import { hfTable, encoderInputWidth, HF_ARCHITECTURES } from '../perceiver/hf.ts';
import { presetConfig, type ModelConfig, type Overrides, type PresetName } from '../perceiver/config.ts';

/** The released Haiku leaves -> an HF state dict (float32 tensors). */
export function haikuToHf(flat: ReadonlyMap<string, NdArray>, config: ModelConfig): Map<string, NdArray> {
  const out = new Map<string, NdArray>();
  for (const [key, e] of hfTable(config)) {
    const a = flat.get(e.haiku);
    if (!a) throw new Error(`haikuToHf: no '${e.haiku}'`);
    if (a.dtype !== 'f32') throw new Error(`haikuToHf: '${e.haiku}' is ${a.dtype}, not f32`);
    out.set(key, e.transform === 'reverse' ? reverseAxes(a) : new NdArray('f32', [...e.hfShape], a.data, 'f4'));
  }
  return out;
}

/** A config.json HF's Perceiver classes would write for this preset and overrides (the fields hfModelConfig reads). */
export function hfConfigJson(preset: PresetName, overrides: Overrides = {}, labels?: string[]): string {
  const c = presetConfig(preset, overrides);
  const e = c.encoder;
  const arch = Object.keys(HF_ARCHITECTURES).find((k) => HF_ARCHITECTURES[k] === preset)!;
  const json: Record<string, unknown> = {
    architectures: [arch],
    model_type: 'perceiver',
    num_latents: e.numLatents,
    d_latents: e.latentChannels,
    d_model: encoderInputWidth(c),
    num_blocks: e.numBlocks,
    num_self_attends_per_block: e.numSelfAttendsPerBlock,
    num_self_attention_heads: e.numSelfAttentionHeads,
    num_cross_attention_heads: e.numCrossAttentionHeads,
    qk_channels: e.selfQkChannels,
    v_channels: e.selfVChannels,
    image_size: c.preset === 'imagenet-learned' ? c.imageSize : 56,
  };
  if (labels) json.id2label = Object.fromEntries(labels.map((l, i) => [String(i), l]));
  return JSON.stringify(json, null, 2);
}

/** A safetensors file of float32 tensors (names sorted, data packed in that order). */
export function encodeSafetensors(tensors: ReadonlyMap<string, NdArray>): Uint8Array {
  const names = [...tensors.keys()].sort();
  const header: Record<string, unknown> = { __metadata__: { format: 'pt' } };
  let off = 0;
  for (const n of names) {
    const b = tensors.get(n)!.data.byteLength;
    header[n] = { dtype: 'F32', shape: tensors.get(n)!.shape, data_offsets: [off, off + b] };
    off += b;
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const pad = (8 - (json.length % 8)) % 8; // HF pads the header with spaces to 8 bytes
  if (pad) json = new TextEncoder().encode(JSON.stringify(header) + ' '.repeat(pad));
  const out = new Uint8Array(8 + json.length + off);
  new DataView(out.buffer).setUint32(0, json.length, true);
  out.set(json, 8);
  let p = 8 + json.length;
  for (const n of names) {
    const d = tensors.get(n)!.data;
    out.set(new Uint8Array(d.buffer, d.byteOffset, d.byteLength), p);
    p += d.byteLength;
  }
  return out;
}

/** torch.save(state_dict) as a zip archive (root folder `archive/`), float32 tensors. */
export function encodeTorchStateDict(tensors: ReadonlyMap<string, NdArray>): Uint8Array {
  const bytes: number[] = [];
  const enc = new TextEncoder();
  const op = (...b: number[]) => bytes.push(...b);
  const u32 = (n: number) => op(n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff);
  const str = (s: string) => {
    const b = enc.encode(s);
    op(0x58); // BINUNICODE
    u32(b.length);
    op(...b);
  };
  const global = (m: string, n: string) => op(0x63, ...enc.encode(`${m}\n${n}\n`)); // GLOBAL
  const int = (n: number) => {
    op(0x4a); // BININT
    u32(n);
  };
  const tuple = (xs: number[]) => {
    op(0x28); // MARK
    xs.forEach(int);
    op(0x74); // TUPLE
  };
  const emptyOrderedDict = () => op(...[0x63, ...enc.encode('collections\nOrderedDict\n'), 0x29, 0x52]); // GLOBAL, EMPTY_TUPLE, REDUCE
  op(0x80, 2); // PROTO 2
  emptyOrderedDict();
  op(0x28); // MARK
  const storages: { name: string; data: Uint8Array }[] = [];
  [...tensors].forEach(([name, a], k) => {
    str(name);
    global('torch._utils', '_rebuild_tensor_v2');
    op(0x28); // MARK (the arguments)
    op(0x28); // MARK (the persistent id)
    str('storage');
    global('torch', 'FloatStorage');
    str(String(k));
    str('cpu');
    int(a.data.length);
    op(0x74, 0x51); // TUPLE, BINPERSID
    int(0); // storage offset
    tuple(a.shape);
    const strides = a.shape.map((_, i) => a.shape.slice(i + 1).reduce((x, y) => x * y, 1));
    tuple(strides);
    op(0x89); // NEWFALSE (requires_grad)
    emptyOrderedDict(); // backward hooks
    op(0x74, 0x52); // TUPLE, REDUCE
    storages.push({ name: `archive/data/${k}`, data: new Uint8Array(a.data.buffer, a.data.byteOffset, a.data.byteLength) });
  });
  op(0x75, 0x2e); // SETITEMS, STOP
  return writeZip([
    { name: 'archive/data.pkl', data: Uint8Array.from(bytes) },
    { name: 'archive/byteorder', data: enc.encode('little') },
    ...storages,
    { name: 'archive/version', data: enc.encode('3\n') },
  ]);
}
