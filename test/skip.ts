// Honest skips. A test that cannot run here (a fixture folder is absent, the
// adapter lacks a feature, no Chromium) calls `skip(reason)` and returns: the
// runner (test/run.ts) counts it as skipped, not passed, and lists the reason.
//
//   if (!existsSync(GOLDEN)) return skip(`${GOLDEN} is absent`);

/** One skipped test: its file (relative to test/), its name, and why it could not run. */
export interface Skip {
  /** the test file, relative to test/ ('' when not run by test/run.ts) */
  file: string;
  /** the uvu test name ('' when skip() was called while the file was being imported) */
  test: string;
  reason: string;
}

const skips: Skip[] = [];
let current = { file: '', test: '' };

/** Marks the running test as skipped with its reason (then `return` from it). */
export function skip(reason: string): void {
  skips.push({ ...current, reason });
  console.log(`  skipped: ${reason}`);
}

/** Every skip recorded so far in this process (read by test/run.ts). */
export function recordedSkips(): readonly Skip[] {
  return skips;
}

/** Set by test/run.ts before each test (and before importing each file), so that skip() knows where it is. */
export function setCurrentTest(file: string, test: string): void {
  current = { file, test };
}

/** The file and test running now, as test/run.ts last set them. */
export function currentTest(): { file: string; test: string } {
  return current;
}
