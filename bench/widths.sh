#!/usr/bin/env bash
# The subgroup attention kernel at every subgroup width lavapipe offers.
# llvmpipe's subgroup size follows LP_NATIVE_VECTOR_WIDTH (bits of its SIMD
# lanes of 32-bit values): 128, 256, 512, 1024, 2048 give 4, 8, 16, 32, 64
# lanes (GPUs use 8 to 64). At each width: the attention kernel tests (their
# subgroup cases included) and the golden set with the subgroup kernel
# forced (bench:reference --attention subgroups). Not part of CI (about 5
# minutes per width on the 2-core development machine).
#
#   bash bench/widths.sh [FIXTURES_DIR [STEM ...]]   (default: every fixture of ../shared/golden)
set -euo pipefail
cd "$(dirname "$0")/.."
export VK_ICD_FILENAMES=${VK_ICD_FILENAMES:-/usr/share/vulkan/icd.d/lvp_icd.json}
fixtures=${1:-../shared/golden}
shift || true
status=0
for width in 128 256 512 1024 2048; do
  export LP_NATIVE_VECTOR_WIDTH=$width
  lanes=$(npx tsx -e "import('./engine/node.ts').then(async ({ nodeGpu }) => { const g = await nodeGpu(); console.log(g.device.adapterInfo?.subgroupMinSize ?? '?', g.features.subgroups ? '' : '(no subgroups feature)'); g.destroy(); })" 2>/dev/null | tail -1)
  echo "=== LP_NATIVE_VECTOR_WIDTH=$width: subgroup size $lanes"
  npx tsx test/run.ts kernels/attention 2>&1 | grep -E '^tests:|FAIL' || status=1
  npm run --silent bench:reference -- --fixtures "$fixtures" "$@" --attention subgroups 2>&1 | grep -Ev '^Warning|^$' || status=1
done
exit $status
