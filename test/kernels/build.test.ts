// kernels/build.ts: the WGSL minifier and the compact generated layout.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { readdirSync, readFileSync } from 'node:fs';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { minifyWgsl, shippedShader, reflectShader } from '../../kernels/build.ts';
import * as generated from '../../kernels/shaders.gen.ts';

const kernels = join(dirname(fileURLToPath(import.meta.url)), '../../kernels');

test('the generated ShaderInfo of every kernel equals the reflection of its shipped code', () => {
  for (const f of readdirSync(kernels).filter((x) => x.endsWith('.wgsl'))) {
    const name = f.replace(/\.wgsl$/, '');
    const expect = shippedShader(name, readFileSync(join(kernels, f), 'utf8'));
    const got = (generated as Record<string, unknown>)[name];
    assert.equal(got, expect, name);
  }
});

test('minifying keeps operators apart, templates closed and module constants readable', () => {
  const src = `// a comment
const BLOCK = 64u;   // trailing
struct P { n: u32, scale: f32, }
@group(0) @binding(0) var<storage, read> x: array<f32>;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<uniform> params: P;
var<workgroup> tile: array<f32, BLOCK>;
fn helper(value: f32, n: u32) -> f32 { let twice = value * 2.0; return twice - -value + f32(n); }
@compute @workgroup_size(BLOCK)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
  let n = params.n;
  var acc: array<f32, 2> = array<f32, 2>(1e-3, 2.5e+2);
  if (gid.x >= n) { return; }
  tile[gid.x % BLOCK] = x[gid.x];
  y[gid.x] = helper(tile[gid.x % BLOCK], n) * params.scale + acc[0];
}`;
  const min = minifyWgsl(src);
  assert.ok(!min.includes('//'), 'comments dropped');
  assert.ok(min.includes('const BLOCK = 64u;'), 'module constant kept as written');
  assert.ok(min.includes('- -') || min.includes('-(-'), `a - -b stays two operators: ${min}`);
  assert.ok(min.includes('array<f32,2> ='), `a template's > stays apart from =: ${min}`);
  assert.ok(min.includes('1e-3') && min.includes('2.5e+2'), 'number literals intact');
  assert.ok(/struct \w+\{n:u32,scale:f32,\}/.test(min), `struct members keep their names: ${min}`);
  assert.ok(min.includes('params.n') && min.includes('params.scale'), 'member accesses kept');
  assert.ok(!/\bhelper\b|\btwice\b|\btile\b/.test(min), `own declarations renamed: ${min}`);
  assert.ok(/fn main\(/.test(min) && min.includes('global_invocation_id'), 'entry point and builtins kept');
  const a = reflectShader('t', src);
  const b = reflectShader('t', min);
  assert.equal({ ...b, code: '' }, { ...a, code: '' }, 'same bindings, entries and uniform layout');
});

test.run();
