#!/usr/bin/env bash
# One training recipe, measured: trains from scratch for a fixed wall-clock time, then scores
# the model on held-out audio and measures unprimed clips with `samplernn stats`. Prints one
# summary line (steps, held-out NLL, and per temperature the tonal fraction, the partials,
# the largest |DC|, the loops and the collapses) and appends it to $WORK_DIR/summary.txt.
# With SEGMENTS=n the training stops and resumes n - 1 times on the way (exactly, from its
# Ctrl-C checkpoint), and the model is scored after each stretch: held-out NLL against
# training minutes, in $WORK_DIR/$RECIPE/curve.tsv.
#
#   DATA_DIR=chunks HELDOUT=heldout RECIPE=base MINUTES=30 scripts/recipe-study.sh
#   DATA_DIR=chunks HELDOUT=heldout RECIPE=lstm CONFIG_JSON='{"rnn_type": "lstm"}' scripts/recipe-study.sh
#
# Variables: DATA_DIR and HELDOUT (required: training chunks, and held-out audio for `eval`),
# RECIPE (the run's name), MINUTES (default 30, wall-clock of training; Ctrl-C semantics, so
# the run ends with a checkpoint), NUM_THREADS (default 1: 30 minutes are then 30
# CPU-minutes), BATCH (16), LR (0.001), OPTIMIZER_STYLE (torch: LibTorch's Adam, the faster
# start from scratch; keras for PRiSM's), BASE_CONFIG (configs/small.config.json),
# CONFIG_JSON (keys merged over it), TRAIN_FLAGS (more `train` flags), SEGMENTS (1), VAL_FRAC (0.05), TEMPS
# ("0.9 1.0"), CLIPS (4 per temperature), DUR (5 s), EVAL_THREADS (2), WORK_DIR
# (/tmp/recipe-study).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${DATA_DIR:?recipe-study.sh needs DATA_DIR}" "${HELDOUT:?recipe-study.sh needs HELDOUT}"
recipe=${RECIPE:-base}
minutes=${MINUTES:-30}
work=${WORK_DIR:-/tmp/recipe-study}
bin=${SAMPLERNN:-build/cli/samplernn}
py=${PYTHON:-.venv/bin/python}
mkdir -p "$work/$recipe"
# shellcheck source=scripts/measure.sh
source scripts/measure.sh

config="$work/$recipe/config.json"
"$py" - "${BASE_CONFIG:-configs/small.config.json}" "$config" "${CONFIG_JSON:-{\}}" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
c.update(json.loads(sys.argv[3]))
json.dump(c, open(sys.argv[2], "w"), indent=1)
EOF

ckpt="$work/logdir/$recipe"
steps_done() {
  tr '\r' '\n' <"$work/$recipe/train.log" | grep -o '^Epoch: [0-9]*/[0-9]*, Step: [0-9]*/[0-9]*' | tail -n 1 |
    awk -F'[ /,]+' '{ print ($2 - 1) * $6 + $5 }'
}
segments=${SEGMENTS:-1}
: >"$work/$recipe/train.log"
printf 'minutes\tsteps\theld_out_nll\n' >"$work/$recipe/curve.tsv"
for ((k = 1; k <= segments; k++)); do
  # SIGINT is the trainer's Ctrl-C: it stops within a step and writes a checkpoint; the next
  # stretch resumes from it.
  # shellcheck disable=SC2086
  timeout -s INT "$((minutes * 60 / segments))" "$bin" train --id "$recipe" --data_dir "$DATA_DIR" \
    --config_file "$config" --logdir_root "$work/logdir" --output_dir "$work/$recipe/generated" \
    --batch_size "${BATCH:-16}" --learning_rate "${LR:-0.001}" --optimizer_style "${OPTIMIZER_STYLE:-torch}" \
    --num_epochs 10000 --val_frac "${VAL_FRAC:-0.05}" \
    --early_stopping_patience 0 --max_checkpoints 2 --generate False --verbose False --rng_seed 1 \
    --num_threads "${NUM_THREADS:-1}" ${TRAIN_FLAGS:-} >>"$work/$recipe/train.log" 2>&1 || [ $? -eq 124 ]
  nll=$(held_out_nll "$ckpt" "$HELDOUT" "${EVAL_THREADS:-2}" "$work/$recipe/eval.txt")
  printf '%s\t%s\t%s\n' "$(awk -v m="$minutes" -v k="$k" -v n="$segments" 'BEGIN { printf "%g", m * k / n }')" \
    "$(steps_done)" "$nll" >>"$work/$recipe/curve.tsv"
done
steps=$(steps_done)
summary="$recipe: ${minutes} min, $steps steps, held-out NLL ${nll} bits/sample"
for t in ${TEMPS:-0.9 1.0}; do
  out="$work/$recipe/clips-t$t"
  rm -rf "$out" && mkdir -p "$out"
  "$bin" generate --checkpoint_path "$ckpt" --output_path "$out/clip.wav" --num_seqs "${CLIPS:-4}" \
    --dur "${DUR:-5}" --temperature "$t" --rng_seed 1 --num_threads "${EVAL_THREADS:-2}" >"$out/generate.log" 2>&1
  "$bin" stats --json "$out" >"$out/stats.json"
  summary+=$(clip_measures "$out/stats.json" "$t")
done
echo "$summary" | tee -a "$work/summary.txt"
