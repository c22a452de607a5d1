// kernels/build.ts and kernels/minify.ts: the WGSL minifier and the compact generated layout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shippedShaders, reflectShader, constsReadByWrappers, ON_DEMAND } from '../../kernels/build.ts';
import { minifyWgsl } from '../../kernels/minify.ts';
import * as mainGen from '../../kernels/shaders.gen.ts';
import * as attentionMapsGen from '../../kernels/attention_maps.gen.ts';

/** Every generated ShaderInfo: shaders.gen.ts and the on-demand kernels' own modules. */
const generated = { ...mainGen, ...attentionMapsGen };

const kernels = join(dirname(fileURLToPath(import.meta.url)), '../../kernels');

test('the generated ShaderInfo of every kernel equals the reflection of its shipped code', () => {
  const shipped = shippedShaders(kernels);
  assert.equal(shipped.size, readdirSync(kernels).filter((x) => x.endsWith('.wgsl')).length, 'one kernel per .wgsl file');
  for (const [ident, { info }] of shipped) assert.equal((generated as Record<string, unknown>)[ident], info, ident);
});

test('on-demand kernels are generated into their own module only', () => {
  assert.equal([...ON_DEMAND], Object.keys(attentionMapsGen));
  for (const k of ON_DEMAND) assert.not.ok(k in mainGen, `${k} also in shaders.gen.ts`);
});

test('a variant (NAME.VARIANT.wgsl) ships as its directives + the base code + its own part', () => {
  const { attention, attentionSubgroups } = generated;
  assert.ok(attentionSubgroups.code.startsWith('enable subgroups;'), attentionSubgroups.code.slice(0, 60));
  assert.ok(attentionSubgroups.code.includes(attention.code), 'the base code, as shipped, inside the variant');
  assert.ok(!attention.code.includes('subgroup'), 'no subgroup code in the base');
  assert.equal(attentionSubgroups.bindings, attention.bindings);
  assert.equal(attentionSubgroups.entries, ['main', 'main_subgroups']);
});

test('minifying keeps operators apart, templates closed and the constants wrappers read', () => {
  const src = `// a comment
const BLOCK = 64u;   // trailing
const HALF = 32u;
struct P { n: u32, scale: f32, dims: vec2<u32>, }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: P;
var<workgroup> tile: array<f32, BLOCK>;
fn helper(value: f32, n: u32) -> f32 { let twice = value * 2.0; return twice - -value + f32(n) * 0.50; }
@compute @workgroup_size(HALF, 2)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = params.n + params.dims.x;
  var acc: array<f32, 2> = array<f32, 2>(1e-3, 2.5e+2);
  if (gid.x >= n) { return; }
  tile[gid.x % BLOCK] = x[gid.x];
  y[gid.x] = helper(tile[gid.x % BLOCK], n) * params.scale + acc[0] + 3.0e2;
}`;
  const min = minifyWgsl(src, new Set(['BLOCK']));
  assert.ok(!min.includes('//'), 'comments dropped');
  assert.ok(min.includes('const BLOCK = 64u;'), 'a constant a wrapper reads is kept as written');
  assert.ok(!/\bHALF\b/.test(min), `other constants renamed, in @workgroup_size too: ${min}`);
  assert.ok(min.includes('- -') || min.includes('-(-'), `a - -b stays two operators: ${min}`);
  assert.ok(min.includes('array<f32,2> ='), `a template's > stays apart from =: ${min}`);
  assert.ok(min.includes('1e-3') && min.includes('2.5e+2') && min.includes('*.5') && min.includes('+3.e2') && min.includes('*2.'), `number literals: ${min}`);
  assert.ok(!/\b(scale|dims|params|helper|twice|tile|value)\b/.test(min), `own names renamed (members, bindings, functions, locals): ${min}`);
  assert.ok(/\.\w\.x\b/.test(min), `a swizzle after a renamed member stays: ${min}`);
  assert.ok(min.includes('var<storage>') && min.includes('var<storage,read_write>'), `read is the default access: ${min}`);
  assert.ok(/fn main\(/.test(min) && min.includes('global_invocation_id'), 'entry point and builtins kept');
  const a = reflectShader('t', src);
  const b = reflectShader('t', min);
  const anon = (s: typeof a) => ({ ...s, code: '', bindings: s.bindings.map((x) => ({ ...x, name: '', members: x.members?.map((m) => ({ ...m, name: '' })) })) });
  assert.equal(anon(b), anon(a), 'same bindings (by number), entries and uniform layout (by offset)');
});

test('minifying writes a once-used constant into its use, vec3<u32> as vec3u (not in structs), members in declaration order', () => {
  const src = `const FLAG = 32u;
const BIG = 3.0e38;
const SHADOWED = 4u;
struct P { first: u32, second: u32, dims: vec2<u32>, }
@group(0) @binding(0) var<storage, read_write> y: array<f32>;
@group(0) @binding(1) var<uniform> params: P;
fn f(v: f32) -> f32 { return v + BIG + BIG + BIG + BIG + BIG + BIG; }
fn g() -> u32 { let SHADOWED = 2u; return SHADOWED; }
@compute @workgroup_size(8)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  if ((params.second & FLAG) != 0u) { y[gid.x] = f(vec4<f32>(1.0).x) + f32(g() + SHADOWED + params.first + params.dims.x); }
}`;
  const min = minifyWgsl(src);
  assert.ok(min.includes('&32u)'), `a constant used once is written in: ${min}`);
  assert.ok(/const \w=3\.e38;/.test(min), `a long literal used often keeps its name: ${min}`);
  assert.ok(/const \w=4u;/.test(min), `a name a local also declares is not written in: ${min}`);
  assert.ok(min.includes('vec3u') && min.includes('vec4f(') && min.includes('vec2<u32>'), `aliases outside structs only: ${min}`);
  assert.match(min, /struct \w\{(\w):u32,(\w):u32,/, 'members');
  const [, m1, m2] = /struct \w\{(\w):u32,(\w):u32,/.exec(min)!;
  assert.ok(m1 < m2, `members named in declaration order: ${min}`);
  const anon = (s: ReturnType<typeof reflectShader>) => ({ ...s, code: '', bindings: s.bindings.map((x) => ({ ...x, name: '', members: x.members?.map((m) => ({ ...m, name: '' })) })) });
  assert.equal(anon(reflectShader('t', min)), anon(reflectShader('t', src)), 'same bindings, entries and uniform layout');
});

test('the constants wrappers read keep their names in the shipped code', () => {
  const keep = constsReadByWrappers();
  for (const [shader, name] of [['attention', 'BLOCK_Q'], ['matmul', 'TILE_M']]) {
    assert.ok(keep.has(name), name);
    const code = ((generated as Record<string, { code: string }>)[shader]).code;
    assert.match(code, new RegExp(`const ${name} = \\d+u;`), `${shader}: ${name}`);
  }
});

test.run();
