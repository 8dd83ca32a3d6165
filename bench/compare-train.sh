#!/usr/bin/env bash
# Training speed of samplernn against the Python reference, side by side in one run.
#
#   bench/compare-train.sh [repetitions]      (default 5; needs scripts/install-deps.sh --bench)
#   DEVICE=cuda BIN=build-cuda/bench/bench-train PYTHON=python3 bench/compare-train.sh 3
#
# On the CPU, for each benchmark config (small at batch 16, default at batch 4) it alternates
# the two programs, each doing one warm-up step and STEPS timed steps per repetition, on one
# thread, with the same BLAS library and kernels (OPENBLAS_CORETYPE, default SkylakeX when
# the CPU has AVX-512, else Haswell; pass OPENBLAS_CORETYPE= to keep OpenBLAS's own choice).
# With DEVICE=cuda it does the same on the GPU at batch 64 (SPECS, default "default:64
# small:64") in fp32, bf16 and fp16 (PRECISIONS; the reference's --amp none|bf16|fp16), with
# both frameworks' TF32 defaults (off for cuBLAS, on for cuDNN). Prints one line per config
# and precision: median sec/step of each, spread (min-max), samples/s and the speed ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
steps=${STEPS:-2}
device=${DEVICE:-cpu}
ref=${REFERENCE:-../shared/reference/samplernn_reference.py}
bin=${BIN:-build/bench/bench-train}
python=${PYTHON:-/usr/bin/python3}
if [ "$device" = cpu ]; then
  specs=${SPECS:-small:16 default:4} precisions=${PRECISIONS:-fp32}
else
  specs=${SPECS:-default:64 small:64} precisions=${PRECISIONS:-fp32 bf16 fp16}
  steps=${STEPS:-10}
fi
[ -x "$bin" ] || { echo "compare-train: build first (scripts/build.sh, or scripts/build-cuda.sh and BIN=)" >&2; exit 2; }
[ -f "$ref" ] || { echo "compare-train: reference '$ref' not found (set REFERENCE=)" >&2; exit 2; }
if [ -z "${OPENBLAS_CORETYPE+x}" ]; then
  if grep -q avx512f /proc/cpuinfo; then export OPENBLAS_CORETYPE=SkylakeX; else export OPENBLAS_CORETYPE=Haswell; fi
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
gpu=""
[ "$device" = cpu ] || gpu=" gpu '$( (nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo unknown) | head -n 1)'"
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)'$gpu device $device threads 1 OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}"
for spec in $specs; do
  config=${spec%:*} batch=${spec#*:}
  for precision in $precisions; do
    amp=$precision
    [ "$amp" = fp32 ] && amp=none
    for ((r = 1; r <= reps; r++)); do
      "$bin" --config "$config" --batch_size "$batch" --steps "$steps" --threads 1 --device "$device" \
        --precision "$precision" | sed "s/^/samplernn $precision /" >> "$out"
      "$python" "$ref" --config "$config" --what train --batch_size "$batch" --steps "$steps" --threads 1 \
        --device "$device" --amp "$amp" | sed "s/^/reference $precision /" >> "$out"
    done
  done
done
"$python" - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, precision, js = line.split(" ", 2)
    d = json.loads(js)
    rows.setdefault((d["config"], d["batch_size"], precision, d["seq_len"]), {}).setdefault(who, []).append(d["sec_per_step"])
for (config, batch, precision, seq_len), r in rows.items():
    s, p = r["samplernn"], r["reference"]
    ms, mp = statistics.median(s), statistics.median(p)
    print(f"{config:8s} batch {batch:2d} {precision}: samplernn {ms:.4f} s/step ({min(s):.4f}-{max(s):.4f}, "
          f"{batch * seq_len / ms:,.0f} samples/s), reference {mp:.4f} s/step ({min(p):.4f}-{max(p):.4f}, "
          f"{batch * seq_len / mp:,.0f} samples/s), ratio {mp / ms:.2f}x  [{len(s)} reps]")
PY
