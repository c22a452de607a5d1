// Node-only: a WebGPU device for the benchmarks and tools, installing a
// software Vulkan driver first when the machine has none and may install one.
//
// nodeGpu() finds no adapter on a machine without a GPU driver (a fresh
// Debian/Ubuntu server, a container). Then, when the process may use apt
// (Linux, apt-get present, root or passwordless sudo, not in CI, not opted
// out), setupNodeGpu says what it installs and why, runs
// .ci/install-vulkan.sh (Mesa's lavapipe, a CPU implementation of Vulkan),
// and tries again with VK_ICD_FILENAMES pointing at lavapipe. Where it may
// not install, the error says why and what to run. On a machine with a
// working adapter nothing is installed, and browser code never comes here.
//
//   PERCEIVER_NO_DRIVER_SETUP=1   never install (the error says what to run)
//   PERCEIVER_DRIVER_SETUP=1      install even when CI is set

import { existsSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Gpu } from '../engine/gpu.ts';

/** Where Mesa puts lavapipe's ICD file (Debian and Ubuntu). */
export const LAVAPIPE_ICD = '/usr/share/vulkan/icd.d/lvp_icd.json';
/** The installer: adds bookworm-backports where needed and installs mesa-vulkan-drivers. */
export const INSTALL_SCRIPT = join(dirname(fileURLToPath(import.meta.url)), '..', '.ci', 'install-vulkan.sh');

/** What the decision needs to know about the machine, and how to act on it (injected in tests). */
export interface SetupHost {
  platform: string;
  env: Record<string, string | undefined>;
  isRoot: boolean;
  /** `sudo -n true` succeeds */
  passwordlessSudo(): boolean;
  /** a command on PATH */
  has(command: string): boolean;
  exists(path: string): boolean;
  /** runs a command with the terminal attached; its exit status */
  run(command: string, args: string[]): number;
  log(line: string): void;
}

export type DriverPlan =
  | { kind: 'use-installed'; icd: string }
  | { kind: 'install'; command: string; args: string[] }
  | { kind: 'cannot'; why: string };

const MANUAL = `install a GPU driver, or Mesa's software driver: sudo bash .ci/install-vulkan.sh (Debian/Ubuntu: mesa-vulkan-drivers), then VK_ICD_FILENAMES=${LAVAPIPE_ICD}`;

/** What to do about a missing adapter on this machine. */
export function planDriverSetup(h: SetupHost): DriverPlan {
  const on = (v: string | undefined) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
  if (h.exists(LAVAPIPE_ICD) && h.env.VK_ICD_FILENAMES !== LAVAPIPE_ICD) return { kind: 'use-installed', icd: LAVAPIPE_ICD };
  if (h.exists(LAVAPIPE_ICD)) return { kind: 'cannot', why: `lavapipe is installed (${LAVAPIPE_ICD}) and VK_ICD_FILENAMES points at it, yet Dawn finds no adapter: check the Vulkan loader (vulkaninfo --summary)` };
  if (on(h.env.PERCEIVER_NO_DRIVER_SETUP)) return { kind: 'cannot', why: `automatic driver set-up is off (PERCEIVER_NO_DRIVER_SETUP); ${MANUAL}` };
  if (on(h.env.CI) && !on(h.env.PERCEIVER_DRIVER_SETUP)) return { kind: 'cannot', why: `in CI (CI is set) nothing is installed implicitly; run bash .ci/install-vulkan.sh as a step, or set PERCEIVER_DRIVER_SETUP=1` };
  if (h.platform !== 'linux') return { kind: 'cannot', why: `automatic set-up installs Mesa's lavapipe on Debian/Ubuntu Linux only (this is ${h.platform}); install your GPU's driver` };
  if (!h.has('apt-get')) return { kind: 'cannot', why: `automatic set-up needs apt-get (Debian/Ubuntu); ${MANUAL}` };
  if (!h.exists(INSTALL_SCRIPT)) return { kind: 'cannot', why: `the installer ${INSTALL_SCRIPT} is not here (run from a clone of the repository); ${MANUAL}` };
  if (h.isRoot) return { kind: 'install', command: 'bash', args: [INSTALL_SCRIPT] };
  if (h.has('sudo') && h.passwordlessSudo()) return { kind: 'install', command: 'sudo', args: ['-n', 'bash', INSTALL_SCRIPT] };
  return { kind: 'cannot', why: `installing a driver needs root (this process is not root and sudo asks for a password): run sudo bash .ci/install-vulkan.sh, then this command again` };
}

/** The real machine. */
export function nodeHost(): SetupHost {
  const has = (command: string) => spawnSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' }).status === 0;
  return {
    platform: process.platform,
    env: process.env,
    isRoot: typeof process.getuid === 'function' && process.getuid() === 0,
    passwordlessSudo: () => spawnSync('sudo', ['-n', 'true'], { stdio: 'ignore' }).status === 0,
    has,
    exists: existsSync,
    run: (command, args) => spawnSync(command, args, { stdio: 'inherit' }).status ?? 1,
    log: (line) => console.error(line),
  };
}

const NO_ADAPTER = /^No WebGPU adapter/;

/**
 * `getGpu()` (nodeGpu by default); when it finds no adapter, the plan above,
 * then `getGpu()` again with VK_ICD_FILENAMES set to lavapipe.
 */
export async function setupNodeGpu(getGpu?: () => Promise<Gpu>, host: SetupHost = nodeHost()): Promise<Gpu> {
  const get = getGpu ?? (async () => (await import('../engine/node.ts')).nodeGpu());
  try {
    return await get();
  } catch (e) {
    if (!(e instanceof Error) || !NO_ADAPTER.test(e.message)) throw e;
    const plan = planDriverSetup(host);
    if (plan.kind === 'cannot') throw new Error(`No WebGPU adapter found, and no driver was installed: ${plan.why}`);
    if (plan.kind === 'install') {
      host.log(
        'perceiver-io: no WebGPU adapter found: this machine has no GPU driver that Dawn (WebGPU for Node) can use.\n' +
          `perceiver-io: installing Mesa's lavapipe, a software Vulkan driver that runs WebGPU on the CPU: ${[plan.command, ...plan.args].join(' ')}\n` +
          '  (apt-get install mesa-vulkan-drivers, from bookworm-backports on Debian 12; set PERCEIVER_NO_DRIVER_SETUP=1 to never do this)',
      );
      const status = host.run(plan.command, plan.args);
      if (status !== 0) throw new Error(`No WebGPU adapter found, and installing lavapipe failed (${[plan.command, ...plan.args].join(' ')} exited with ${status}); ${MANUAL}`);
      if (!host.exists(LAVAPIPE_ICD)) throw new Error(`the driver install finished but ${LAVAPIPE_ICD} is missing; ${MANUAL}`);
    }
    host.env.VK_ICD_FILENAMES = LAVAPIPE_ICD;
    host.log(`perceiver-io: using lavapipe (VK_ICD_FILENAMES=${LAVAPIPE_ICD}); export it to skip this step next time`);
    return await get();
  }
}
