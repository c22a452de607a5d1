// The WGSL minifier of the build step (kernels/build.ts): what ships in a
// bundle is each kernel's code with the comments, the spaces and the long
// names gone. The readable, commented original is the .wgsl file; the build
// reflects both and checks they agree (same bindings by number, same uniform
// layout by offset, same entry points and overrides).
//
// What keeps its name, and why:
//   - entry points and `override`s: the engine names them when it builds a
//     pipeline (entryPoint, constants);
//   - module-scope constants listed in `keepConsts`: a wrapper reads them
//     from the shipped code (e.g. kernels/attention.ts reads BLOCK_Q); they
//     also keep their `const NAME = VALUE;` spelling;
//   - built-in functions, types, keywords, attributes and swizzles.
// A module constant that is a plain number is written into its uses where
// that is shorter (flags used once or twice); the rest keep a short name.
// Everything else is renamed: functions, parameters, locals, workgroup and
// private variables, struct types, module constants, the resource bindings
// (the engine binds by number; the generated metadata keeps each binding's
// WGSL name for the dispatch arguments) and uniform struct members (the
// engine packs uniforms by the reflected offsets; the metadata keeps the
// member names).

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
// the built-in), address spaces and access modes, and its short reserved words.
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
    'function private workgroup uniform storage handle read write read_write ' +
    'as do fn if in is of or on to'
  ).split(' '),
);

/** Member names a `.name` may mean without any struct of ours: swizzles and the built-in result structs' fields. */
const FOREIGN_MEMBER = /^([xyzw]{1,4}|[rgba]{1,4}|fract|exp|whole|old_value|exchanged)$/;

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

/** Short names in order: a..z, A..Z, then two characters. */
function* shortNames(): Generator<string> {
  const letters = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
  for (const a of letters) yield a;
  for (const a of letters) for (const b of letters + '0123456789_') yield a + b;
}

/**
 * Short names for `counts`' keys, skipping `taken` and the built-ins: most
 * used first, or with `inOrder` in the order first seen (the keys' insertion
 * order) where they all get one letter anyway, so that every shader's uniform
 * struct reads `{a:u32,b:u32,...` and gzip finds the repeats across shaders.
 */
function assignNames(counts: Map<string, number>, taken: ReadonlySet<string>, inOrder = false): Map<string, string> {
  const names = shortNames();
  const out = new Map<string, string>();
  const oneLetter = 52 - [...taken, ...WGSL_BUILTINS].filter((n) => n.length === 1).length;
  const order = inOrder && counts.size <= oneLetter ? [...counts] : [...counts].sort((a, b) => b[1] - a[1]);
  for (const [name] of order) {
    let n = names.next().value as string;
    while (taken.has(n) || WGSL_BUILTINS.has(n)) n = names.next().value as string;
    out.set(name, n);
  }
  return out;
}

/** Which names of a shader are its own (renamable), which are kept, and where struct members are declared. */
function classify(tokens: WgslToken[], keepConsts: ReadonlySet<string>) {
  const text = (i: number) => tokens[i]?.text ?? '';
  const declared = new Set<string>();
  const keep = new Set<string>();
  const members = new Set<string>();
  /** token i declares a struct member (`name :` inside a struct body) */
  const memberDecl = new Array<boolean>(tokens.length).fill(false);
  /** token i is part of an attribute (`@name(...)`) or a `var<...>` template: never renamed */
  const fixed = new Array<boolean>(tokens.length).fill(false);
  let depth = 0;
  for (let i = 0; i < tokens.length; i++) {
    const t = text(i);
    if (t === '@') {
      // the attribute's name; for @builtin(...) and the like also its arguments
      // (@workgroup_size's are expressions over our own constants)
      fixed[i + 1] = true;
      if (text(i + 1) !== 'workgroup_size' && text(i + 2) === '(') for (let j = i + 2; j < tokens.length && text(j) !== ')'; j++) fixed[j] = true;
    }
    if (t === '{') depth++;
    else if (t === '}') depth--;
    if (t === 'const' && depth === 0) {
      const name = text(i + 1);
      if (keepConsts.has(name)) {
        // `const NAME = VALUE;` as written: wrappers read the value with a regex
        keep.add(name);
        for (let j = i + 2; j < tokens.length && text(j) !== ';'; j++) {
          if (text(j) === '=') {
            tokens[j].spaced = true;
            break;
          }
        }
      } else declared.add(name);
    } else if (t === 'struct' && isIdent(text(i + 1))) {
      declared.add(text(i + 1));
      let j = i + 2;
      if (text(j) === '{') for (let d = 0; j < tokens.length; j++) {
        if (text(j) === '{') d++;
        else if (text(j) === '}' && --d === 0) break;
        else if (d === 1 && isIdent(text(j)) && text(j + 1) === ':' && text(j - 1) !== '@' && !fixed[j]) {
          memberDecl[j] = true;
          members.add(text(j));
        }
      }
    } else if (t === 'const' || t === 'let') declared.add(text(i + 1));
    else if (t === 'override') keep.add(text(i + 1));
    else if (t === 'var') {
      // var<space, access> name, or var name
      let j = i + 1;
      if (text(j) === '<') {
        while (j < tokens.length && text(j) !== '>') fixed[j++] = true;
        j++;
      }
      declared.add(text(j));
    } else if (t === 'fn' && isIdent(text(i + 1))) {
      // entry points carry @compute / @vertex / @fragment before `fn` (possibly with other attributes between)
      let entry = false;
      for (let j = i - 1; j >= 0 && text(j) !== ';' && text(j) !== '}'; j--) if (['compute', 'vertex', 'fragment'].includes(text(j)) && text(j - 1) === '@') entry = true;
      (entry ? keep : declared).add(text(i + 1));
      // parameters: `name :` at parenthesis depth 1
      let j = i + 2;
      for (let d = 0; j < tokens.length; j++) {
        if (text(j) === '(') d++;
        else if (text(j) === ')' && --d === 0) break;
        else if (d === 1 && isIdent(text(j)) && text(j + 1) === ':' && !fixed[j]) declared.add(text(j));
      }
    }
  }
  for (const m of members) if (FOREIGN_MEMBER.test(m)) members.delete(m);
  return { declared, keep, members, memberDecl, fixed };
}

/**
 * Renames the shader's own names to short ones, most used first (see the
 * header for what keeps its name). Struct members get their own short names:
 * a member is only ever written after `.` or in its struct's body, so it
 * cannot clash with a variable.
 */
function renameWgsl(tokens: WgslToken[], keepConsts: ReadonlySet<string>): void {
  const text = (i: number) => tokens[i]?.text ?? '';
  const { declared, keep, members, memberDecl, fixed } = classify(tokens, keepConsts);
  const isMember = (i: number) => members.has(text(i)) && (memberDecl[i] || text(i - 1) === '.');
  const renamable = (i: number) => {
    const t = text(i);
    return declared.has(t) && !keep.has(t) && !WGSL_BUILTINS.has(t) && !fixed[i] && !memberDecl[i] && text(i - 1) !== '.';
  };
  const uses = new Map<string, number>();
  const memberUses = new Map<string, number>();
  const taken = new Set<string>();
  const memberTaken = new Set<string>();
  tokens.forEach((tok, i) => {
    if (!isIdent(tok.text)) return;
    if (isMember(i)) memberUses.set(tok.text, (memberUses.get(tok.text) ?? 0) + 1);
    else if (renamable(i)) uses.set(tok.text, (uses.get(tok.text) ?? 0) + 1);
    else if (text(i - 1) === '.') memberTaken.add(tok.text);
    else taken.add(tok.text);
  });
  const rename = assignNames(uses, taken);
  // A member's new name must not be a swizzle or a kept member name (a `.x` could then mean either).
  const memberRename = assignNames(memberUses, new Set([...memberTaken, ...'xyzwrgba']), true);
  // A short name may equal another declaration's old name: renaming happens in one pass over tokens, so that is fine.
  tokens.forEach((tok, i) => {
    if (isMember(i)) tok.text = memberRename.get(tok.text)!;
    else if (renamable(i)) tok.text = rename.get(tok.text)!;
  });
}

/**
 * Writes a module-scope `const NAME = LITERAL;` (a plain non-negative number,
 * not one of `keepConsts`) into its uses and drops the declaration, where that
 * is shorter: the flag constants, used once or twice, go; a tile size used
 * twenty times keeps its one-letter name. Skipped for a name also declared
 * elsewhere (a local of the same name) or written as a member.
 */
function inlineConsts(tokens: WgslToken[], keepConsts: ReadonlySet<string>): void {
  const text = (i: number) => tokens[i]?.text ?? '';
  let depth = 0;
  const found: { name: string; value: string; at: number }[] = [];
  tokens.forEach((tok, i) => {
    if (tok.text === '{') depth++;
    else if (tok.text === '}') depth--;
    else if (depth === 0 && tok.text === 'const' && text(i + 2) === '=' && /^\d[\w.]*$/.test(text(i + 3)) && text(i + 4) === ';' && !keepConsts.has(text(i + 1))) {
      found.push({ name: text(i + 1), value: text(i + 3), at: i });
    }
  });
  // Members (after `.`, or declared in a struct body) have names of their own: never a use.
  const member = (i: number) => {
    if (text(i - 1) === '.') return true;
    for (let j = i - 1, d = 0; j >= 0; j--) {
      if (text(j) === '}') d++;
      else if (text(j) === '{' && d-- === 0) return text(j - 2) === 'struct';
    }
    return false;
  };
  for (const { name, value } of found) {
    const at = tokens.findIndex((t, i) => t.text === 'const' && text(i + 1) === name);
    const uses: number[] = [];
    let other = false;
    tokens.forEach((t, i) => {
      if (t.text !== name || i === at + 1 || member(i)) return;
      if (['const', 'let', 'var', 'fn', 'struct', 'override'].includes(text(i - 1)) || text(i + 1) === ':') other = true;
      uses.push(i);
    });
    if (other || uses.length * (name.length - value.length) + name.length + value.length + 8 <= 0) continue;
    for (const i of uses) tokens[i].text = value;
    tokens.splice(at, 5);
  }
}

/** `1.0` -> `1.`, `0.50` -> `.5`, `3.0e38` -> `3.e38`: the same WGSL float literal, shorter. */
function shortNumber(t: string): string {
  const m = /^(\d+)\.(\d*)(.*)$/.exec(t);
  if (!m) return t;
  const [, whole, frac, rest] = m;
  const f = frac.replace(/0+$/, '');
  if (whole === '0' && f) return `.${f}${rest}`;
  return `${whole}.${f}${rest}`;
}

/**
 * Minifies WGSL for shipping: drops comments, renames (see the header),
 * writes `var<storage, read>` as `var<storage>` (read is the default access)
 * and `vec4<f32>` as `vec4f`,
 * shortens float literals and drops every space that does not separate two
 * words or keep two operators apart.
 */
export function minifyWgsl(code: string, keepConsts: ReadonlySet<string> = new Set()): string {
  const tokens = tokenizeWgsl(code);
  renameWgsl(tokens, keepConsts);
  inlineConsts(tokens, keepConsts);
  let inStruct = false;
  for (let i = 0; i + 3 < tokens.length; i++) {
    const [a, b, c] = [tokens[i + 1].text, tokens[i + 2].text, tokens[i + 3].text];
    if (tokens[i].text === 'struct') inStruct = true;
    else if (tokens[i].text === '}') inStruct = false;
    if (tokens[i].text === '<' && a === 'storage' && b === ',' && c === 'read') tokens.splice(i + 2, 2);
    // vec4<f32> -> vec4f: WGSL's predeclared aliases (`>>` closes two templates: keep one `>`);
    // not in struct bodies, which the build's reflection (wgsl_reflect) must read as written
    if (!inStruct && /^vec[234]$/.test(tokens[i].text) && a === '<' && /^[fiu]32$/.test(b) && (c === '>' || c === '>>')) {
      tokens[i].text += b[0];
      if (c === '>') tokens.splice(i + 1, 3);
      else tokens.splice(i + 1, 3, { text: '>', gap: false });
    }
  }
  let out = '';
  let prev = '';
  for (const tok of tokens) {
    const t = /^\d/.test(tok.text) ? shortNumber(tok.text) : tok.text;
    if (tok.spaced) {
      out += ` ${t} `;
      prev = ' ';
      continue;
    }
    if (tok.gap && prev) {
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
