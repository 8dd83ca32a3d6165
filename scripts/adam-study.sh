#!/usr/bin/env bash
# What Keras's Adam (epsilon after the bias correction, PRiSM's optimiser and samplernn's
# default) does against LibTorch's Adam, same epsilon 1e-4: the small config trained from
# scratch for STEPS steps with each, on the same data, seed and batches, both at once on one
# thread each, then held-out NLL of both on HELDOUT.
#
#   DATA_DIR=chunks HELDOUT=heldout-chunks scripts/adam-study.sh     # STEPS=2000: ~35 min on 2 cores
#
# Variables: DATA_DIR, HELDOUT (required), STEPS (2000), BATCH (16), WORK_DIR
# (/tmp/adam-study).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATA_DIR:?adam-study.sh needs DATA_DIR}" "${HELDOUT:?adam-study.sh needs HELDOUT}"
work=${WORK_DIR:-/tmp/adam-study}
bin=${SAMPLERNN:-build/cli/samplernn}
mkdir -p "$work"
for style in keras torch; do
  "$bin" train --id "adam-$style" --optimizer_style "$style" --data_dir "$DATA_DIR" \
    --config_file configs/small.config.json --logdir_root "$work/logdir" --batch_size "${BATCH:-16}" \
    --max_steps "${STEPS:-2000}" --num_epochs 1000 --early_stopping_patience 0 --max_checkpoints 2 --val_frac 0.05 \
    --generate False --verbose False --rng_seed 1 --num_threads 1 >"$work/$style.log" 2>&1 &
done
wait
for style in keras torch; do
  tr '\r' '\n' <"$work/$style.log" | grep -E '^Epoch: [0-9]+/[0-9]+, Step: [0-9]+/' | awk -v s="$style" \
    'NR == 100 || NR % 500 == 0 { print s ": " $0 }' || true
  "$bin" eval --checkpoint_path "$work/logdir/adam-$style" "$HELDOUT" --num_threads 2 | tail -n 1 | sed "s/^/$style held out: /"
done
