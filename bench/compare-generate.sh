#!/usr/bin/env bash
# Generation speed of the samplernn engine against the Python reference, in one run.
#
#   bench/compare-generate.sh [repetitions]     (default 5)
#   WEIGHTS="fp32 bf16" THREADS=1 bench/compare-generate.sh 3
#   DEVICE=cuda BIN=build-cuda/bench/bench-generate PYTHON=python3 bench/compare-generate.sh 3
#   TF_PYTHON=.venv-tf/bin/python THREADS=1 bench/compare-generate.sh 3  # PRiSM's TensorFlow too
#
# For each (config, num_seqs) of the benchmark table and each of WEIGHTS (default fp32),
# runs bench-generate (warm-up + repetitions, median) and the reference (`--what generate`,
# one warm-up, one timed run per repetition; bf16 weights against its --amp bf16), both on
# THREADS threads (default: all cores), and prints samples/s summed over sequences, with the
# ratio. The reference runs under PYTHON (default the project's venv). DEVICE=cuda runs the
# CUDA engine and the reference's --device cuda at 1, 16, 128 and 1024 sequences. TF_PYTHON
# adds PRiSM's generation in TensorFlow (bench/tf_reference.py: one big frame per call of a
# tf.function with an unrolled per-sample loop, as generate.py runs it; fp32, CPU) on the
# reference's number of samples.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
threads=${THREADS:-$(nproc)}
device=${DEVICE:-cpu}
ref=${REFERENCE:-../shared/reference/samplernn_reference.py}
bin=${BIN:-build/bench/bench-generate}
python=${PYTHON:-.venv/bin/python}
weights_list=${WEIGHTS:-fp32}
[ -x "$bin" ] || { echo "compare-generate: build first (scripts/build.sh, or scripts/build-cuda.sh and BIN=)" >&2; exit 2; }
[ -f "$ref" ] || { echo "compare-generate: reference '$ref' not found (set REFERENCE=)" >&2; exit 2; }
gpu=""
[ "$device" = cpu ] || gpu=" gpu '$( (nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null || echo unknown) | head -n 1)'"
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD 2>/dev/null || echo '?') cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)'$gpu device $device samplernn threads $threads"
# config, sequences, samples per sequence for samplernn and for the reference
specs=("small 1 32768 4096" "small 16 16384 2048" "default 1 4096 1024" "default 16 1024 256")
if [ "$device" != cpu ]; then
  specs=("small 1 65536 2048" "small 16 16384 1024" "small 128 8192 512" "small 1024 4096 256"
         "default 1 16384 1024" "default 16 8192 512" "default 128 4096 256" "default 1024 2048 128")
fi
for spec in "${specs[@]}"; do
  set -- $spec
  config=$1 n=$2 ours_dur=$3 ref_dur=$4
  for weights in $weights_list; do
    amp=none
    [ "$weights" = bf16 ] && amp=bf16
    mine=$("$bin" --config "$config" --num_seqs "$n" --dur_samples "$ours_dur" --threads "$threads" --reps "$reps" \
      --device "$device" --weights "$weights")
    rates=()
    for ((r = 1; r <= reps; r++)); do
      rates+=("$("$python" "$ref" --config "$config" --what generate --num_seqs "$n" --dur_samples "$ref_dur" \
        --threads "$threads" --device "$device" --amp "$amp" 2>/dev/null |
        "$python" -c 'import json,sys; print(json.load(sys.stdin)["samples_per_sec"])')")
    done
    tf_rates=()
    if [ -n "${TF_PYTHON:-}" ] && [ "$device" = cpu ] && [ "$weights" = fp32 ]; then
      for ((r = 1; r <= reps; r++)); do
        tf_rates+=("$("$TF_PYTHON" bench/tf_reference.py --config "$config" --what generate --num_seqs "$n" \
          --dur_samples "$ref_dur" --threads "$threads" 2>/dev/null |
          "$python" -c 'import json,sys; print(json.load(sys.stdin)["samples_per_sec"])')")
      done
    fi
    "$python" - "$mine" "$weights" "$amp" "${tf_rates[*]:-}" "${rates[@]}" <<'PY'
import json, statistics, sys
m = json.loads(sys.argv[1]); weights, amp = sys.argv[2], sys.argv[3]; ref = [float(x) for x in sys.argv[5:]]
tf_rates = [float(x) for x in sys.argv[4].split()]
r = statistics.median(ref)
line = (f"{m['config']:8s} num_seqs {m['num_seqs']:4d} {weights}: samplernn {m['samples_per_sec']:9.0f} samples/s "
        f"({m['min']:.0f}-{m['max']:.0f}, peak {m['peak_rss_mb']:.0f} MB), reference (amp {amp}) {r:9.0f} "
        f"({min(ref):.0f}-{max(ref):.0f}), ratio {m['samples_per_sec'] / r:.1f}x")
if tf_rates:
    t = statistics.median(tf_rates)
    line += f"; tensorflow {t:.0f} ({min(tf_rates):.0f}-{max(tf_rates):.0f}), ratio {m['samples_per_sec'] / t:.1f}x"
print(line)
PY
  done
done
