#!/usr/bin/env bash
# Training speed of samplernn against the Python reference, side by side in one run.
#
#   bench/compare-train.sh [repetitions]      (default 5)
#   THREADS="1 2" PRECISIONS="fp32 bf16" bench/compare-train.sh 3
#   BIN_B=build-debian/bench/bench-train PYTHON_B=/usr/bin/python3 bench/compare-train.sh 3
#   DEVICE=cuda BIN=build-cuda/bench/bench-train PYTHON=python3 bench/compare-train.sh 3
#   TF_PYTHON=.venv-tf/bin/python bench/compare-train.sh 3     # PRiSM's TensorFlow model too
#
# On the CPU, for each benchmark config (SPECS, default "small:16 default:4"), precision
# (PRECISIONS, default fp32; bf16 is autocast, the reference's --amp bf16) and thread count
# (THREADS, default 1; both sides get the same), it alternates the programs, each doing one
# warm-up step and STEPS timed steps per repetition. The reference runs under PYTHON (default
# the project's venv, whose PyTorch samplernn also builds against). BIN_B and PYTHON_B add a
# second samplernn build and a second Python (another LibTorch, another PyTorch) to the same
# alternation; each is reported against the reference. OpenBLAS, where a side uses it, gets
# the same kernels (OPENBLAS_CORETYPE, default SkylakeX when the CPU has AVX-512, else
# Haswell; pass OPENBLAS_CORETYPE= to keep OpenBLAS's own choice).
# With DEVICE=cuda it does the same on the GPU at batch 64 (SPECS, default "default:64
# small:64") in fp32, bf16 and fp16 (PRECISIONS; the reference's --amp none|bf16|fp16), with
# both frameworks' TF32 defaults (off for cuBLAS, on for cuDNN). Prints one line per config,
# precision and thread count: median sec/step of each, spread (min-max), samples/s and the
# speed ratio, then which BLAS each PyTorch uses. TF_PYTHON (a Python with TensorFlow and
# tf-keras: scripts/prism-fixtures.sh makes .venv-tf) adds PRiSM's Keras model in TensorFlow
# (bench/tf_reference.py, fp32 on the CPU) to the alternation, reported against the reference
# and against samplernn.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
steps=${STEPS:-2}
device=${DEVICE:-cpu}
ref=${REFERENCE:-../shared/reference/samplernn_reference.py}
bin=${BIN:-build/bench/bench-train}
python=${PYTHON:-.venv/bin/python}
threads_list=${THREADS:-1}
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
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)'$gpu device $device OPENBLAS_CORETYPE=${OPENBLAS_CORETYPE:-auto}"
for py in "$python" ${PYTHON_B:-}; do
  echo "# $py: $("$py" -c 'import torch, re; b = re.search(r"BLAS_INFO=(\w+)", torch.__config__.show()); print("PyTorch", torch.__version__, "BLAS", b.group(1) if b else "?", "oneDNN", torch.backends.mkldnn.is_available())')"
done
for spec in $specs; do
  config=${spec%:*} batch=${spec#*:}
  for precision in $precisions; do
    amp=$precision
    [ "$amp" = fp32 ] && amp=none
    for threads in $threads_list; do
      for ((r = 1; r <= reps; r++)); do
        for b in "$bin" ${BIN_B:-}; do
          who=samplernn
          [ "$b" = "$bin" ] || who=samplernn-b
          "$b" --config "$config" --batch_size "$batch" --steps "$steps" --threads "$threads" --device "$device" \
            --precision "$precision" | sed "s/^/$who $precision $threads /" >> "$out"
        done
        for py in "$python" ${PYTHON_B:-}; do
          who=reference
          [ "$py" = "$python" ] || who=reference-b
          "$py" "$ref" --config "$config" --what train --batch_size "$batch" --steps "$steps" --threads "$threads" \
            --device "$device" --amp "$amp" | sed "s/^/$who $precision $threads /" >> "$out"
        done
        if [ -n "${TF_PYTHON:-}" ] && [ "$device" = cpu ] && [ "$precision" = fp32 ]; then
          "$TF_PYTHON" bench/tf_reference.py --config "$config" --what train --batch_size "$batch" --steps "$steps" \
            --threads "$threads" 2>/dev/null | sed "s/^/tensorflow $precision $threads /" >> "$out"
        fi
      done
    done
  done
done
"$python" - "$out" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, precision, threads, js = line.split(" ", 3)
    d = json.loads(js)
    key = (d["config"], d["batch_size"], precision, int(threads), d["seq_len"])
    rows.setdefault(key, {}).setdefault(who, []).append(d["sec_per_step"])
for (config, batch, precision, threads, seq_len), r in rows.items():
    mp = statistics.median(r["reference"])
    for who, times in sorted(r.items()):
        m = statistics.median(times)
        ratio = f", ratio {mp / m:.2f}x" if who != "reference" else ""
        if who == "samplernn" and "tensorflow" in r:
            ratio += f", {statistics.median(r['tensorflow']) / m:.2f}x tensorflow"
        print(f"{config:8s} batch {batch:2d} {precision} threads {threads}: {who:12s} {m:.4f} s/step "
              f"({min(times):.4f}-{max(times):.4f}, {batch * seq_len / m:,.0f} samples/s){ratio}  [{len(times)} reps]")
PY
