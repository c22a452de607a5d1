// Classifier read-out on the CPU: a numerically stable softmax and the k most
// probable classes.

export interface TopKEntry {
  index: number;
  /** labels[index], or the index as a string when no labels are given. */
  label: string;
  probability: number;
}

/**
 * Softmax of a vector of logits: exp(x - max) / sum, summed in double and
 * stored as float32. Infinite logits are handled (+Infinity entries share all
 * the mass); a NaN anywhere gives NaN everywhere. Empty input gives empty output.
 */
export function softmax(logits: ArrayLike<number>): Float32Array {
  const n = logits.length;
  const out = new Float32Array(n);
  if (n === 0) return out;
  let max = -Infinity;
  for (let i = 0; i < n; i++) {
    const v = logits[i];
    if (Number.isNaN(v)) return out.fill(NaN);
    if (v > max) max = v;
  }
  if (max === -Infinity) return out.fill(1 / n); // all -Infinity: uniform
  const e = new Float64Array(n);
  let sum = 0;
  for (let i = 0; i < n; i++) {
    const v = logits[i];
    // +Infinity minus +Infinity is NaN: those entries each get weight 1.
    const d = max === Infinity ? (v === Infinity ? 0 : -Infinity) : v - max;
    e[i] = Math.exp(d);
    sum += e[i];
  }
  for (let i = 0; i < n; i++) out[i] = e[i] / sum;
  return out;
}

/**
 * The k largest entries of `probs` (any scores), largest first; ties keep the
 * lower index first. k is clamped to [0, probs.length]. NaN scores rank last.
 */
export function topK(probs: ArrayLike<number>, k: number, labels?: readonly string[]): TopKEntry[] {
  if (!Number.isFinite(k) && k !== Infinity) throw new Error(`topK: k must be a number, got ${k}`);
  const n = probs.length;
  if (labels !== undefined && labels.length !== n) {
    throw new Error(`topK: ${n} scores but ${labels.length} labels`);
  }
  const kk = Math.max(0, Math.min(n, Math.floor(k)));
  const better = (a: number, b: number): boolean => {
    const va = probs[a], vb = probs[b];
    if (Number.isNaN(vb)) return !Number.isNaN(va) || a < b;
    if (Number.isNaN(va)) return false;
    return va > vb || (va === vb && a < b);
  };
  // Keep a sorted list of the best kk indices: O(n k), fine for k << n.
  const best: number[] = [];
  for (let i = 0; i < n && kk > 0; i++) {
    if (best.length === kk && !better(i, best[kk - 1])) continue;
    let j = best.length < kk ? best.length : kk - 1;
    while (j > 0 && better(i, best[j - 1])) {
      best[j] = best[j - 1];
      j--;
    }
    best[j] = i;
  }
  return best.map((index) => ({ index, label: labels ? labels[index] : String(index), probability: probs[index] }));
}
