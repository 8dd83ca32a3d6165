#!/usr/bin/env bash
# The main job, end to end on the default corpus (the Wesnoth soundtrack, about 2 hours of
# Ogg Vorbis): install the dependencies and the corpus, build, chunk the corpus into 16 kHz
# mono 8-second chunks with 1 s overlap, train the small config for a bounded number of
# steps, generate clips from the checkpoint, and write the HTML report.
#
#   scripts/main-job.sh                         # about 20 minutes on 2 cores
#   TRAIN_STEPS=20000 scripts/main-job.sh       # a longer budget (about 0.35 s per step)
#
# Variables: CORPUS_DIR, WORK_DIR (default ./main-job), TRAIN_STEPS (default 2000),
# CLIP_SECONDS (default 5), NUM_CLIPS (default 2).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}
work=${WORK_DIR:-main-job}
steps=${TRAIN_STEPS:-2000}
clip_s=${CLIP_SECONDS:-5}
n_clips=${NUM_CLIPS:-2}
bin=build/cli/samplernn

scripts/install-deps.sh --corpus
scripts/build.sh

echo "== 1/4 chunk: $corpus -> $work/chunks"
"$bin" chunk --input_dir "$corpus" --output_dir "$work/chunks" --overlap 1000

echo "== 2/4 train: small config, $steps steps"
"$bin" train --id wesnoth --data_dir "$work/chunks" --config_file configs/small.config.json \
  --logdir_root "$work/logdir" --output_dir "$work/generated" --batch_size 16 --num_epochs 1000 \
  --max_steps "$steps" --resume False --verbose False --rng_seed 1
checkpoint=$(ls -t "$work"/logdir/wesnoth/*/model.ckpt-* | head -n 1)

echo "== 3/4 generate: $n_clips clips of $clip_s s from $checkpoint"
"$bin" generate --checkpoint_path "$checkpoint" --output_path "$work/generated/wesnoth/wesnoth.wav" \
  --num_seqs "$n_clips" --dur "$clip_s" --temperature 0.95 --rng_seed 1

echo "== 4/4 report"
"$bin" report "$work/logdir/wesnoth"

echo
echo "Listen: $work/generated/wesnoth/"
echo "Look:   $work/logdir/wesnoth/report.html"
