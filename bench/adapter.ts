// npm run bench:adapter: one line about the adapter the engine gets from Dawn
// here, as bench/gpu.sh records it before benchmarking:
//
//   NAME | features: f16 subgroups timestamps | software: yes|no
//
// "software" is the engine's own test (gpu.features.emulated: lavapipe,
// SwiftShader, WARP, or any fallback adapter). Exits 1 with the reason on
// stderr when there is no adapter.

import { setupNodeGpu } from '../tools/setup-driver.ts';

try {
  const gpu = await setupNodeGpu();
  const f = gpu.features;
  const features = (['f16', 'subgroups', 'timestamps'] as const).filter((k) => f[k]).join(' ') || 'none';
  console.log(`${gpu.adapterName} | features: ${features} | software: ${f.emulated ? 'yes' : 'no'}`);
  gpu.destroy();
} catch (e) {
  console.error((e as Error).message);
  process.exit(1);
}
