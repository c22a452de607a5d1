import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { testGpu, randn } from '../gpu.ts';
import { upload, empty, read, readF32 } from '../../engine/index.ts';
import { reflectShader } from '../../kernels/build.ts';
import { elementwise } from '../../kernels/shaders.gen.ts';

// The elementwise kernel's uniform, for out = a + b over n elements.
const sum = (n: number) => ({ n, e0: 0, nb: n, b_start: 0, a_off: 0, b_off: 0, out_off: 0, has_b: 1, alpha: 0 });
const PER_WORKGROUP = 256 * 16;

test('dispatch binds tensors by reflected name and packs the uniform', async () => {
  const gpu = await testGpu();
  const n = 1000;
  const a = randn(n, 1), b = randn(n, 2);
  const ta = upload(gpu, a, [n]), tb = upload(gpu, b, [n]), out = empty(gpu, [n]);
  await gpu.sync();
  const d0 = gpu.dispatchCount, s0 = gpu.submitCount;
  gpu.dispatch(elementwise, { a: ta, b: tb, out, params: sum(n) }, Math.ceil(n / PER_WORKGROUP));
  gpu.dispatch(elementwise, { a: ta, b: tb, out, params: sum(n) }, Math.ceil(n / PER_WORKGROUP));
  assert.is(gpu.dispatchCount - d0, 2, 'two launches recorded');
  assert.is(gpu.submitCount - s0, 0, 'nothing submitted while recording');
  const r = await readF32(out); // submits the recorded work and the copy back as one command buffer
  assert.is(gpu.submitCount - s0, 1);
  for (let i = 0; i < n; i++) assert.ok(Math.abs(r[i] - (a[i] + b[i])) < 1e-6);
  [ta, tb, out].forEach((t) => t.dispose());
});

test('a missing binding or uniform member is an error naming it', async () => {
  const gpu = await testGpu();
  const t = upload(gpu, [1, 2], [2]);
  assert.throws(() => gpu.dispatch(elementwise, { a: t, out: t, params: sum(2) }, 1), /missing argument for binding 'b'/);
  assert.throws(() => gpu.dispatch(elementwise, { a: t, b: t, out: t, params: {} }, 1), /needs a value for 'n'/);
  assert.throws(() => gpu.dispatch(elementwise, { a: t, b: t, out: t, params: { ...sum(2), bogus: 1 } }, 1), /has no member 'bogus'/);
  t.dispose();
});

// A test kernel with one invocation per workgroup that records its flat
// workgroup index, so every workgroup of a folded grid can be checked.
const flatIndex = reflectShader(
  'flat_index',
  `struct Params { n: u32, grid_x: u32 }
   @group(0) @binding(0) var<storage, read_write> out: array<u32>;
   @group(0) @binding(1) var<uniform> params: Params;
   @compute @workgroup_size(1)
   fn main(@builtin(workgroup_id) wid: vec3<u32>) {
     let i = wid.x + wid.y * params.grid_x;
     if (i >= params.n) { return; }
     out[i] = i + 1u;
   }`,
);

test('a grid over maxComputeWorkgroupsPerDimension is folded through grid_x', async () => {
  const gpu = await testGpu();
  const n = gpu.limits.maxComputeWorkgroupsPerDimension + 3;
  const out = empty(gpu, [n], 'u32');
  gpu.dispatch(flatIndex, { out, params: { n } }, n);
  const r = await read(out);
  for (let i = 0; i < n; i++) if (r[i] !== i + 1) assert.unreachable(`workgroup ${i} wrote ${r[i]}`);
  out.dispose();
});

test('a 3-D grid over the limit is refused, naming the kernel', async () => {
  const gpu = await testGpu();
  const out = empty(gpu, [4], 'u32');
  assert.throws(() => gpu.dispatch(flatIndex, { out, params: { n: 4 } }, [gpu.limits.maxComputeWorkgroupsPerDimension + 1, 1, 1]), /flat_index.*workgroups along x/);
  out.dispose();
});

test('a binding over maxStorageBufferBindingSize is refused before sending', async () => {
  const gpu = await testGpu();
  const n = gpu.limits.maxStorageBufferBindingSize / 4 + 64;
  const big = empty(gpu, [n]);
  assert.throws(() => gpu.dispatch(elementwise, { a: big, b: big, out: big, params: sum(n) }, 1), /maxStorageBufferBindingSize/);
  big.dispose();
});

test.run();
