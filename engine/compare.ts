// The project's one error measure, used by the tests, bench:reference and
// the demo page: max |ours - ref| / max |ref|, over the positions `ours`
// computed (NaN marks a position left out, e.g. a decoded subset). With
// skipNaN = false every position must be computed: a NaN gives NaN, which
// fails any `error < tolerance` check.

export function maxRelError(ours: ArrayLike<number>, ref: ArrayLike<number>, skipNaN = true): number {
  if (ours.length !== ref.length) throw new Error(`output has ${ours.length} values, the reference ${ref.length}`);
  let num = 0;
  let den = 0;
  let compared = 0;
  for (let i = 0; i < ref.length; i++) {
    den = Math.max(den, Math.abs(ref[i]));
    if (Number.isNaN(ours[i])) {
      if (!skipNaN) return NaN; // a value that should have been computed was not
      continue;
    }
    num = Math.max(num, Math.abs(ours[i] - ref[i]));
    compared++;
  }
  if (compared === 0) return NaN;
  return den === 0 ? num : num / den;
}
