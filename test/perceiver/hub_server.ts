// A stand-in for the HuggingFace hub on 127.0.0.1, serving
// ../shared/golden-hf laid out as the hub does: /{owner}/{name}/resolve/{rev}/{file}.
// Repositories (each one golden-hf folder):
//   deepmind/vision-perceiver-learned   imagenet_learned, as is
//   test/conv-bin                       imagenet_conv with model.safetensors missing (404): the .bin fallback
//   test/redirect                       imagenet_fourier, every file through a 302 to /cdn/...
//   test/cut                            optical_flow; while `cut` is set, model.safetensors stops half way
//                                       (the connection is destroyed after half its content-length)
// plus `virtual` repositories: file name -> bytes (e.g. a sharded checkpoint made by the test).
// Every request path is logged.

import { createServer, type Server } from 'node:http';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';

export interface HubServer {
  endpoint: string;
  log: string[];
  /** cut model.safetensors of test/cut half way */
  cut: boolean;
  close(): Promise<void>;
}

export const REPOS: Record<string, { folder: string; hide?: string[]; redirect?: boolean }> = {
  'deepmind/vision-perceiver-learned': { folder: 'imagenet_learned' },
  'test/conv-bin': { folder: 'imagenet_conv', hide: ['model.safetensors'] },
  'test/redirect': { folder: 'imagenet_fourier', redirect: true },
  'test/cut': { folder: 'optical_flow' },
};

const FILES = /^(config\.json|model\.safetensors|model\.safetensors\.index\.json|pytorch_model\.bin)$/;

export async function startHub(
  hfDir: string,
  opts: { cors?: boolean; extra?: (path: string) => { type: string; body: Uint8Array | string } | null; virtual?: Record<string, Record<string, Uint8Array>> } = {},
): Promise<HubServer> {
  const state = { cut: false };
  const log: string[] = [];
  const server: Server = createServer((req, res) => {
    const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    log.push(path);
    if (opts.cors) res.setHeader('access-control-allow-origin', '*');
    const extra = opts.extra?.(path);
    if (extra) {
      res.writeHead(200, { 'content-type': extra.type });
      return res.end(extra.body);
    }
    const send = (folder: string, file: string, cut: boolean) => {
      const p = join(hfDir, folder, file);
      if (!FILES.test(file) || !existsSync(p)) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return res.end('Entry not found');
      }
      const body = readFileSync(p);
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
      if (!cut) return res.end(body);
      res.write(body.subarray(0, body.length >> 1), () => setTimeout(() => res.destroy(), 20));
    };
    const cdn = /^\/cdn\/([a-z_]+)\/([^/]+)$/.exec(path);
    if (cdn) return send(cdn[1], cdn[2], false);
    const m = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/([^/]+)$/.exec(path);
    const v = m && opts.virtual?.[m[1]];
    if (v) {
      const body = m[2] === 'main' ? v[m[3]] : undefined;
      if (!body) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        return res.end('Entry not found');
      }
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(body.length) });
      return res.end(body);
    }
    const repo = m && REPOS[m[1]];
    if (!m || !repo || m[2] !== 'main' || repo.hide?.includes(m[3])) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      return res.end('Entry not found');
    }
    if (repo.redirect) {
      res.writeHead(302, { location: `/cdn/${repo.folder}/${m[3]}` });
      return res.end();
    }
    send(repo.folder, m[3], state.cut && m[1] === 'test/cut' && m[3] === 'model.safetensors');
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    log,
    get cut() {
      return state.cut;
    },
    set cut(v: boolean) {
      state.cut = v;
    },
    close: () => new Promise<void>((ok) => server.close(() => ok())),
  };
}
