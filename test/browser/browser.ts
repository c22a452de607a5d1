// Headless Chromium for the browser tests: Debian's chromium driven by
// playwright-core (which never downloads a browser), WebGPU on Chromium's
// built-in SwiftShader adapter, no network beyond 127.0.0.1, a fresh profile.

import { existsSync, mkdtempSync, rmSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { BrowserContext, Page } from 'playwright-core';

export const CHROMIUM = process.env.PERCEIVER_CHROMIUM ?? '/usr/bin/chromium';

/**
 * The flags that give WebGPU in headless Chromium without a GPU:
 * --enable-unsafe-webgpu exposes navigator.gpu (with a software adapter,
 * SwiftShader, reported as a fallback adapter: "google swiftshader").
 * The rest keep the browser off the network and quiet.
 */
export const CHROMIUM_ARGS = [
  '--enable-unsafe-webgpu',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--no-first-run',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--no-default-browser-check',
  '--disable-features=Translate,OptimizationHints,MediaRouter',
  '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
];

export const SCREENSHOTS = process.env.PERCEIVER_SCREENSHOTS ?? join(dirname(fileURLToPath(import.meta.url)), '../../out/screenshots');

/** Why the browser tests cannot run here, or null when they can. */
export function browserMissing(): string | null {
  if (!existsSync(CHROMIUM)) return `${CHROMIUM} is absent (apt-get install -y chromium, or set PERCEIVER_CHROMIUM)`;
  return null;
}

export interface Browser {
  context: BrowserContext;
  page: Page;
  /** console lines and page errors seen so far */
  log: string[];
  close(): Promise<void>;
}

export async function launch(): Promise<Browser> {
  const { chromium } = await import('playwright-core');
  const profile = mkdtempSync(join(tmpdir(), 'perceiver-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    viewport: { width: 1280, height: 900 },
    deviceScaleFactor: 1,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const log: string[] = [];
  page.on('console', (m) => log.push(`${m.type()}: ${m.text()}`));
  page.on('pageerror', (e) => log.push(`pageerror: ${e.message}`));
  mkdirSync(SCREENSHOTS, { recursive: true });
  return {
    context,
    page,
    log,
    async close() {
      await context.close().catch(() => {});
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
