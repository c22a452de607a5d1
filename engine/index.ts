// The tensor engine: an explicit device, tensors on GPU buffers, a buffer
// pool, a pipeline cache and kernel dispatch driven by reflected WGSL bindings.
export { createGpu, Gpu, GpuError } from './gpu.ts';
export type { GpuOptions, GpuFeatures, DispatchArgs, DispatchOptions, Workgroups } from './gpu.ts';
export { Tensor, empty, upload, read, readF32, numel, BYTES } from './tensor.ts';
export type { DType, HostArray } from './tensor.ts';
export type { ShaderInfo, BindingInfo, UniformMember } from './shader.ts';
export { f32ToF16, f16ToF32 } from './f16.ts';
