#!/usr/bin/env bash
# On a GPU machine: builds against its CUDA LibTorch, runs the whole test suite, then times
# training (fp32, bf16, fp16) and generation (the CUDA engine, 1 to 1024 sequences) against
# the Python reference on the same GPU, and writes the logs into OUT. Each step's exit status is kept in OUT/status.txt; a failed step does not
# stop the later ones.
#
#   scripts/gpu-check.sh OUT
#   DEPS=.gpu/deps REFERENCE=.gpu/samplernn_reference.py scripts/gpu-check.sh OUT
#
# DEPS: .deb files from `scripts/cuda-deps.sh download`, unpacked into DEPS_PREFIX (default
# /opt/srnn-deps) first, for a machine without Debian's archive. REFERENCE: the reference
# script (default ../shared/reference/samplernn_reference.py). REPS: benchmark repetitions (3).
# ONLY: the steps to run, of "deps build cuda-tests cuda-engine-tests ctest bench-train
# bench-generate" (default all), to split the work over calls of limited length; a build
# step that is left out reuses build-cuda/, and a later call names the unpacked libraries
# with DEPS_PREFIX instead of DEPS.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
out=${1:?usage: scripts/gpu-check.sh OUT}
mkdir -p "$out"
: >"$out/status.txt"
step() {  # step NAME LOG COMMAND...: runs COMMAND with its output in OUT/LOG
  local name=$1 log=$2 start=$SECONDS rc=0
  shift 2
  if [ -n "${ONLY:-}" ] && [[ " $ONLY " != *" $name "* ]]; then return 0; fi
  echo "== $name"
  "$@" >"$out/$log" 2>&1 || rc=$?
  echo "$name: exit $rc, $((SECONDS - start)) s" | tee -a "$out/status.txt"
  tail -n 5 "$out/$log"
  return "$rc"
}
nvidia-smi >"$out/gpu.txt" 2>&1 || echo "warning: nvidia-smi failed" >&2
if [ -n "${DEPS:-}" ]; then
  export DEPS_PREFIX=${DEPS_PREFIX:-/opt/srnn-deps}
  step deps deps.log scripts/cuda-deps.sh unpack "$DEPS" "$DEPS_PREFIX" || exit 1
fi
step build build.log scripts/build-cuda.sh || exit 1
# shellcheck disable=SC1091
[ -n "${DEPS_PREFIX:-}" ] && source "$DEPS_PREFIX/env.sh"
step cuda-tests cuda-tests.log build-cuda/tests/test-cuda
step cuda-engine-tests cuda-engine-tests.log build-cuda/tests/test-cuda-engine
# No Chromium there (no Debian archive): the report's browser test is the one left out.
step ctest ctest.log env SRNN_SKIP_BROWSER=1 ctest --test-dir build-cuda -j "$(($(nproc) / 2))" --output-on-failure --timeout 900
export REFERENCE=${REFERENCE:-../shared/reference/samplernn_reference.py}
step bench-train bench-train.log env DEVICE=cuda BIN=build-cuda/bench/bench-train PYTHON=python3 \
  bench/compare-train.sh "${REPS:-3}"
step bench-generate bench-generate.log env DEVICE=cuda BIN=build-cuda/bench/bench-generate PYTHON=python3 \
  bench/compare-generate.sh "${REPS:-3}"
cat "$out/status.txt"
