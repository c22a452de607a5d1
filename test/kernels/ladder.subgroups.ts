// Child process of test/kernels/ladder.test.ts: the subgroup rung of the
// attention ladder on odd shapes, with and without masks, on whatever
// adapter this process gets (the test starts it with LP_NATIVE_VECTOR_WIDTH
// set, which fixes lavapipe's subgroup width when its driver loads). Prints
// one JSON line: { adapter, subgroups, lanes, errors: [max rel error per case] }.

import { nodeGpu } from '../../engine/node.ts';
import { tuning } from '../../engine/tune.ts';
import { runLadder } from '../../bench/ladder-runner.ts';
import { LADDER_TEST_CASES } from './ladder.cases.ts';

const gpu = await nodeGpu();
tuning(gpu).enabled = false;
const errors: (number | string)[] = [];
if (gpu.features.subgroups) {
  // the cases without key splits: the split case's merge pass is the portable
  // kernel (no subgroups), and compiling it too at 64 lanes doubles the cost
  for (const c of LADDER_TEST_CASES.filter((x) => x.shape.Tk < 1024)) {
    const [r] = await runLadder(gpu, 'attention', c.shape, { masks: c.masks, only: ['subgroups'], sampleRows: Infinity, timed: false });
    errors.push(r.status === 'ok' ? r.maxRelError! : `${r.status}: ${r.reason}`);
  }
}
console.log(JSON.stringify({ adapter: gpu.adapterName, subgroups: gpu.features.subgroups, lanes: gpu.device.adapterInfo?.subgroupMinSize ?? null, errors }));
gpu.destroy();
