// The test runner's closing line is honest: a test that calls skip(reason)
// (test/skip.ts) and returns is counted as skipped, not passed, and listed
// with its file, name and reason; one that skips and then fails is a failure.
// Runs test/run.ts on test/runner/fixtures in a child process.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

test('skips are counted as skipped, listed with file, test and reason; a skip that then fails is a failure', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, 'run.ts')], {
    env: { ...process.env, PERCEIVER_TEST_ROOT: join(here, 'runner', 'fixtures'), NO_COLOR: '1', FORCE_COLOR: '0' },
    encoding: 'utf8',
    timeout: 60_000,
  });
  const out = r.stdout.replace(/\x1b\[[0-9;]*m/g, '');
  assert.match(out, /\ntests: 1 passed, 1 failed, 1 skipped\n/, out + r.stderr);
  assert.match(out, /skipped \(1\):\n  test\/counts\.test\.ts › cannot run here\n      the widget is absent\n/);
  assert.not.match(out, /› skips, then fails anyway/);
  assert.is(r.status, 1, 'a failure fails the run');
});

test.run();
