// WebGPU in Node through Dawn's `webgpu` package. Kept out of engine/index.ts
// so browser bundles never see it.

import { createGpu, type Gpu, type GpuOptions } from './gpu.ts';

export interface NodeGpuOptions extends GpuOptions {
  /** Dawn toggles, e.g. ['backend=vulkan'] */
  dawnFlags?: string[];
}

export async function nodeGpu(opts: NodeGpuOptions = {}): Promise<Gpu> {
  const { create, globals } = await import('webgpu');
  // Dawn's node binding exposes the WebGPU constants (GPUBufferUsage, ...) as globals.
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as any)[k] = v;
  return createGpu(create(opts.dawnFlags ?? []) as unknown as GPU, opts);
}
