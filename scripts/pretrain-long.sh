#!/usr/bin/env bash
# A long training run on the Wesnoth soundtrack, in stretches that can span many sittings.
# Each stretch trains for STRETCH_MINUTES of wall-clock and stops with a checkpoint (the
# trainer's Ctrl-C). Then the model is scored on the 5 held-out tracks, its unprimed clips are
# measured with `samplernn stats`, a row goes into the run's curve, and its weights are exported
# as the run's snapshot (bf16, replacing the previous one).
#
#   MINUTES=60 scripts/pretrain-long.sh          # three 20-minute stretches on 2 cores
#
# Resuming: rerunning the script continues the newest checkpoint in $WORK_DIR, exactly
# (weights, Adam's moments, RNG state, data order). On a machine without one it continues from
# the snapshot, weights only: Adam starts afresh, and the learning rate warms up over 500 steps
# (docs/benchmarks.md measures what that costs). To carry the run to the next machine, commit
# the snapshot and the curve. Both are small and are replaced, never added.
#
# Variables: CORPUS_DIR, WORK_DIR (default ./pretrain-long), CONFIG (default
# configs/wesnoth.config.json), BATCH (default 64), TRAIN_FLAGS (default "--precision bf16
# --lr_half_life_steps 20000"), MINUTES (default 60), STRETCH_MINUTES (default 20),
# NUM_THREADS (default: the cores), SNAPSHOT (default pretrained/wesnoth-long.safetensors),
# CURVE (default pretrained/wesnoth-long.curve.tsv), CLIPS (default 8 unprimed 10-second clips
# per stretch; 0: none), TEMPERATURE (default 0.95), RESUME_FROM (a checkpoint, or a logdir
# for its newest, to start from when the run has none of its own: another run's, such as a
# recipe study's, whose CPU-hours then belong in the curve's first rows).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}
work=${WORK_DIR:-pretrain-long}
config=${CONFIG:-configs/wesnoth.config.json}
flags=${TRAIN_FLAGS---precision bf16 --lr_half_life_steps 20000}
minutes=${MINUTES:-60}
batch=${BATCH:-64}
stretch=${STRETCH_MINUTES:-20}
threads=${NUM_THREADS:-$(nproc)}
snapshot=${SNAPSHOT:-pretrained/wesnoth-long.safetensors}
curve=${CURVE:-pretrained/wesnoth-long.curve.tsv}
clips=${CLIPS:-8}
temperature=${TEMPERATURE:-0.95}
bin=${SAMPLERNN:-build/cli/samplernn}
py=${PYTHON:-.venv/bin/python}
id=wesnoth-long
ckpt="$work/logdir/$id"

mkdir -p "$work"
# shellcheck source=scripts/measure.sh
source scripts/measure.sh
if [ ! -d "$work/chunks" ]; then
  # shellcheck source=scripts/wesnoth-split.sh
  source scripts/wesnoth-split.sh
  "$bin" chunk --input_dir "$work/train-tracks" --output_dir "$work/chunks.partial" --overlap 1000
  mv "$work/chunks.partial" "$work/chunks"
fi

# Where the run stands: its own checkpoint, else RESUME_FROM, else the committed snapshot, else
# a fresh start.
from=()
if ls "$ckpt"/*/model.ckpt-* >/dev/null 2>&1; then
  echo "== continuing $ckpt"
elif [ -n "${RESUME_FROM:-}" ]; then
  echo "== continuing $RESUME_FROM"
  from=(--resume_from "$RESUME_FROM")
elif [ -f "$snapshot" ]; then
  echo "== continuing the snapshot $snapshot (weights only)"
  from=(--resume_from "$snapshot")
else
  echo "== a fresh start"
fi
[ -f "$curve" ] || printf 'cpu_hours\tsteps\theld_out_nll\ttonal_median\tpartials_median\tmax_abs_dc\tcollapsed\tclips\n' >"$curve"
# CPU-hours so far: the last row's, or 0.
cpu_hours=$(awk -F'\t' 'NR > 1 { h = $1 } END { print h + 0 }' "$curve")

left=$((minutes * 60))
while ((left > 0)); do
  s=$((stretch * 60 < left ? stretch * 60 : left))
  echo "== training for $((s / 60)) min ($(date -u +%H:%M) UTC; $cpu_hours CPU-hours so far)"
  start=$(date +%s)
  # shellcheck disable=SC2086
  timeout -s INT "$s" "$bin" train --id "$id" --data_dir "$work/chunks" --config_file "$config" \
    --logdir_root "$work/logdir" --output_dir "$work/generated" --batch_size "$batch" --num_epochs 10000 \
    --val_frac 0.05 --early_stopping_patience 0 --max_checkpoints 2 --generate False --verbose False \
    --rng_seed 1 --num_threads "$threads" --optimizer_style torch "${from[@]}" $flags || [ $? -eq 124 ]
  from=()
  elapsed=$(($(date +%s) - start))
  left=$((left - elapsed))
  cpu_hours=$(awk -v h="$cpu_hours" -v s="$elapsed" -v t="$threads" 'BEGIN { printf "%.3f", h + s * t / 3600 }')

  "$bin" export --checkpoint_path "$ckpt" --output "$snapshot.partial" && mv "$snapshot.partial" "$snapshot"
  nll=$(held_out_nll "$ckpt" "$work/heldout-tracks" "$threads" "$work/eval.txt")
  measures='?\t?\t?\t?\t0'
  if ((clips > 0)); then
    rm -rf "$work/clips" && mkdir -p "$work/clips"
    "$bin" generate --checkpoint_path "$ckpt" --output_path "$work/clips/clip.wav" --num_seqs "$clips" \
      --dur 10 --temperature "$temperature" --rng_seed 1 --num_threads "$threads" >"$work/clips/generate.log" 2>&1
    "$bin" stats --json "$work/clips" >"$work/clips/stats.json"
    measures=$(clip_measures "$work/clips/stats.json" tsv)
  fi
  printf '%s\t%s\t%s\t%b\n' "$cpu_hours" "$(checkpoint_step "$snapshot")" "$nll" "$measures" >>"$curve"
  tail -n 1 "$curve"
done
echo "Curve: $curve   Snapshot: $snapshot   Clips: $work/clips/"
