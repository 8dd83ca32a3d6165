#!/usr/bin/env bash
# Training speed of samplernn against the Python reference, side by side in one run.
#
#   bench/compare-train.sh [repetitions]      (default 5; needs scripts/install-deps.sh --bench)
#
# For each benchmark config (small at batch 16, default at batch 4) it alternates the two
# programs, each doing one warm-up step and STEPS timed steps per repetition, on one thread,
# with the same BLAS library and kernels (OPENBLAS_CORETYPE, default SkylakeX when the CPU
# has AVX-512, else Haswell; pass OPENBLAS_CORETYPE= to keep OpenBLAS's own choice).
# Prints one line per config: median sec/step of each, spread (min-max), and the speed ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
steps=${STEPS:-2}
ref=${REFERENCE:-../shared/reference/samplernn_reference.py}
bin=build/bench/bench-train
[ -x "$bin" ] || { echo "compare-train: build first (scripts/build.sh)" >&2; exit 2; }
[ -f "$ref" ] || { echo "compare-train: reference '$ref' not found (set REFERENCE=)" >&2; exit 2; }
if [ -z "${OPENBLAS_CORETYPE+x}" ]; then
  if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD) cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' threads 1 OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}"
for spec in small:16 default:4; do
  config=${spec%:*} batch=${spec#*:}
  for ((r = 1; r <= reps; r++)); do
    "$bin" --config "$config" --batch_size "$batch" --steps "$steps" --threads 1 | sed 's/^/samplernn /' >> "$out"
    /usr/bin/python3 "$ref" --config "$config" --what train --batch_size "$batch" --steps "$steps" --threads 1 |
      sed 's/^/reference /' >> "$out"
  done
done
/usr/bin/python3 - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    d = json.loads(js)
    rows.setdefault((d["config"], d["batch_size"]), {}).setdefault(who, []).append(d["sec_per_step"])
for (config, batch), r in rows.items():
    s, p = r["samplernn"], r["reference"]
    ms, mp = statistics.median(s), statistics.median(p)
    print(f"{config:8s} batch {batch:2d}: samplernn {ms:.3f} s/step ({min(s):.3f}-{max(s):.3f}), "
          f"reference {mp:.3f} s/step ({min(p):.3f}-{max(p):.3f}), ratio {mp / ms:.2f}x  [{len(s)} reps]")
PY
