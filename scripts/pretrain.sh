#!/usr/bin/env bash
# Trains the pretrained model shipped as pretrained/wesnoth-small.safetensors: the small
# config on the Wesnoth soundtrack with whole tracks held out, then exports it as bf16 and
# scores it on the held-out tracks.
#
#   scripts/pretrain.sh        # PRETRAIN_STEPS=9217 (the shipped model): about 80 minutes on 2 cores
#
# Held out: every 8th track in name order, starting with the 5th (5 of 41 tracks, 18.7
# minutes). They are never chunked for training; `samplernn eval` scores them whole, with
# the level-histogram entropy and the model after one epoch as baselines.
# Variables: CORPUS_DIR, WORK_DIR (default ./pretrain), PRETRAIN_STEPS (default 9217),
# NUM_THREADS (default: the cores), OUTPUT (default pretrained/wesnoth-small.safetensors).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}
work=${WORK_DIR:-pretrain}
steps=${PRETRAIN_STEPS:-9217}
threads=${NUM_THREADS:-$(nproc)}
output=${OUTPUT:-pretrained/wesnoth-small.safetensors}
bin=${SAMPLERNN:-build/cli/samplernn}

# shellcheck source=scripts/wesnoth-split.sh
source scripts/wesnoth-split.sh

[ -d "$work/chunks" ] || "$bin" chunk --input_dir "$work/train-tracks" --output_dir "$work/chunks" --overlap 1000

# Resumable: running the script again continues from the newest checkpoint. LibTorch's Adam
# (--optimizer_style torch), as the shipped model was trained, and the faster start from
# scratch (docs/benchmarks.md, "Keras's Adam against LibTorch's").
"$bin" train --id wesnoth-small --data_dir "$work/chunks" --config_file configs/small.config.json \
  --logdir_root "$work/logdir" --output_dir "$work/generated" --batch_size 16 --num_epochs 1000 \
  --max_steps "$steps" --max_checkpoints None --early_stopping_patience 0 --val_frac 0.05 --verbose False \
  --rng_seed 1 --num_threads "$threads" --output_file_dur 5 --optimizer_style torch

"$bin" export --checkpoint_path "$work/logdir/wesnoth-small" --output "$output"
first_epoch=$(ls "$work"/logdir/wesnoth-small/*/model.ckpt-1 | tail -n 1)  # the newest run that finished epoch 1
echo "== held-out tracks, after one epoch ($first_epoch):"
"$bin" eval --checkpoint_path "$first_epoch" "$work/heldout-tracks" --num_threads "$threads"
echo "== held-out tracks, shipped model ($output):"
"$bin" eval --checkpoint_path "$output" "$work/heldout-tracks" --num_threads "$threads"
