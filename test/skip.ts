// Honest skips. A test that cannot run here (a fixture folder is absent, the
// adapter lacks a feature, no Chromium) calls `skip(reason)` and returns: the
// runner (test/run.ts) counts it as skipped, not passed, and lists the reason.
//
//   if (!existsSync(GOLDEN)) return skip(`${GOLDEN} is absent`);

/** One skipped test: the file-level suite it ran in and why it could not run. */
export interface Skip {
  reason: string;
}

const skips: Skip[] = [];

/** Marks the running test as skipped with its reason (then `return` from it). */
export function skip(reason: string): void {
  skips.push({ reason });
  console.log(`  skipped: ${reason}`);
}

/** Every skip recorded so far in this process (read by test/run.ts). */
export function recordedSkips(): readonly Skip[] {
  return skips;
}
