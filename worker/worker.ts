// The worker script: serves the protocol of worker/protocol.ts on the
// dedicated worker's own scope, with a device from the worker's navigator.gpu.
// PerceiverWorker (worker/index.ts) starts it as
//   new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })
// Each task's code is a dynamic import made on that task's first load.

import { serve } from './serve.ts';
import type { Port } from './protocol.ts';

const Scope = (globalThis as { WorkerGlobalScope?: abstract new () => object }).WorkerGlobalScope;
if (!Scope || !(globalThis instanceof Scope)) {
  throw new Error("perceiver-io-webgpu/worker/script runs inside a Web Worker (new Worker(url, { type: 'module' })); elsewhere, serve(port) from worker/serve.ts serves a MessagePort");
}
void serve(globalThis as unknown as Port);
