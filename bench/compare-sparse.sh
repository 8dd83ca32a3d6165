#!/usr/bin/env bash
# Generation speed of dense bf16, int8 and block-sparse int8 weights, side by side in one run:
# bench-generate on the default config and small, at 1 and 16 sequences. Sparse figures use
# random weights pruned to SPARSITY of their 16x4 blocks (frame tiers and the sample tier's
# hidden layers), as `train --sparsity ... --prune_sample_tier True` leaves them, and once with
# the sample tier left dense (the training default). Prints the measured samples/s and, for
# the roofline, the weight megabytes streamed per sample. The Python reference
# (`--what generate`, fp32, the same thread count) runs in the same pass, REPS times, and each
# line closes with the ratio to its median. The reference runs under PYTHON (default the
# project's venv).
#
#   bench/compare-sparse.sh          (THREADS=2, SPARSITY=0.9, REPS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
sparsity=${SPARSITY:-0.9}
reps=${REPS:-3}
bin=build/bench/bench-generate
python=${PYTHON:-.venv/bin/python}
ref=${REFERENCE:-../shared/reference/samplernn_reference.py}
[ -x "$bin" ] || { echo "compare-sparse: build first (scripts/build.sh)" >&2; exit 2; }
[ -f "$ref" ] || { echo "compare-sparse: reference '$ref' not found (set REFERENCE=)" >&2; exit 2; }
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD) cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' threads $threads"
for config in default small; do
  for seqs in 1 16; do
    # The reference's samples per sequence: a few seconds a run.
    case "$config $seqs" in "default 1") ref_dur=1024 ;; "default 16") ref_dur=256 ;; "small 1") ref_dur=4096 ;; *) ref_dur=2048 ;; esac
    rates=()
    for ((r = 1; r <= reps; r++)); do
      rates+=("$("$python" "$ref" --config "$config" --what generate --num_seqs "$seqs" --dur_samples "$ref_dur" \
        --threads "$threads" | "$python" -c 'import json,sys; print(json.load(sys.stdin)["samples_per_sec"])')")
    done
    reference=$(printf '%s\n' "${rates[@]}" | sort -g | sed -n "$(((reps + 1) / 2))p")
    echo "{\"impl\": \"reference\", \"config\": \"$config\", \"num_seqs\": $seqs, \"threads\": $threads, \"samples_per_sec\": $reference}"
    for w in "fp32" "bf16" "int8" "bf16 --sparsity $sparsity" "int8 --sparsity $sparsity" \
             "int8 --sparsity $sparsity --prune_sample_tier False"; do
      # shellcheck disable=SC2086
      line=$("$bin" --config "$config" --num_seqs "$seqs" --threads "$threads" --reps "$reps" --weights $w)
      /usr/bin/python3 -c 'import json, sys
m = json.loads(sys.argv[1]); m["vs_reference"] = round(m["samples_per_sec"] / float(sys.argv[2]), 1); print(json.dumps(m))' \
        "$line" "$reference"
    done
  done
done
