// tools/setup-driver.ts decides, on a machine where Dawn finds no WebGPU
// adapter, whether to install Mesa's lavapipe and how; here on a stand-in
// machine (nothing runs apt): what is installed, when nothing is, and what
// the error says when the process may not install.

import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { planDriverSetup, setupNodeGpu, LAVAPIPE_ICD, INSTALL_SCRIPT, type SetupHost } from '../../tools/setup-driver.ts';
import type { Gpu } from '../../engine/gpu.ts';

interface Fake extends SetupHost {
  runs: string[][];
  lines: string[];
}

/** A Debian machine without a driver, as root, unless told otherwise. */
function machine(o: { platform?: string; env?: Record<string, string>; root?: boolean; sudo?: boolean; apt?: boolean; lavapipe?: boolean; installStatus?: number } = {}): Fake {
  const files = new Set([INSTALL_SCRIPT]);
  if (o.lavapipe) files.add(LAVAPIPE_ICD);
  const runs: string[][] = [];
  const lines: string[] = [];
  return {
    platform: o.platform ?? 'linux',
    env: { ...(o.env ?? {}) },
    isRoot: o.root ?? true,
    passwordlessSudo: () => o.sudo ?? false,
    has: (c) => (c === 'apt-get' ? (o.apt ?? true) : c === 'sudo'),
    exists: (p) => files.has(p),
    run: (c, args) => {
      runs.push([c, ...args]);
      if ((o.installStatus ?? 0) === 0) files.add(LAVAPIPE_ICD); // the install puts the ICD in place
      return o.installStatus ?? 0;
    },
    log: (l) => lines.push(l),
    runs,
    lines,
  };
}

const GPU = { adapterName: 'lavapipe' } as unknown as Gpu;
const noAdapter = () => new Error('No WebGPU adapter found. In Node this needs a Vulkan driver: ...');

/** getGpu: no adapter until VK_ICD_FILENAMES names lavapipe (or always one with `working`). */
function dawn(h: Fake, working = false) {
  let calls = 0;
  const get = async () => {
    calls++;
    if (working || h.env.VK_ICD_FILENAMES === LAVAPIPE_ICD) return GPU;
    throw noAdapter();
  };
  return { get, calls: () => calls };
}

test('a machine with a working adapter: nothing is installed or changed', async () => {
  const h = machine();
  const d = dawn(h, true);
  assert.is(await setupNodeGpu(d.get, h), GPU);
  assert.equal(h.runs, []);
  assert.equal(h.lines, []);
  assert.is(h.env.VK_ICD_FILENAMES, undefined);
});

test('no adapter, root on Debian/Ubuntu: says what it installs and why, runs the installer, retries on lavapipe', async () => {
  const h = machine();
  const d = dawn(h);
  assert.is(await setupNodeGpu(d.get, h), GPU);
  assert.equal(h.runs, [['bash', INSTALL_SCRIPT]]);
  assert.is(d.calls(), 2);
  assert.is(h.env.VK_ICD_FILENAMES, LAVAPIPE_ICD);
  const said = h.lines.join('\n');
  assert.match(said, /no WebGPU adapter found: this machine has no GPU driver/);
  assert.match(said, /installing Mesa's lavapipe, a software Vulkan driver that runs WebGPU on the CPU: bash .*install-vulkan\.sh/);
  assert.match(said, /PERCEIVER_NO_DRIVER_SETUP=1 to never do this/);
});

test('not root but passwordless sudo: the installer runs through sudo -n', () => {
  assert.equal(planDriverSetup(machine({ root: false, sudo: true })), { kind: 'install', command: 'sudo', args: ['-n', 'bash', INSTALL_SCRIPT] });
});

test('lavapipe already installed but not picked up: nothing is installed, VK_ICD_FILENAMES is set and Dawn asked again', async () => {
  const h = machine({ lavapipe: true, env: { VK_ICD_FILENAMES: '/elsewhere/icd.json' } });
  const d = dawn(h);
  assert.is(await setupNodeGpu(d.get, h), GPU);
  assert.equal(h.runs, []);
  assert.is(h.env.VK_ICD_FILENAMES, LAVAPIPE_ICD);
});

test('where it may not install, nothing runs and the error says why and what to run', async () => {
  const cases: [string, Fake, RegExp][] = [
    ['opted out', machine({ env: { PERCEIVER_NO_DRIVER_SETUP: '1' } }), /automatic driver set-up is off \(PERCEIVER_NO_DRIVER_SETUP\); install a GPU driver, or Mesa's software driver: sudo bash \.ci\/install-vulkan\.sh/],
    ['in CI', machine({ env: { CI: 'true' } }), /in CI \(CI is set\) nothing is installed implicitly; run bash \.ci\/install-vulkan\.sh as a step, or set PERCEIVER_DRIVER_SETUP=1/],
    ['macOS', machine({ platform: 'darwin' }), /automatic set-up installs Mesa's lavapipe on Debian\/Ubuntu Linux only \(this is darwin\); install your GPU's driver/],
    ['no apt-get', machine({ apt: false }), /automatic set-up needs apt-get \(Debian\/Ubuntu\)/],
    ['not root, sudo asks for a password', machine({ root: false, sudo: false }), /installing a driver needs root \(this process is not root and sudo asks for a password\): run sudo bash \.ci\/install-vulkan\.sh, then this command again/],
  ];
  for (const [what, h, message] of cases) {
    const d = dawn(h);
    await setupNodeGpu(d.get, h).then(
      () => assert.unreachable(`${what}: resolved`),
      (e: Error) => assert.match(e.message, new RegExp(`^No WebGPU adapter found, and no driver was installed: ${message.source}`), `${what}: ${e.message}`),
    );
    assert.equal(h.runs, [], `${what}: nothing ran`);
    assert.is(d.calls(), 1, what);
  }
  // CI with the explicit opt-in installs
  assert.is(planDriverSetup(machine({ env: { CI: 'true', PERCEIVER_DRIVER_SETUP: '1' } })).kind, 'install');
});

test('a failed install, and errors other than a missing adapter, are passed on', async () => {
  const h = machine({ installStatus: 100 });
  await setupNodeGpu(dawn(h).get, h).then(
    () => assert.unreachable(),
    (e: Error) => assert.match(e.message, /installing lavapipe failed \(bash .*install-vulkan\.sh exited with 100\)/),
  );
  const other = machine();
  await setupNodeGpu(async () => {
    throw new Error('the GPU device was lost');
  }, other).then(
    () => assert.unreachable(),
    (e: Error) => assert.is(e.message, 'the GPU device was lost'),
  );
  assert.equal(other.runs, []);
});

test.run();
