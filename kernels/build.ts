// Build step: turns every kernels/*.wgsl file into a typed entry of
// kernels/shaders.gen.ts (its source text plus the bindings reflected from it
// with wgsl_reflect), so a kernel's bindings are declared once, in its WGSL,
// and the reflection library never reaches a browser bundle.
//
// Run by `npm run gen`, by `npm test` and by npm's `prepare` on install.

import { readdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import type { ShaderInfo, BindingInfo, UniformMember } from '../engine/shader.ts';

const here = dirname(fileURLToPath(import.meta.url));

function scalarType(name: string, format?: string): UniformMember['type'] {
  const t = format ?? name;
  if (t === 'u32' || t === 'i32' || t === 'f32') return t;
  throw new Error(`uniform member type ${name}<${format}> is not supported (use u32, i32, f32 or vecN of them)`);
}

export function reflectShader(name: string, code: string): ShaderInfo {
  const r = new WgslReflect(code);
  const bindings: BindingInfo[] = [];
  for (const s of r.storage) {
    bindings.push({ name: s.name, group: s.group, binding: s.binding, kind: s.access === 'read' ? 'read-only-storage' : 'storage' });
  }
  for (const u of r.uniforms) {
    const members: UniformMember[] = [];
    for (const m of (u as any).members ?? []) {
      const tn: string = m.type.name;
      const fmt: string | undefined = m.type.format?.name;
      const count = tn.startsWith('vec') ? Number(tn.slice(3, 4)) : 1;
      members.push({ name: m.name, offset: m.offset, type: scalarType(count > 1 ? (fmt ?? 'f32') : tn, count > 1 ? fmt : undefined), count });
    }
    bindings.push({ name: u.name, group: u.group, binding: u.binding, kind: 'uniform', size: u.size, members });
  }
  if (bindings.some((b) => b.group !== 0)) throw new Error(`${name}: all bindings must be in @group(0)`);
  bindings.sort((a, b) => a.binding - b.binding);
  const entries = r.entry.compute.map((e: any) => e.name as string);
  if (entries.length === 0) throw new Error(`${name}: no @compute entry point`);
  const overrides = r.overrides.map((o: any) => o.name as string);
  return { name, code, bindings, entries, overrides };
}

// WGSL tokens: whitespace, comments, numbers (hex, decimal with exponent and
// suffix), identifiers, the multi-character operators, any other character.
const WGSL_TOKEN =
  /\s+|\/\/[^\n]*|\/\*[\s\S]*?\*\/|0[xX][0-9a-fA-F]+[iu]?|(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?[fhiu]?|[A-Za-z_]\w*|>>=|<<=|->|&&|\|\||==|!=|<=|>=|<<|>>|\+\+|--|[-+*/%&|^]=|\S/y;
// Operators that two adjacent tokens could spell by accident once the space
// between them is gone (e.g. `a - -b` must not become `a--b`).
const JOINED_OPERATORS = ['>>=', '<<=', '->', '&&', '||', '==', '!=', '<=', '>=', '<<', '>>', '++', '--', '+=', '-=', '*=', '/=', '%=', '&=', '|=', '^=', '//', '/*'];
const isWordChar = (c: string) => /[\w.]/.test(c);
const isIdent = (t: string) => /^[A-Za-z_]\w*$/.test(t);

// Names a declaration must not take or lose: WGSL's built-in functions and
// types (a local may shadow one in one function while another function calls
// the built-in) and its short reserved words.
const WGSL_BUILTINS = new Set(
  (
    'abs acos acosh all any arrayLength asin asinh atan atan2 atanh bitcast ceil clamp cos cosh countLeadingZeros countOneBits ' +
    'countTrailingZeros cross degrees determinant distance dot dot4I8Packed dot4U8Packed exp exp2 extractBits faceForward ' +
    'firstLeadingBit firstTrailingBit floor fma fract frexp insertBits inverseSqrt ldexp length log log2 max min mix modf ' +
    'normalize pack2x16float pack2x16snorm pack2x16unorm pack4x8snorm pack4x8unorm pow quantizeToF16 radians reflect refract ' +
    'reverseBits round saturate select sign sin sinh smoothstep sqrt step storageBarrier tan tanh textureBarrier transpose trunc ' +
    'unpack2x16float unpack2x16snorm unpack2x16unorm unpack4x8snorm unpack4x8unorm workgroupBarrier workgroupUniformLoad ' +
    'atomicLoad atomicStore atomicAdd atomicSub atomicMax atomicMin atomicAnd atomicOr atomicXor atomicExchange ' +
    'atomicCompareExchangeWeak subgroupAdd subgroupMax subgroupMin subgroupBroadcast subgroupShuffle subgroupBallot ' +
    'array atomic bool f16 f32 i32 u32 mat2x2 mat2x3 mat2x4 mat3x2 mat3x3 mat3x4 mat4x2 mat4x3 mat4x4 ptr vec2 vec3 vec4 ' +
    'as do fn if in is of or on to'
  ).split(' '),
);

interface WgslToken {
  text: string;
  /** whitespace or a comment came before it */
  gap: boolean;
  /** written with a space on either side */
  spaced?: boolean;
}

function tokenizeWgsl(code: string): WgslToken[] {
  const out: WgslToken[] = [];
  let gap = false;
  for (let pos = 0; pos < code.length; ) {
    WGSL_TOKEN.lastIndex = pos;
    const m = WGSL_TOKEN.exec(code);
    if (!m) throw new Error(`minifyWgsl: cannot read the WGSL at offset ${pos}`);
    pos = WGSL_TOKEN.lastIndex;
    const t = m[0];
    if (/^\s/.test(t) || t.startsWith('//') || t.startsWith('/*')) gap = true;
    else {
      out.push({ text: t, gap });
      gap = false;
    }
  }
  return out;
}

/** Short names in order: a..z, A..Z, then two letters. */
function* shortNames(): Generator<string> {
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  for (const a of letters) yield a;
  for (const a of letters) for (const b of letters + '0123456789_') yield a + b;
}

/**
 * Renames the shader's own declarations (function-scope constants, functions
 * other than entry points, parameters, let/var locals, workgroup/private
 * variables, struct type names) to short names, most used first. Kept as
 * written: resource bindings, entry points and `override`s (the engine looks
 * them up by name), module-scope constants (wrappers may read them), struct
 * members (declared inside a struct body, used after a `.`), built-ins, and
 * anything a declaration shares a name with among those.
 */
function renameWgsl(tokens: WgslToken[]): void {
  const text = (i: number) => tokens[i]?.text ?? '';
  const declared = new Set<string>();
  const keep = new Set<string>();
  const inStruct = new Array<boolean>(tokens.length).fill(false);
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = text(i);
    if (t === '{') depth++;
    else if (t === '}') depth--;
    if (t === 'const' && depth === 0) {
      // Module-scope constants keep their names and their `const NAME = VALUE;`
      // spelling: wrappers read tile sizes from the shipped code (e.g.
      // kernels/attention.ts reads BLOCK_Q), so they are stated once, in the shader.
      keep.add(text(i + 1));
      for (let j = i + 2; j < tokens.length && text(j) !== ';'; j++) {
        if (text(j) === '=') {
          tokens[j].spaced = true;
          break;
        }
      }
    } else if (t === 'struct' && isIdent(text(i + 1))) {
      declared.add(text(i + 1));
      let j = i + 2;
      if (text(j) === '{') for (let depth = 0; j < tokens.length; j++) {
        if (text(j) === '{') depth++;
        else if (text(j) === '}' && --depth === 0) break;
        else inStruct[j] = true;
      }
    } else if (t === 'const' || t === 'let') declared.add(text(i + 1));
    else if (t === 'override') keep.add(text(i + 1));
    else if (t === 'var') {
      // var<storage, ...> / var<uniform> name: a resource binding; var<workgroup|private|function> or var name: ours
      let j = i + 1;
      let space = '';
      if (text(j) === '<') {
        space = text(j + 1);
        while (j < tokens.length && text(j) !== '>') j++;
        j++;
      }
      (space === 'storage' || space === 'uniform' || space === 'handle' ? keep : declared).add(text(j));
    } else if (t === 'fn' && isIdent(text(i + 1))) {
      // entry points carry @compute / @vertex / @fragment before `fn` (possibly with other attributes between)
      let entry = false;
      for (let j = i - 1; j >= 0 && text(j) !== ';' && text(j) !== '}'; j--) if (['compute', 'vertex', 'fragment'].includes(text(j)) && text(j - 1) === '@') entry = true;
      (entry ? keep : declared).add(text(i + 1));
      // parameters: `name :` at parenthesis depth 1
      let j = i + 2;
      for (let depth = 0; j < tokens.length; j++) {
        if (text(j) === '(') depth++;
        else if (text(j) === ')' && --depth === 0) break;
        else if (depth === 1 && isIdent(text(j)) && text(j + 1) === ':' && text(j - 1) !== '@') declared.add(text(j));
      }
    }
  }
  const renamable = (i: number) => {
    const t = text(i);
    return declared.has(t) && !keep.has(t) && !WGSL_BUILTINS.has(t) && !inStruct[i] && text(i - 1) !== '.';
  };
  const uses = new Map<string, number>();
  const taken = new Set<string>();
  tokens.forEach((tok, i) => {
    if (renamable(i)) uses.set(tok.text, (uses.get(tok.text) ?? 0) + 1);
    else if (isIdent(tok.text)) taken.add(tok.text);
  });
  const names = shortNames();
  const rename = new Map<string, string>();
  for (const [name] of [...uses].sort((a, b) => b[1] - a[1])) {
    let n = names.next().value as string;
    while (taken.has(n) || WGSL_BUILTINS.has(n)) n = names.next().value as string;
    rename.set(name, n);
  }
  // A short name may equal another declaration's old name: renaming happens in one pass over tokens, so that is fine.
  tokens.forEach((tok, i) => {
    if (renamable(i)) tok.text = rename.get(tok.text)!;
  });
}

/**
 * Minifies WGSL for shipping: drops comments, renames the shader's own
 * declarations (renameWgsl) and drops every space that does not separate two
 * words or keep two operators apart. The readable, commented original is the
 * .wgsl file beside this script; reflection runs on both and must agree.
 */
export function minifyWgsl(code: string): string {
  const tokens = tokenizeWgsl(code);
  renameWgsl(tokens);
  let out = '';
  let prev = '';
  for (const { text: t, gap, spaced } of tokens) {
    if (spaced) {
      out += ` ${t} `;
      prev = ' ';
      continue;
    }
    if (gap && prev) {
      const pair = prev.slice(-2) + t.slice(0, 2);
      const words = isWordChar(prev[prev.length - 1]) && isWordChar(t[0]);
      const joins = JOINED_OPERATORS.some((op) => pair.includes(op) && !prev.slice(-2).includes(op) && !t.slice(0, 2).includes(op));
      if (words || joins) out += ' ';
    }
    out += t;
    prev = t;
  }
  return out;
}

// The generated file states each kernel's bindings in one compact string (the
// layout), expanded once at load by `shader` below; the ShaderInfo objects
// are the same as spelling them out, a few hundred bytes smaller in a bundle.
//   binding:  NAME:KIND:NUMBER            KIND r = read-only storage, s = storage
//   uniform:  NAME:u:NUMBER:SIZE:MEMBER/TYPE/OFFSET[/COUNT]:...
// separated by spaces; entries and overrides are space-separated names.
const EXPAND = `const KINDS = { r: 'read-only-storage', s: 'storage', u: 'uniform' } as const;
function shader(name: string, code: string, layout: string, entries: string, overrides: string): ShaderInfo {
  const bindings = layout.split(' ').map((b): BindingInfo => {
    const [n, k, at, size, ...members] = b.split(':');
    const info: BindingInfo = { name: n, group: 0, binding: +at, kind: KINDS[k as keyof typeof KINDS] };
    if (k === 'u') {
      info.size = +size;
      info.members = members.map((m) => {
        const [name, type, offset, count = '1'] = m.split('/');
        return { name, type: type as UniformMember['type'], offset: +offset, count: +count };
      });
    }
    return info;
  });
  return { name, code, bindings, entries: entries.split(' '), overrides: overrides ? overrides.split(' ') : [] };
}`;

/** The compact layout string of a kernel's bindings (see EXPAND). */
export function layoutString(info: ShaderInfo): string {
  return info.bindings
    .map((b) => {
      if (b.kind !== 'uniform') return `${b.name}:${b.kind === 'storage' ? 's' : 'r'}:${b.binding}`;
      const members = b.members!.map((m) => `${m.name}/${m.type}/${m.offset}${m.count > 1 ? `/${m.count}` : ''}`);
      return [b.name, 'u', b.binding, b.size, ...members].join(':');
    })
    .join(' ');
}

/** The kernel's ShaderInfo as shipped: minified WGSL, bindings reflected from it (checked against the original's). */
export function shippedShader(name: string, source: string): ShaderInfo {
  const info = reflectShader(name, minifyWgsl(source));
  const { code: _, ...shipped } = info;
  const { code: __, ...original } = reflectShader(name, source);
  if (JSON.stringify(shipped) !== JSON.stringify(original)) throw new Error(`${name}.wgsl: minifying changed the reflected bindings, entry points or overrides`);
  for (const s of [...info.bindings.map((b) => b.name), ...info.entries, ...info.overrides]) {
    if (!/^\w+$/.test(s)) throw new Error(`${name}.wgsl: name '${s}' cannot go in the compact layout`);
  }
  return info;
}

export function buildShaders(dir = here): string {
  const files = readdirSync(dir).filter((f) => f.endsWith('.wgsl')).sort();
  const out: string[] = [
    '// GENERATED by kernels/build.ts from kernels/*.wgsl: do not edit.',
    "import type { ShaderInfo, BindingInfo, UniformMember } from '../engine/shader.ts';",
    '',
    EXPAND,
    '',
  ];
  for (const f of files) {
    const name = f.replace(/\.wgsl$/, '');
    const ident = name.replace(/[-.](\w)/g, (_, c: string) => c.toUpperCase());
    const info = shippedShader(name, readFileSync(join(dir, f), 'utf8'));
    const args = [name, info.code, layoutString(info), info.entries.join(' '), info.overrides.join(' ')].map((a) => JSON.stringify(a)).join(', ');
    out.push(`export const ${ident}: ShaderInfo = /* @__PURE__ */ shader(${args});`, '');
  }
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const target = join(here, 'shaders.gen.ts');
  const text = buildShaders();
  if (!existsSync(target) || readFileSync(target, 'utf8') !== text) writeFileSync(target, text);
}
