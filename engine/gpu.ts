// The explicit device: one GPUDevice with its buffer pool, pipeline cache and
// the command encoder that collects a forward's dispatches. Nothing here is
// global; every tensor and kernel call goes through a Gpu.

import { BufferPool } from './pool.ts';
import type { ShaderInfo } from './shader.ts';
import type { Tensor } from './tensor.ts';

export interface GpuOptions {
  /** ask for shader-f16 when the adapter has it (default true) */
  f16?: boolean;
  /** ask for subgroups when the adapter has it (default true) */
  subgroups?: boolean;
  powerPreference?: GPUPowerPreference;
  /**
   * 'adapter' (default): ask for the adapter's own limits where large models
   * need more than WebGPU's defaults; 'default': keep WebGPU's guaranteed
   * defaults (128 MiB bindings, 256 MiB buffers, 16 KiB workgroup memory,
   * 256 invocations, 8 storage buffers per stage...), as the weakest
   * conformant adapter has them.
   */
  limits?: 'adapter' | 'default';
  /** 'none': no optional feature at all (no shader-f16, subgroups or timestamps), as on an adapter that has none */
  features?: 'adapter' | 'none';
}

export interface GpuFeatures {
  f16: boolean;
  subgroups: boolean;
  timestamps: boolean;
  /**
   * The adapter is a CPU emulation (lavapipe/llvmpipe, SwiftShader, WARP):
   * kernels that have variants pick the ones that suit a CPU there.
   */
  emulated: boolean;
}

/** A GPU error, with the kernels (and their tensor shapes) that were in flight. */
export class GpuError extends Error {
  constructor(message: string, readonly kernels: string[] = []) {
    super(kernels.length ? `${message}\n  while running: ${kernels.slice(-8).join('; ')}` : message);
    this.name = 'GpuError';
  }
}

export type Workgroups = number | [number, number?, number?];

export interface DispatchArgs {
  [binding: string]: Tensor | Record<string, number | readonly number[]>;
}

export interface DispatchOptions {
  /** values for the shader's `override` constants (part of the pipeline key) */
  constants?: Record<string, number>;
  entryPoint?: string;
}

const UNIFORM = 0x0040 | 0x0008; // GPUBufferUsage.UNIFORM | COPY_DST
/**
 * Bytes of one uniform slab: the uniform values of up to this many / 256
 * dispatches (at the usual 256-byte offset alignment) share one buffer,
 * written once just before the submit. (A mapped buffer per dispatch cost
 * ~70 us of host time each in Dawn's Node binding.)
 */
const UNIFORM_SLAB = 65536;
const MAP_READ = 0x0001 | 0x0008; // GPUBufferUsage.MAP_READ | COPY_DST

/**
 * Gets a Gpu from a WebGPU entry point: `navigator.gpu` in a browser, or
 * `nodeGpu()` (engine/node.ts) in Node.
 */
export async function createGpu(gpu: GPU | undefined, opts: GpuOptions = {}): Promise<Gpu> {
  if (!gpu) throw new GpuError('WebGPU is not available here (no navigator.gpu). Use a browser with WebGPU, or Node with the `webgpu` package.');
  let adapter!: GPUAdapter;
  // Also how Gpu.recover gets a new device after a loss (an adapter gives one device).
  const open = async () => {
    const a = await gpu.requestAdapter({ powerPreference: opts.powerPreference ?? 'high-performance' });
    if (!a) throw new GpuError('No WebGPU adapter found.'); // (nodeGpu adds what Node needs for one)
    adapter = a;
    const want: GPUFeatureName[] = [];
    const has = (f: string) => opts.features !== 'none' && a.features.has(f);
    if (opts.f16 !== false && has('shader-f16')) want.push('shader-f16');
    if (opts.subgroups !== false && has('subgroups')) want.push('subgroups' as GPUFeatureName);
    if (has('timestamp-query')) want.push('timestamp-query');
    return a.requestDevice({
      requiredFeatures: want,
      // the adapter's own limits for what large models need (the defaults are far lower)
      requiredLimits: opts.limits === 'default' ? {} : Object.fromEntries(
        (['maxStorageBufferBindingSize', 'maxBufferSize', 'maxStorageBuffersPerShaderStage', 'maxComputeWorkgroupStorageSize', 'maxComputeInvocationsPerWorkgroup', 'maxComputeWorkgroupSizeX', 'maxComputeWorkgroupSizeY'] as const).map((k) => [k, a.limits[k]]),
      ),
    });
  };
  const device = await open();
  const info = adapter.info ?? ({} as GPUAdapterInfo);
  const name = [info.vendor, info.architecture, info.device, info.description].filter((s) => s).join(' ') || 'unknown adapter';
  const g = new Gpu(device, name, {
    f16: device.features.has('shader-f16'),
    subgroups: device.features.has('subgroups'),
    timestamps: device.features.has('timestamp-query'),
    emulated: info.isFallbackAdapter === true || /llvmpipe|lavapipe|swiftshader|warp/i.test(name),
  });
  g.reopen = open;
  // Hold the entry point and adapter for the device's lifetime: Dawn's Node
  // binding tears its instance down when these are garbage collected, and
  // pending GPU work then crashes the process.
  g.keepAlive = [gpu, () => adapter];
  return g;
}

export class Gpu {
  pool!: BufferPool;
  limits!: GPUSupportedLimits;
  /**
   * Constant tensors kernels keep per device (kernels/fourier.ts tables),
   * shared by every model on it: freed by clearCache() and destroy(),
   * dropped with a lost device.
   */
  cache = new Map<string, { dispose(): void }>();
  /** Device changes so far (recover): a tensor made before the last one reads as disposed. */
  generation = 0;
  /** Why the device was lost, while it is (recover() clears it). */
  lost: GpuError | null = null;
  /** Called when the device is lost, with the reason. */
  onLost: ((error: GpuError) => void) | null = null;
  /** A new device on the same entry point (set by createGpu; recover() calls it). */
  reopen: (() => Promise<GPUDevice>) | null = null;
  /** Set on the dry view of prepare(): the pipelines its dispatches need, by key, instead of running them. */
  dry: Map<string, GPUComputePipelineDescriptor> | null = null;
  private pipelines = new Map<string, GPUComputePipeline>();
  private modules = new Map<string, GPUShaderModule>();
  private encoder: GPUCommandEncoder | null = null;
  private pass: GPUComputePassEncoder | null = null;
  /** labels of the dispatches recorded since the last submit */
  private recorded: string[] = [];
  /** the uniform slabs of the work recorded since the last submit: host bytes, and how many are used */
  private slabs: { buffer: GPUBuffer; bytes: Uint8Array<ArrayBuffer>; used: number }[] = [];
  private uncaptured: GpuError | null = null;
  private closed = false;
  private reviving: Promise<void> | null = null;
  /** optional progress hook: called with each dispatch's label */
  onDispatch: ((label: string) => void) | null = null;
  /**
   * Opt-in per-dispatch GPU timing (bench/profile.ts installs one; null costs
   * nothing). Where it returns timestamp writes, the dispatch gets its own
   * compute pass carrying them (Dawn allows timestamps only at pass bounds).
   */
  profiler: { timestampWrites(kernel: string, label: string): GPUComputePassTimestampWrites | undefined } | null = null;
  /** objects that must live as long as the device (see createGpu) */
  keepAlive: unknown[] = [];
  /** kernel launches recorded and command buffers submitted so far (benchmarks and tests read them) */
  dispatchCount = 0;
  submitCount = 0;

  constructor(public device: GPUDevice, readonly adapterName: string, readonly features: GpuFeatures) {
    this.attach(device);
  }

  /** Starts afresh on `device`: empty pool, pipeline and constant caches, watching for its loss. */
  private attach(device: GPUDevice): void {
    this.device = device;
    this.limits = device.limits;
    this.pool = new BufferPool(device, device.limits.maxBufferSize);
    for (const m of [this.pipelines, this.modules, this.cache]) m.clear();
    this.encoder = this.pass = this.lost = this.uncaptured = null;
    this.recorded = [];
    this.slabs = [];
    device.lost.then((info) => {
      if (this.device !== device) return;
      this.lost = new GpuError(`the GPU device was lost (${info.reason}: ${info.message || 'no message'})`);
      this.onLost?.(this.lost);
    });
    device.addEventListener?.('uncapturederror', (ev: Event) => {
      const e = (ev as GPUUncapturedErrorEvent).error;
      this.uncaptured ??= new GpuError(`${e.constructor?.name ?? 'GPUError'}: ${e.message}`, [...this.recorded]);
    });
  }

  /**
   * After a device loss: a new device from the same entry point (one
   * request, however many callers wait), with empty caches; tensors of the
   * lost device read as disposed, so models upload their weights again
   * (perceiver/load.ts). Resolves at once while the device is fine; after
   * destroy() (or without createGpu's reopen) rejects with the loss.
   */
  async recover(): Promise<void> {
    if (!this.lost || this.dry) return; // (a dry view runs on: prepare's compiling fails with the loss)
    if (this.closed || !this.reopen) throw this.lost;
    await (this.reviving ??= this.reopen()
      .then((d) => {
        this.generation++;
        this.attach(d);
      })
      .finally(() => (this.reviving = null)));
  }

  private checkAlive(): void {
    if (this.lost) throw new GpuError(this.lost.message, this.recorded);
  }

  /** After a failed wait on the GPU: the loss with its reason when the device is gone (its promise may settle a moment later), else `e`. */
  private async failed(e: unknown, kernels = this.recorded): Promise<never> {
    await Promise.race([this.device.lost, new Promise((r) => setTimeout(r, 50))]);
    throw this.lost ? new GpuError(this.lost.message, kernels) : e;
  }

  /**
   * Compiles, with createComputePipelineAsync, the pipelines `forward` needs
   * that are not cached yet: `forward` runs on a dry view of this Gpu whose
   * dispatches record their pipelines instead of running, whose buffers are
   * placeholders (no memory) and whose read-backs give zeros, so it can be
   * a model's ordinary call on blank inputs. Other work on this Gpu goes on
   * meanwhile. Returns how many pipelines were compiled.
   */
  async prepare(forward: (dry: Gpu) => unknown, onProgress?: (done: number, total: number) => void): Promise<number> {
    const view = Object.create(this) as Gpu;
    const want = new Map<string, GPUComputePipelineDescriptor>();
    const device = this.device;
    const placeholders = { createBuffer: (d: GPUBufferDescriptor) => ({ size: d.size, destroy() {} }) } as unknown as GPUDevice;
    Object.assign(view, { dry: want, pool: new BufferPool(placeholders, this.limits.maxBufferSize), cache: new Map(), recorded: [], slabs: [], onDispatch: null });
    await forward(view);
    let done = 0;
    await Promise.all(
      [...want].map(async ([key, desc]) => {
        const p = await device.createComputePipelineAsync(desc).catch((e: Error) => this.failed(new GpuError(`compiling ${key}: ${e.message}`)));
        if (this.device === device) this.pipelines.set(key, p);
        onProgress?.(++done, want.size);
      }),
    );
    return want.size;
  }

  private pipeline(shader: ShaderInfo, opts: DispatchOptions): GPUComputePipeline | undefined {
    const entryPoint = opts.entryPoint ?? shader.entries[0];
    const constants = opts.constants ?? {};
    for (const k of Object.keys(constants)) {
      if (!shader.overrides.includes(k)) throw new Error(`${shader.name}: no override constant named '${k}'`);
    }
    const key = `${shader.name}|${entryPoint}|${JSON.stringify(constants)}`;
    let p = this.pipelines.get(key);
    if (p) return p;
    let module = this.modules.get(shader.name);
    if (!module) {
      const needsF16 = /\benable f16;/.test(shader.code);
      if (needsF16 && !this.features.f16) throw new GpuError(`${shader.name}: needs shader-f16, which this adapter lacks`);
      module = this.device.createShaderModule({ code: shader.code, label: shader.name });
      this.modules.set(shader.name, module);
    }
    const desc: GPUComputePipelineDescriptor = { layout: 'auto', compute: { module, entryPoint, constants }, label: key };
    if (this.dry) return void this.dry.set(key, desc);
    p = this.device.createComputePipeline(desc);
    this.pipelines.set(key, p);
    return p;
  }

  /**
   * Records one kernel launch. `args` holds a tensor for every storage
   * binding and a plain object for every uniform struct (packed by the
   * reflected member offsets). Checks the adapter's limits before sending:
   * a binding over maxStorageBufferBindingSize or a grid dimension over
   * maxComputeWorkgroupsPerDimension is an error naming the kernel and
   * shapes. A 1-D grid too large for one dimension is folded into x and y
   * when the kernel's uniform struct has a member `grid_x`: the engine fills
   * it with the x extent, and the kernel recovers the flat workgroup index as
   * `wid.x + wid.y * grid_x` and bound-checks. (The `num_workgroups` builtin
   * would do the same, but crashes Dawn on lavapipe intermittently.)
   */
  dispatch(shader: ShaderInfo, args: DispatchArgs, workgroups: Workgroups, opts: DispatchOptions = {}): void {
    this.checkAlive();
    const shapes = shader.bindings
      .filter((b) => b.kind !== 'uniform')
      .map((b) => `${b.name}=${(args[b.name] as Tensor | undefined)?.toString?.() ?? '?'}`)
      .join(' ');
    const label = `${shader.name}(${shapes})`;
    let [x, y = 1, z = 1] = typeof workgroups === 'number' ? [workgroups] : workgroups;
    const maxDim = this.limits.maxComputeWorkgroupsPerDimension;
    const gridUniform = shader.bindings.find((b) => b.members?.some((m) => m.name === 'grid_x'));
    if (typeof workgroups === 'number' && x > maxDim && gridUniform) {
      y = Math.ceil(x / maxDim);
      x = Math.ceil(x / y);
    }
    for (const [axis, n] of [['x', x], ['y', y], ['z', z]] as const) {
      if (n > maxDim) throw new GpuError(`${label}: ${n} workgroups along ${axis}, over maxComputeWorkgroupsPerDimension ${maxDim}; the caller must split`);
    }
    const maxBinding = this.limits.maxStorageBufferBindingSize;
    const align = this.limits.minStorageBufferOffsetAlignment;
    const entries: GPUBindGroupEntry[] = [];
    for (const b of shader.bindings) {
      const a = args[b.name];
      if (a === undefined) throw new Error(`${label}: missing argument for binding '${b.name}'`);
      if (b.kind === 'uniform') {
        const values = b === gridUniform ? { ...(a as Record<string, number>), grid_x: x } : (a as Record<string, number>);
        entries.push({ binding: b.binding, resource: this.uniform(b.name, b.size!, b.members!, values, label) });
        continue;
      }
      const t = a as Tensor;
      if (typeof t.byteLength !== 'number') throw new Error(`${label}: binding '${b.name}' needs a tensor`);
      if (t.disposed) throw new Error(`${label}: binding '${b.name}' was disposed${this.generation ? ' (or made on a device since lost)' : ''}`);
      const size = Math.max(4, Math.ceil(t.byteLength / 4) * 4);
      if (size > maxBinding) {
        throw new GpuError(
          `${label}: binding '${b.name}' is ${size} bytes, over this adapter's maxStorageBufferBindingSize of ${maxBinding}; the caller must slice it`,
        );
      }
      if (t.byteOffset % align !== 0) {
        throw new GpuError(`${label}: binding '${b.name}' starts at byte ${t.byteOffset}, not a multiple of ${align}`);
      }
      entries.push({ binding: b.binding, resource: { buffer: t.buffer, offset: t.byteOffset, size } });
    }
    if (x * y * z === 0) return;
    const pipeline = this.pipeline(shader, opts);
    if (this.dry || !pipeline) return;
    const bindGroup = this.device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries });
    const timestampWrites = this.profiler?.timestampWrites(shader.name, label);
    const pass = timestampWrites ? this.copyEncoder().beginComputePass({ timestampWrites }) : this.computePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(x, y, z);
    if (timestampWrites) pass.end();
    this.recorded.push(label);
    this.dispatchCount++;
    this.onDispatch?.(label);
  }

  private uniform(name: string, size: number, members: { name: string; offset: number; type: string; count: number }[], values: Record<string, number | readonly number[]>, label: string): GPUBufferBinding {
    const bytes = Math.max(16, Math.ceil(size / 16) * 16);
    let slab = this.slabs[this.slabs.length - 1];
    if (!slab || slab.used + bytes > UNIFORM_SLAB) {
      slab = { buffer: this.pool.create(UNIFORM_SLAB, UNIFORM), bytes: new Uint8Array(UNIFORM_SLAB), used: 0 };
      this.slabs.push(slab);
    }
    const offset = slab.used;
    const view = new DataView(slab.bytes.buffer, offset, bytes);
    for (const m of members) {
      const v = values[m.name];
      if (v === undefined) throw new Error(`${label}: uniform '${name}' needs a value for '${m.name}'`);
      const vs = typeof v === 'number' ? [v] : v;
      if (vs.length !== m.count) throw new Error(`${label}: uniform member '${m.name}' takes ${m.count} values`);
      vs.forEach((x, i) => {
        const o = m.offset + 4 * i;
        if (m.type === 'f32') view.setFloat32(o, x, true);
        else if (m.type === 'i32') view.setInt32(o, x, true);
        else {
          if (!(x >= 0 && x <= 0xffffffff && Number.isInteger(x))) throw new Error(`${label}: '${m.name}' = ${x} is not a u32`);
          view.setUint32(o, x, true);
        }
      });
    }
    for (const k of Object.keys(values)) {
      if (!members.some((m) => m.name === k)) throw new Error(`${label}: uniform '${name}' has no member '${k}'`);
    }
    slab.used = Math.ceil((offset + bytes) / this.limits.minUniformBufferOffsetAlignment) * this.limits.minUniformBufferOffsetAlignment;
    return { buffer: slab.buffer, offset, size: bytes };
  }

  private computePass(): GPUComputePassEncoder {
    this.encoder ??= this.device.createCommandEncoder();
    this.pass ??= this.encoder.beginComputePass();
    return this.pass;
  }

  /** The open command encoder with no compute pass active (for copies). */
  private copyEncoder(): GPUCommandEncoder {
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    this.encoder ??= this.device.createCommandEncoder();
    return this.encoder;
  }

  /** Records a buffer-to-buffer copy in stream order. */
  copy(src: Tensor, dst: Tensor, bytes = src.byteLength): void {
    if (bytes > dst.byteLength) throw new Error(`copy: ${bytes} bytes into ${dst}`);
    if (this.dry) return;
    this.copyEncoder().copyBufferToBuffer(src.buffer, src.byteOffset, dst.buffer, dst.byteOffset, Math.ceil(bytes / 4) * 4);
  }

  /**
   * Writes host bytes into a buffer. Recorded work is submitted first, so
   * the write cannot overtake earlier reads of a reused buffer.
   */
  write(buffer: GPUBuffer, offset: number, data: ArrayBufferView): void {
    this.checkAlive();
    if (this.dry) return;
    if (this.encoder) this.submit();
    const bytes = new Uint8Array(data.buffer as ArrayBuffer, data.byteOffset, data.byteLength);
    let padded = bytes;
    if (bytes.byteLength % 4 !== 0) {
      padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
      padded.set(bytes);
    }
    this.device.queue.writeBuffer(buffer, offset, padded);
  }

  /** Submits the recorded work (one command buffer). */
  submit(): void {
    this.checkAlive();
    if (this.dry) return;
    if (this.pass) {
      this.pass.end();
      this.pass = null;
    }
    if (!this.encoder) return;
    const cmd = this.encoder.finish();
    this.encoder = null;
    for (const u of this.slabs) this.device.queue.writeBuffer(u.buffer, 0, u.bytes, 0, u.used);
    const done = this.slabs.map((u) => u.buffer), pool = this.pool;
    this.slabs = [];
    this.device.queue.submit([cmd]);
    this.submitCount++;
    if (done.length) this.device.queue.onSubmittedWorkDone().then(() => done.forEach((b) => pool.destroy(b)));
  }

  /**
   * Submits and waits for all work, surfacing validation and out-of-memory
   * errors (with the kernels that were recorded) as exceptions.
   */
  async sync(): Promise<void> {
    if (this.dry) return;
    this.checkAlive();
    const kernels = this.recorded;
    const device = this.device;
    device.pushErrorScope('out-of-memory');
    device.pushErrorScope('validation');
    this.submit();
    this.recorded = [];
    let validation: GPUError | null, oom: GPUError | null;
    try {
      validation = await device.popErrorScope();
      oom = await device.popErrorScope();
      await device.queue.onSubmittedWorkDone();
    } catch (e) {
      return this.failed(e, kernels);
    }
    if (this.lost || device !== this.device) throw new GpuError((this.lost ?? { message: 'the GPU device was lost' }).message, kernels);
    if (oom) throw new GpuError(`GPU out of memory: ${oom.message}`, kernels);
    if (validation) throw new GpuError(`GPU validation error: ${validation.message}`, kernels);
    if (this.uncaptured) {
      const e = this.uncaptured;
      this.uncaptured = null;
      throw e;
    }
  }

  /** Copies a byte range of a buffer back to the host (submits pending work). */
  async readBytes(buffer: GPUBuffer, offset: number, length: number): Promise<ArrayBuffer> {
    if (this.dry) return new ArrayBuffer(length);
    this.checkAlive();
    const size = Math.max(4, Math.ceil(length / 4) * 4);
    const pool = this.pool, kernels = this.recorded;
    const staging = pool.create(size, MAP_READ);
    try {
      this.copyEncoder().copyBufferToBuffer(buffer, offset, staging, 0, size);
      await this.sync();
      await staging.mapAsync(0x0001 /* GPUMapMode.READ */).catch((e) => this.failed(e, kernels));
      return staging.getMappedRange().slice(0, length);
    } finally {
      pool.destroy(staging);
    }
  }

  /** Frees the constant tensors kernels keep (Gpu.cache). */
  clearCache(): void {
    for (const c of this.cache.values()) c.dispose();
    this.cache.clear();
  }

  /** Destroys every buffer and the device: tensors and models on it are unusable, and no device loss is recovered. */
  destroy(): void {
    this.closed = true;
    this.clearCache();
    this.pool.trim(true);
    this.device.destroy();
  }
}
