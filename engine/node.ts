// WebGPU in Node through Dawn's `webgpu` package. Kept out of engine/index.ts
// so browser bundles never see it.

import { createGpu, type Gpu, type GpuOptions } from './gpu.ts';

export interface NodeGpuOptions extends GpuOptions {
  /** Dawn toggles, e.g. ['backend=vulkan'] */
  dawnFlags?: string[];
}

/**
 * Dawn's WebGPU entry point (what `navigator.gpu` is in a browser), with the
 * WebGPU constants (GPUBufferUsage, ...) installed as globals. Hold it for as
 * long as any device made from it lives: Dawn tears the instance down when it
 * is garbage collected. Benchmarks hand the same one to other runtimes.
 */
export async function nodeWebGpu(dawnFlags: string[] = []): Promise<GPU> {
  let dawn: typeof import('webgpu');
  try {
    dawn = await import('webgpu');
  } catch (e) {
    // an optional peer dependency of the npm package: say how to get it
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ERR_MODULE_NOT_FOUND' && /'webgpu'/.test(err.message)) {
      throw new Error("nodeGpu needs the 'webgpu' package (Dawn's WebGPU for Node), which is not installed: npm i webgpu", { cause: e });
    }
    throw e;
  }
  const { create, globals } = dawn;
  for (const [k, v] of Object.entries(globals)) if (!(k in globalThis)) (globalThis as any)[k] = v;
  return create(dawnFlags) as unknown as GPU;
}

export async function nodeGpu(opts: NodeGpuOptions = {}): Promise<Gpu> {
  return createGpu(await nodeWebGpu(opts.dawnFlags), opts).catch((e: Error) => {
    if (/^No WebGPU adapter/.test(e.message)) {
      e.message += ' In Node this needs a Vulkan driver: install Mesa lavapipe (mesa-vulkan-drivers) or SwiftShader and point VK_ICD_FILENAMES at its ICD json.';
    }
    throw e;
  });
}
