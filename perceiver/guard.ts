// Two checks every task's API runs on its callers' input (docs/reliability.md,
// "Bad calls"): numbers must be finite, and a disposed model is not used.

/** Throws when `data` holds NaN or an infinity, naming the first: models refuse non-finite input rather than return NaN. */
export function checkFinite(data: ArrayLike<number>, what: string): void {
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    // v - v is 0 for every finite v, NaN for NaN and the infinities
    if (v - v !== 0) throw new Error(`${what}: value ${i} is ${v}; inputs must be finite numbers`);
  }
}

/** Throws when a model is used after its dispose(). */
export function checkLive(disposed: boolean, what: string): void {
  if (disposed) throw new Error(`${what} was used after dispose()`);
}
