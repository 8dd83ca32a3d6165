#!/usr/bin/env bash
# Generation speed of dense bf16, int8 and block-sparse int8 weights, side by side in one run:
# bench-generate on the default config and small, at 1 and 16 sequences. Sparse figures use
# random weights pruned to SPARSITY of their 16x4 blocks (frame tiers and the sample tier's
# hidden layers), as `train --sparsity ... --prune_sample_tier True` leaves them, and once with
# the sample tier left dense (the training default). Prints the measured samples/s and, for
# the roofline, the weight megabytes streamed per sample.
#
#   bench/compare-sparse.sh          (THREADS=2, SPARSITY=0.9, REPS=3)
set -euo pipefail
cd "$(dirname "$0")/.."
threads=${THREADS:-2}
sparsity=${SPARSITY:-0.9}
reps=${REPS:-3}
bin=build/bench/bench-generate
[ -x "$bin" ] || { echo "compare-sparse: build first (scripts/build.sh)" >&2; exit 2; }
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD) cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' threads $threads"
for config in default small; do
  for seqs in 1 16; do
    for w in "fp32" "bf16" "int8" "bf16 --sparsity $sparsity" "int8 --sparsity $sparsity" \
             "int8 --sparsity $sparsity --prune_sample_tier False"; do
      # shellcheck disable=SC2086
      "$bin" --config "$config" --num_seqs "$seqs" --threads "$threads" --reps "$reps" --weights $w
    done
  done
done
