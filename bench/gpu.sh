#!/usr/bin/env bash
# The kernel and model benchmarks on a real GPU, through Dawn's Node binding
# (the `webgpu` package) on the Vulkan driver, written to one folder:
#   results.md    summary: adapter, kernel GFLOP/s and fraction of the fp32
#                 peak, TF.js ratio, the kernel ladders (every rung from the
#                 naive kernel to the shipped one, bench:ladder), seconds per
#                 forward per preset (the
#                 multimodal-autoencoder row is the full 16-frame
#                 reconstruction), bench:reference errors
#   results.json  everything, including each step's raw JSON
#   log.txt       every step's output
#
# Usage (from anywhere; it runs in the repository root):
#   bench/gpu.sh [--out DIR] [--peak-gflops N] [--models P,P|all] [--icd FILE]
#                [--gl-debs DIR] [--no-install] [--no-profile] [--tiny] [--from-pack DIR]
#   bench/gpu.sh --pack DIR
#
#   --out DIR          where the three files go (default out/gpu-bench/<UTC time>)
#   --peak-gflops N    the GPU's fp32 (non-tensor-core) peak, GFLOP/s, for the
#                      "of fp32 peak" column. Default from nvidia-smi's name:
#                      H100/H200 SXM 67000 (H100 PCIe 51000); else none.
#                      PEAK_GFLOPS in the environment does the same.
#   --models LIST      presets for `npm run bench` (default all six)
#   --icd FILE         a Vulkan ICD json for the loader (sets VK_ICD_FILENAMES
#                      and VK_DRIVER_FILES), e.g. lavapipe's
#                      /usr/share/vulkan/icd.d/lvp_icd.json for a dry run on a
#                      machine without a GPU. Without it, NVIDIA's ICD under
#                      /usr/local/nvidia/share/vulkan/icd.d is used when the
#                      loader's standard folders have none.
#   --gl-debs DIR      unpack the .deb files in DIR into / first (root only),
#                      for a machine without a Vulkan loader (libvulkan.so.1);
#                      see below
#   --no-install       never run `npm ci` (node_modules must be there)
#   --no-profile       leave out the profiled pass of each model
#   --tiny             a dry run of every step at toy sizes (kernels: --quick
#                      --only latent; ladders: --quick; models: reduced by --overrides and
#                      --subset; reference: the built-in set without --full).
#                      Its numbers mean nothing; it proves the pipeline works.
#   --pack DIR         (on a machine with Node, node_modules, xz and apt) write a
#                      self-contained kit for an OFFLINE GPU machine without
#                      Node: DIR/node.xz (this Node binary), DIR/app.tar.xz (the
#                      benchmarks bundled by esbuild, the built-in fixtures,
#                      Dawn's linux-x64 binding), DIR/gl/libvulkan1*.deb (the
#                      Vulkan loader). About 35 MB. A node.xz already in DIR is
#                      kept. Then exit.
#   --from-pack DIR    run from such a kit instead of the source tree: Node and
#                      the app are unpacked under /tmp, the loader debs are
#                      unpacked when there is no loader (root), and no npm is
#                      needed. E.g. with this workplace's device tool:
#                        here:  bench/gpu.sh --pack .gpu-pack
#                        there: bench/gpu.sh --from-pack .gpu-pack --out $OUT
#                               (carry .gpu-pack; it is gitignored)
#
# Needs: Node >= 20 (and npm, unless node_modules is present), a Vulkan
# loader and driver. Steps: system checks (nvidia-smi, vulkaninfo, the
# loader), `npm ci` if node_modules is missing, the WGSL build step, bench/adapter.ts
# on the adapter Dawn picks (a software adapter on a machine with an NVIDIA
# GPU is an error: the ICD is wrong), then bench:kernels --json
# --native-gflops PEAK, bench:ladder --json for attention and matmul (every
# rung at the models' full shapes), bench --model P --json --profile for each preset,
# bench:reference --full --json, and bench/gpu-report.ts. A failed step is
# logged and reported; the others still run. Exit status: 0 when every step
# ran, 1 otherwise.
#
# Offline machines without a Vulkan loader (e.g. a container with only the
# NVIDIA driver mounted): on a machine with apt and the network, in the repo
# root,
#   mkdir -p .gl && (cd .gl && apt-get download libvulkan1)
# carry .gl along, and pass --gl-debs .gl.

set -u
cd "$(dirname "$0")/.."

OUT=""
PEAK="${PEAK_GFLOPS:-}"
MODELS="all"
ICD=""
GL_DEBS=""
INSTALL=1
PROFILE=1
TINY=0
PACK=""
FROM_PACK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="$2"; shift 2 ;;
    --peak-gflops) PEAK="$2"; shift 2 ;;
    --models) MODELS="$2"; shift 2 ;;
    --icd) ICD="$2"; shift 2 ;;
    --gl-debs) GL_DEBS="$2"; shift 2 ;;
    --no-install) INSTALL=0; shift ;;
    --no-profile) PROFILE=0; shift ;;
    --tiny) TINY=1; shift ;;
    --pack) PACK="$2"; shift 2 ;;
    --from-pack) FROM_PACK="$2"; shift 2 ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | grep '^#' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gpu.sh: unknown argument $1 (--help)" >&2; exit 2 ;;
  esac
done

# --- the offline kit -----------------------------------------------------
if [ -n "$PACK" ]; then
  set -e
  mkdir -p "$PACK"
  APPTMP="$(mktemp -d)"
  npx tsx kernels/build.ts
  npx esbuild bench/adapter.ts bench/kernels.ts bench/ladder.ts bench/model.ts bench/reference.ts bench/gpu-report.ts --bundle --platform=node \
    --format=esm --target=node20 --outdir="$APPTMP" --out-extension:.js=.mjs --external:webgpu --log-level=warning \
    --banner:js="import { createRequire as __createRequire } from 'node:module'; const require = __createRequire(import.meta.url);"
  cp -r bench/fixtures "$APPTMP/fixtures"
  # The launcher: `node run.mjs NAME ARGS` runs NAME.mjs with ARGS. Running a
  # bundle directly would make the modules that start themselves when invoked
  # directly (tools/convert.ts, bundled into reference.mjs) think they were.
  printf '%s\n' 'const name = process.argv.splice(2, 1)[0];' 'await import(`./${name}.mjs`);' > "$APPTMP/run.mjs"
  mkdir -p "$APPTMP/node_modules/webgpu/dist"
  cp node_modules/webgpu/package.json node_modules/webgpu/index.js "$APPTMP/node_modules/webgpu/"
  cp -r node_modules/webgpu/dist/linux-x64 "$APPTMP/node_modules/webgpu/dist/"
  tar -cJf "$PACK/app.tar.xz" -C "$APPTMP" .
  rm -rf "$APPTMP"
  [ -f "$PACK/node.xz" ] || xz -T0 -6 -c "$(command -v node)" > "$PACK/node.xz"
  mkdir -p "$PACK/gl"
  ls "$PACK"/gl/libvulkan1*.deb > /dev/null 2>&1 || (cd "$PACK/gl" && apt-get download libvulkan1) \
    || echo "gpu.sh: could not download libvulkan1 (the kit works where a Vulkan loader is installed)" >&2
  du -sh "$PACK"/*
  exit 0
fi

OUT="${OUT:-out/gpu-bench/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$OUT"
PARTS="$(mktemp -d)"
trap 'rm -rf "$PARTS"' EXIT
LOG="$OUT/log.txt"
: > "$LOG"
FAILED=0

say() { echo "== $*" | tee -a "$LOG"; }
# step NAME OUTFILE COMMAND...: runs COMMAND, stdout to OUTFILE (when given), stderr and status to the log.
step() {
  local name="$1" outfile="$2"; shift 2
  say "$name: $*"
  local t0=$SECONDS rc
  if [ -n "$outfile" ]; then
    "$@" > "$outfile" 2>> "$LOG"; rc=$?
    tail -c 2000 "$outfile" >> "$LOG"; echo >> "$LOG"
  else
    "$@" >> "$LOG" 2>&1; rc=$?
  fi
  if [ $rc -ne 0 ]; then FAILED=1; say "$name: FAILED (exit $rc) after $((SECONDS - t0)) s"; else say "$name: done in $((SECONDS - t0)) s"; fi
  return $rc
}

# --- system -------------------------------------------------------------
SYS="$PARTS/system.txt"
{
  echo "host: $(uname -srm), $(nproc) CPUs"
  [ -n "$FROM_PACK" ] || echo "node: $(node --version 2>/dev/null || echo missing)"
} > "$SYS"
GPU_NAME=""
if command -v nvidia-smi > /dev/null; then
  GPU_NAME="$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null | head -1)"
  echo "nvidia-smi: ${GPU_NAME:-failed}" >> "$SYS"
else
  echo "nvidia-smi: not found" >> "$SYS"
fi
if [ -z "$GL_DEBS" ] && [ -n "$FROM_PACK" ] && [ "$(id -u)" = 0 ] && ls "$FROM_PACK"/gl/*.deb > /dev/null 2>&1 \
    && ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  GL_DEBS="$FROM_PACK/gl"
fi
if [ -n "$GL_DEBS" ]; then
  if [ "$(id -u)" != 0 ]; then echo "gpu.sh: --gl-debs needs root (dpkg -x into /)" >&2; exit 2; fi
  for f in "$GL_DEBS"/*.deb; do dpkg -x "$f" /; done
  ldconfig
fi
if ! ldconfig -p 2>/dev/null | grep -q 'libvulkan\.so\.1'; then
  echo "gpu.sh: no Vulkan loader (libvulkan.so.1): install libvulkan1, or see --gl-debs in --help" | tee -a "$SYS" >&2
fi
if [ -n "$ICD" ]; then
  [ -f "$ICD" ] || { echo "gpu.sh: --icd $ICD: no such file" >&2; exit 2; }
  export VK_ICD_FILENAMES="$ICD" VK_DRIVER_FILES="$ICD"
elif [ -z "${VK_ICD_FILENAMES:-}${VK_DRIVER_FILES:-}" ] && ! ls /usr/share/vulkan/icd.d/nvidia_icd*.json /etc/vulkan/icd.d/nvidia_icd*.json > /dev/null 2>&1 \
    && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_ICD_FILENAMES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
echo "Vulkan ICD: ${VK_ICD_FILENAMES:-loader default}" >> "$SYS"
if command -v vulkaninfo > /dev/null; then
  vulkaninfo --summary 2>/dev/null | grep -E 'deviceName|driverName|driverInfo|apiVersion' | sed 's/^[[:space:]]*/vulkaninfo: /' >> "$SYS"
fi
if [ -z "$PEAK" ]; then
  case "$GPU_NAME" in
    *H100*PCIe*) PEAK=51000 ;;
    *H100*|*H200*) PEAK=67000 ;;
  esac
fi
echo "fp32 peak: ${PEAK:-none} GFLOP/s" >> "$SYS"
cat "$SYS" | tee -a "$LOG"

if [ -n "$FROM_PACK" ]; then
  APP=/tmp/perceiver-gpu-app
  rm -rf "$APP" && mkdir -p "$APP/bin"
  tar -xJf "$FROM_PACK/app.tar.xz" -C "$APP"
  xz -dc "$FROM_PACK/node.xz" > "$APP/bin/node" && chmod +x "$APP/bin/node"
  export PATH="$APP/bin:$PATH"
  echo "node: $(node --version) (from $FROM_PACK)" >> "$SYS"
  # run_bench NAME ARGS...: bench/NAME.ts, here as the kit's bundle
  run_bench() { node "$APP/run.mjs" "$@"; }
else
  run_bench() { local name="$1"; shift; npx tsx "bench/$name.ts" "$@"; }
fi

node -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)' 2> /dev/null \
  || { echo "gpu.sh: needs Node >= 20 on PATH (found: $(node --version 2>/dev/null || echo none))" | tee -a "$LOG" >&2; exit 2; }

# --- install and build --------------------------------------------------
if [ -z "$FROM_PACK" ] && [ ! -d node_modules/webgpu ]; then
  if [ $INSTALL = 1 ]; then step "npm ci" "" npm ci || exit 1
  else echo "gpu.sh: node_modules is missing and --no-install was given" | tee -a "$LOG" >&2; exit 2; fi
fi
[ -n "$FROM_PACK" ] || step "WGSL build" "" npx tsx kernels/build.ts || exit 1

# --- the adapter Dawn picks ---------------------------------------------
ADAPTER="$(run_bench adapter 2>> "$LOG")"   # bench/adapter.ts: NAME | features: ... | software: yes|no
say "adapter: ${ADAPTER:-none found}"
echo "Dawn adapter: $ADAPTER" >> "$SYS"
if [ -z "$ADAPTER" ]; then echo "gpu.sh: Dawn found no WebGPU adapter (Vulkan driver / ICD?); see $LOG" | tee -a "$LOG" >&2; exit 1; fi
if [ -n "$GPU_NAME" ] && [[ "$ADAPTER" == *"| software: yes" ]]; then
  echo "gpu.sh: this machine has an NVIDIA GPU but Dawn picked a software adapter; point --icd at nvidia_icd.json" | tee -a "$LOG" >&2
  exit 1
fi

# --- benchmarks ---------------------------------------------------------
if [ $TINY = 1 ]; then
  KERNEL_ARGS=(--quick --only latent)
  LADDER_ARGS=(--quick)
  MODEL_ARGS=(--subset --overrides '{"num_latents":16,"latent_channels":32,"num_blocks":1,"num_self_attends_per_block":1,"num_self_attention_heads":2}')
  REF_ARGS=()
else
  KERNEL_ARGS=()
  LADDER_ARGS=()
  MODEL_ARGS=()
  REF_ARGS=(--full)
fi
[ -n "$PEAK" ] && KERNEL_ARGS+=(--native-gflops "$PEAK")
[ $PROFILE = 1 ] && MODEL_ARGS+=(--profile)

step "bench:kernels" "$PARTS/kernels.json" run_bench kernels --json "${KERNEL_ARGS[@]}"
for k in attention matmul; do
  step "bench:ladder $k" "$PARTS/ladder-$k.json" run_bench ladder "$k" --json "${LADDER_ARGS[@]}"
done
if [ "$MODELS" = all ]; then
  MODELS="$(run_bench model --help | sed -n 's/^presets: //p' | tr -d ' ')"
fi
for m in ${MODELS//,/ }; do
  step "bench --model $m" "$PARTS/model-$m.json" run_bench model --model "$m" --json "${MODEL_ARGS[@]}"
done
step "bench:reference" "$PARTS/reference.json" run_bench reference --json "${REF_ARGS[@]}"

NOTE=""
[ $TINY = 1 ] && NOTE="--tiny dry run: toy sizes, the numbers mean nothing"
step "report" "" run_bench gpu-report --parts "$PARTS" --out "$OUT" --peak-gflops "$PEAK" --gpu "$GPU_NAME" --note "$NOTE"
say "results: $OUT/results.md, $OUT/results.json, $OUT/log.txt"
exit $FAILED
