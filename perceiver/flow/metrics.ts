// Flow evaluation: end-point error (EPE), the standard optical-flow metric
// (Sintel, KITTI, Middlebury): the Euclidean distance between predicted and
// true flow vectors, per pixel, averaged.

export interface EndPointError {
  /** mean EPE over the compared pixels (pixels) */
  mean: number;
  max: number;
  /** fraction of compared pixels with EPE above 1, 3 and 5 pixels */
  over1: number;
  over3: number;
  over5: number;
  /** pixels compared */
  count: number;
}

/**
 * EPE between flows [H, W, 2] (interleaved u, v). Pixels where either flow is
 * not finite, or where `valid` (one entry per pixel) is 0/false, are skipped.
 */
export function endPointError(pred: ArrayLike<number>, truth: ArrayLike<number>, valid?: ArrayLike<number | boolean>): EndPointError {
  if (pred.length !== truth.length || pred.length % 2) throw new Error(`endPointError: flows of ${pred.length} and ${truth.length} values (need equal [H, W, 2])`);
  const n = pred.length / 2;
  if (valid && valid.length !== n) throw new Error(`endPointError: valid has ${valid.length} entries for ${n} pixels`);
  let sum = 0, max = 0, count = 0, o1 = 0, o3 = 0, o5 = 0;
  for (let p = 0; p < n; p++) {
    if (valid && !valid[p]) continue;
    const du = pred[2 * p] - truth[2 * p], dv = pred[2 * p + 1] - truth[2 * p + 1];
    const e = Math.hypot(du, dv);
    if (!Number.isFinite(e)) continue;
    sum += e;
    max = Math.max(max, e);
    count++;
    if (e > 1) o1++;
    if (e > 3) o3++;
    if (e > 5) o5++;
  }
  const d = count || 1;
  return { mean: count ? sum / count : NaN, max, over1: o1 / d, over3: o3 / d, over5: o5 / d, count };
}

/** A constant flow field (u, v) of size height x width: the true flow of a pure translation. */
export function constantFlow(height: number, width: number, u: number, v: number): Float32Array {
  const out = new Float32Array(height * width * 2);
  for (let p = 0; p < height * width; p++) {
    out[2 * p] = u;
    out[2 * p + 1] = v;
  }
  return out;
}
