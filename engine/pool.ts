// A buffer pool. Sizes are rounded up to size classes (multiples of 256 bytes
// below 64 KiB, then 1/8 steps of a power of two) so buffers of nearby sizes
// are shared. A released buffer is reused by later work in the same command
// stream, which WebGPU orders after every earlier use. Every buffer the
// engine makes goes through `create` and `destroy` here, so `count` is the
// device's live buffer count as far as the engine is concerned.

const STORAGE = 0x0080 | 0x0004 | 0x0008; // GPUBufferUsage.STORAGE | COPY_SRC | COPY_DST

export function sizeClass(bytes: number): number {
  if (bytes <= 65536) return Math.ceil(bytes / 256) * 256;
  const step = 2 ** (Math.floor(Math.log2(bytes)) - 3);
  return Math.ceil(bytes / step) * step;
}

export class BufferPool {
  private free = new Map<number, GPUBuffer[]>();
  private live = new Set<GPUBuffer>();
  private made = new WeakSet<GPUBuffer>();
  /** bytes held by live (acquired) buffers, and the high-water mark */
  liveBytes = 0;
  peakBytes = 0;
  /** bytes parked in the free lists */
  freeBytes = 0;
  /** GPU buffers created and not yet destroyed: pooled (live or parked), uniform slabs and read-backs in flight */
  count = 0;

  constructor(private readonly device: GPUDevice, private readonly maxBufferSize: number) {}

  create(size: number, usage: number): GPUBuffer {
    const b = this.device.createBuffer({ size, usage });
    this.count++;
    this.made.add(b);
    return b;
  }

  /** Whether `b` is this pool's (a buffer of a lost device is not the new pool's). */
  owns(b: GPUBuffer): boolean {
    return this.made.has(b);
  }

  destroy(b: GPUBuffer): void {
    this.count--;
    b.destroy();
  }

  /**
   * A buffer of at least `bytes`, parked or new; `fresh`: always new, for
   * tensors that outlive the call making them (caches built on first use),
   * which would otherwise keep a parked buffer the next call needs.
   */
  acquire(bytes: number, fresh = false): GPUBuffer {
    const size = sizeClass(bytes);
    if (size > this.maxBufferSize) {
      throw new Error(`buffer of ${bytes} bytes exceeds the adapter's maxBufferSize (${this.maxBufferSize})`);
    }
    const list = this.free.get(size);
    let buf = fresh ? undefined : list?.pop();
    if (buf) this.freeBytes -= size;
    else buf = this.create(size, STORAGE);
    this.live.add(buf);
    this.liveBytes += size;
    this.peakBytes = Math.max(this.peakBytes, this.liveBytes);
    return buf;
  }

  release(buf: GPUBuffer): void {
    if (!this.live.delete(buf)) return;
    this.liveBytes -= buf.size;
    this.freeBytes += buf.size;
    let list = this.free.get(buf.size);
    if (!list) this.free.set(buf.size, (list = []));
    list.push(buf);
  }

  /** Destroys the parked buffers (live ones stay); `all`: the live ones too (their tensors are then unusable). */
  trim(all = false): void {
    for (const list of this.free.values()) for (const b of list) this.destroy(b);
    this.free.clear();
    this.freeBytes = 0;
    if (!all) return;
    for (const b of this.live) this.destroy(b);
    this.live.clear();
    this.liveBytes = 0;
  }

  resetPeak(): void {
    this.peakBytes = this.liveBytes;
  }
}
