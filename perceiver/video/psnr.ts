// Peak signal-to-noise ratio of a reconstruction, on the CPU:
//   PSNR = 10 log10(peak^2 / MSE)  in dB (Infinity when the MSE is 0).
// Positions where the reconstruction is NaN (not decoded) are skipped, so a
// partial decode reports the PSNR of what was decoded.
//
// The video API reports frames with peak 1 after clipping the reconstruction
// to [0, 1] (what is displayed: the colab's to_gif clips), and audio with
// peak 1 (full scale of [-1, 1] samples), unclipped.

export interface PsnrOptions {
  /** the signal's peak value (default 1) */
  peak?: number;
  /** clip the reconstruction to [lo, hi] first */
  clip?: [number, number];
  /** compare only [start, end) of both arrays */
  start?: number;
  end?: number;
}

export interface PsnrResult {
  /** dB; NaN when nothing was compared */
  psnr: number;
  mse: number;
  /** values compared */
  count: number;
}

export function psnr(reconstruction: ArrayLike<number>, reference: ArrayLike<number>, o: PsnrOptions = {}): PsnrResult {
  if (reconstruction.length !== reference.length) throw new Error(`psnr: ${reconstruction.length} values vs a reference of ${reference.length}`);
  const peak = o.peak ?? 1;
  if (!(peak > 0)) throw new Error(`psnr: peak must be positive, got ${peak}`);
  const start = o.start ?? 0, end = o.end ?? reference.length;
  const [lo, hi] = o.clip ?? [-Infinity, Infinity];
  let sum = 0;
  let count = 0;
  for (let i = start; i < end; i++) {
    let r = reconstruction[i];
    if (Number.isNaN(r)) continue;
    r = Math.min(hi, Math.max(lo, r));
    const d = r - reference[i];
    sum += d * d;
    count++;
  }
  if (count === 0) return { psnr: NaN, mse: NaN, count: 0 };
  const mse = sum / count;
  return { psnr: mse === 0 ? Infinity : 10 * Math.log10((peak * peak) / mse), mse, count };
}
