// Build step: turns every kernels/*.wgsl file into a typed entry of
// kernels/shaders.gen.ts (its source text plus the bindings reflected from it
// with wgsl_reflect), so a kernel's bindings are declared once, in its WGSL,
// and the reflection library never reaches a browser bundle. It also writes
// kernels/ladder/ladder.gen.ts, the kernel ladders' own rungs (buildLadder),
// which only the ladder harness and the demo's Kernels tab import.
//
// Run by `npm run gen`, by `npm test` and by npm's `prepare` on install.
//
// Kernels in ON_DEMAND serve optional features (an optional subpath, such as
// perceiver-io-webgpu/maps, or a chunk loaded with import()): each is
// generated into a module of its own, kernels/NAME.gen.ts, so that its code
// lands only in the bundle or chunk of the code that imports it (shaders.gen.ts
// is shared by every task and would carry it into all of them).

import { readdirSync, readFileSync, writeFileSync, existsSync, statSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WgslReflect } from 'wgsl_reflect/wgsl_reflect.module.js';
import { shaderInfo, type ShaderInfo, type BindingInfo, type UniformMember } from '../engine/shader.ts';
import { minifyWgsl } from './minify.ts';

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
    bindings.push({ name: s.name, group: s.group, binding: s.binding, kind: s.access === 'read_write' ? 'storage' : 'read-only-storage' });  // storage's default access is read
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

/**
 * The compact layout string of a kernel's bindings, as engine/shader.ts's
 * shaderInfo reads it (binding numbers, member offsets and the uniform's size
 * implied); checked to expand to exactly the reflected bindings.
 */
export function layoutString(info: ShaderInfo): string {
  const layout = info.bindings
    .map((b) => {
      if (b.kind !== 'uniform') return `${b.name}:${b.kind === 'storage' ? 's' : 'r'}`;
      const members = b.members!.map((m) => [m.name, ...(m.count > 1 ? [m.type, m.count] : m.type !== 'u32' ? [m.type] : [])].join('/'));
      return [b.name, 'u', ...members].join(':');
    })
    .join(' ');
  const back = shaderInfo(info.name, info.code, layout, info.entries.join(' '), info.overrides.join(' '));
  if (JSON.stringify(back) !== JSON.stringify(info)) {
    throw new Error(`${info.name}.wgsl: the compact layout cannot state these bindings (they must be numbered 0, 1, 2, ... and the uniform laid out by WGSL's rules, no @size/@align)`);
  }
  return layout;
}

/**
 * Module constants a wrapper reads from the shipped code: those whose name a
 * kernels/*.ts or engine/*.ts file spells as a string literal ('BLOCK_Q').
 * They keep their names (kernels/minify.ts); the rest are renamed.
 */
export function constsReadByWrappers(dir = here): Set<string> {
  const names = new Set<string>();
  for (const d of [dir, join(dir, '../engine')]) {
    for (const f of readdirSync(d).filter((x) => x.endsWith('.ts') && !x.endsWith('.gen.ts'))) {
      for (const m of readFileSync(join(d, f), 'utf8').matchAll(/['"`]([A-Z][A-Z0-9_]*)['"`]/g)) names.add(m[1]);
    }
  }
  return names;
}

/** What reflection says of a shader, without the names minifying changes (bindings by number, members by offset). */
function structure(info: ShaderInfo): unknown {
  return {
    bindings: info.bindings.map((b) => ({ ...b, name: undefined, members: b.members?.map((m) => ({ ...m, name: undefined })) })),
    entries: info.entries,
    overrides: info.overrides,
  };
}

/**
 * The kernel's ShaderInfo as shipped: minified WGSL with the binding and
 * uniform member names of the original (the engine matches dispatch
 * arguments by those names; minifying renames them in the code, where only
 * binding numbers and offsets matter). Reflection of the shipped code must
 * agree with the original's in everything but those names.
 */
export function shippedShader(name: string, source: string, keepConsts: ReadonlySet<string> = constsReadByWrappers(), code = minifyWgsl(source, keepConsts)): ShaderInfo {
  const original = reflectShader(name, source);
  const shipped = reflectShader(name, code);
  if (JSON.stringify(structure(shipped)) !== JSON.stringify(structure(original))) {
    throw new Error(`${name}.wgsl: minifying changed the reflected bindings, uniform layout, entry points or overrides`);
  }
  for (const s of [...original.bindings.map((b) => b.name), ...original.entries, ...original.overrides]) {
    if (!/^\w+$/.test(s)) throw new Error(`${name}.wgsl: name '${s}' cannot go in the compact layout`);
  }
  return { ...original, code };
}

// Variants. `NAME.VARIANT.wgsl` extends NAME.wgsl with entry points that need
// a WGSL extension (e.g. `enable subgroups;`), which a module that every
// adapter must compile cannot carry. The variant's module is its leading
// directives, then NAME.wgsl, then the rest of the variant file. Base and
// variants are minified as one text (one renaming) and cut apart again, so
// the generated file states the base's code once and each variant as
// directives + base code + its own part: a bundle carries the base once.
const LEADING_DIRECTIVES = /^(?:\s+|\/\/[^\n]*)*((?:(?:enable|requires|diagnostic)\b[^;]*;\s*)+)/;
const VARIANT_CUT = 'VARIANT_CUT';

export interface ShippedKernel {
  info: ShaderInfo;
  /** variants only: the shipped code is directives + base code + own */
  parts?: { base: string; directives: string; own: string };
}

/** The shipped ShaderInfo of NAME.wgsl and of its variants (`[file name, source]`), base first. */
export function shippedFamily(name: string, source: string, variants: [string, string][], keepConsts: ReadonlySet<string> = constsReadByWrappers()): ShippedKernel[] {
  if (variants.length === 0) return [{ info: shippedShader(name, source, keepConsts) }];
  const split = variants.map(([vname, vsource]) => {
    const m = LEADING_DIRECTIVES.exec(vsource);
    if (!m) throw new Error(`${vname}.wgsl: a variant of ${name}.wgsl opens with its directives (enable ...;)`);
    return { vname, vsource, directives: minifyWgsl(m[1]), own: vsource.slice(m[0].length) };
  });
  const cut = `const ${VARIANT_CUT} = 0u;`;
  const joint = minifyWgsl([source, ...split.map((v) => v.own)].join(`\n${cut}\n`), new Set([...keepConsts, VARIANT_CUT]));
  const pieces = joint.split(cut);
  if (pieces.length !== split.length + 1) throw new Error(`${name}.wgsl: cannot cut the minified variants apart`);
  const base = pieces[0];
  return [
    { info: shippedShader(name, source, keepConsts, base) },
    ...split.map(({ vname, vsource, directives, own }, i) => {
      const original = vsource.slice(0, vsource.length - own.length) + '\n' + source + '\n' + own;
      const parts = { base, directives, own: pieces[i + 1] };
      return { info: shippedShader(vname, original, keepConsts, directives + base + parts.own), parts };
    }),
  ];
}

/** Every kernel as shipped, by the name its export has in shaders.gen.ts. */
export function shippedShaders(dir = here): Map<string, ShippedKernel> {
  const files = readdirSync(dir).filter((f) => f.endsWith('.wgsl')).map((f) => f.replace(/\.wgsl$/, '')).sort();
  const keepConsts = constsReadByWrappers(dir);
  const read = (name: string) => readFileSync(join(dir, `${name}.wgsl`), 'utf8');
  const out = new Map<string, ShippedKernel>();
  for (const name of files.filter((f) => !f.includes('.'))) {
    const variants = files.filter((f) => f.startsWith(`${name}.`)).map((f): [string, string] => [f, read(f)]);
    for (const k of shippedFamily(name, read(name), variants, keepConsts)) out.set(k.info.name.replace(/[-.](\w)/g, (_, c: string) => c.toUpperCase()), k);
  }
  for (const f of files) if (f.includes('.') && !files.includes(f.slice(0, f.indexOf('.')))) throw new Error(`${f}.wgsl: no ${f.slice(0, f.indexOf('.'))}.wgsl to extend`);
  return out;
}

/** Kernels generated into their own module kernels/NAME.gen.ts (see the header). */
export const ON_DEMAND: ReadonlySet<string> = new Set(['attention_maps']);

/** A generated module's export of one kernel: its ShaderInfo, with `code` a TypeScript expression giving the source. */
function shaderExport(ident: string, info: ShaderInfo, code: string): string {
  const args = [JSON.stringify(info.name), code, ...[layoutString(info), info.entries.join(' '), info.overrides.join(' ')].map((a) => JSON.stringify(a))].join(', ');
  return `export const ${ident}: ShaderInfo = /* @__PURE__ */ shader(${args});`;
}

/**
 * The text of kernels/shaders.gen.ts (every kernel but the on-demand ones),
 * or with `only`, of kernels/ONLY.gen.ts; `shipped`: shippedShaders(dir),
 * when the caller has it already.
 */
export function buildShaders(dir = here, only?: string, shipped = shippedShaders(dir)): string {
  const out: string[] = [
    `// GENERATED by kernels/build.ts from kernels/${only ?? '*'}.wgsl: do not edit.`,
    "import { shaderInfo as shader, type ShaderInfo } from '../engine/shader.ts';",
    '',
  ];
  const kernels = new Map([...shipped].filter(([ident]) => (only === undefined ? !ON_DEMAND.has(ident) : ident === only)));
  const extended = new Set([...kernels.values()].map((k) => k.parts?.base));
  const baseConst = new Map<string, string>(); // a base's code -> the const holding it
  for (const [ident, { info, parts }] of kernels) {
    let code = JSON.stringify(info.code);
    if (extended.has(info.code)) {
      baseConst.set(info.code, `${ident}Code`);
      out.push(`const ${ident}Code = ${code};`);
      code = `${ident}Code`;
    } else if (parts) code = `${JSON.stringify(parts.directives)} + ${baseConst.get(parts.base)} + ${JSON.stringify(parts.own)}`;
    out.push(shaderExport(ident, info, code), '');
  }
  return out.join('\n');
}

/** The shipped kernels the ladders end with, whose sources the ladder module carries for display. */
const LADDER_SHIPPED_SOURCES = ['attention.wgsl', 'attention.subgroups.wgsl', 'matmul.wgsl'];

/**
 * kernels/ladder/ladder.gen.ts: the kernel ladders' own rungs
 * (kernels/ladder/KERNEL/N_NAME.wgsl), unminified (they are read as well as
 * run), and the sources of every rung as text, the shipped kernels' included,
 * for the demo's Kernels tab. Only kernels/ladder/rungs.ts imports it, so no
 * shipped bundle carries it (shaders.gen.ts holds the shipped kernels alone).
 */
export function buildLadder(dir = here): string {
  const ladder = join(dir, 'ladder');
  const out: string[] = [
    '// GENERATED by kernels/build.ts from kernels/ladder/*/*.wgsl: do not edit.',
    "import { shaderInfo as shader, type ShaderInfo } from '../../engine/shader.ts';",
    '',
  ];
  const sources: [string, string][] = [];
  for (const kernel of readdirSync(ladder).filter((f) => statSync(join(ladder, f)).isDirectory()).sort()) {
    for (const f of readdirSync(join(ladder, kernel)).filter((x) => x.endsWith('.wgsl')).sort()) {
      const code = readFileSync(join(ladder, kernel, f), 'utf8');
      const name = `ladder_${kernel}_${f.replace(/\.wgsl$/, '')}`;
      if (!/^\w+$/.test(name)) throw new Error(`kernels/ladder/${kernel}/${f}: the name must be letters, digits and _`);
      out.push(shaderExport(name, reflectShader(name, code), JSON.stringify(code)), '');
      sources.push([`kernels/ladder/${kernel}/${f}`, `${name}.code`]);
    }
  }
  for (const f of LADDER_SHIPPED_SOURCES) sources.push([`kernels/${f}`, JSON.stringify(readFileSync(join(dir, f), 'utf8'))]);
  out.push('/** Every rung\'s WGSL source by its path in the repository (the shipped kernels unminified). */');
  out.push(`export const LADDER_SOURCES: Record<string, string> = {\n${sources.map(([k, v]) => `  ${JSON.stringify(k)}: ${v},`).join('\n')}\n};`, '');
  return out.join('\n');
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const shipped = shippedShaders(); // (reflected and minified once for every module)
  const outputs = [
    ['shaders.gen.ts', buildShaders(here, undefined, shipped)],
    ...[...ON_DEMAND].map((k) => [`${k}.gen.ts`, buildShaders(here, k, shipped)]),
    ['ladder/ladder.gen.ts', buildLadder()],
  ];
  for (const [file, text] of outputs) {
    const target = join(here, file);
    if (!existsSync(target) || readFileSync(target, 'utf8') !== text) writeFileSync(target, text);
  }
}
