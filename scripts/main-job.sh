#!/usr/bin/env bash
# The main job, end to end on the default corpus (the Wesnoth soundtrack, about 2 hours of
# Ogg Vorbis): install the dependencies and the corpus, build, chunk the training tracks into
# 16 kHz mono 8-second chunks with 1 s overlap, continue training the shipped pretrained
# model (pretrained/wesnoth-small.safetensors) for a bounded number of steps, generate clips
# from the new checkpoint, primed with 2 s of a held-out track, score the checkpoint on the
# held-out tracks (5 of 41, as the shipped model was trained) and write the HTML report.
#
#   scripts/main-job.sh                         # 22 (AVX-512) to 36 (AVX2) minutes on 2 cores
#   TRAIN_STEPS=20000 scripts/main-job.sh       # a longer budget (0.3 to 0.65 s per step)
#
# Variables: CORPUS_DIR, WORK_DIR (default ./main-job), TRAIN_STEPS (default 1500),
# CLIP_SECONDS (default 5), NUM_CLIPS (default 2), PRETRAINED (default the shipped model;
# set it empty to train from scratch).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}
work=${WORK_DIR:-main-job}
steps=${TRAIN_STEPS:-1500}
clip_s=${CLIP_SECONDS:-5}
n_clips=${NUM_CLIPS:-2}
pretrained=${PRETRAINED-pretrained/wesnoth-small.safetensors}
bin=build/cli/samplernn
py=python3
# shellcheck source=scripts/measure.sh
source scripts/measure.sh

scripts/install-deps.sh --corpus
scripts/build.sh

# shellcheck source=scripts/wesnoth-split.sh
source scripts/wesnoth-split.sh
echo "== 1/5 chunk: $work/train-tracks -> $work/train-chunks"
"$bin" chunk --input_dir "$work/train-tracks" --output_dir "$work/train-chunks" --overlap 1000

if [ -n "$pretrained" ]; then
  # --max_steps counts the model's steps too: the budget starts where the model stopped.
  start=$(checkpoint_step "$pretrained")
  from=(--resume_from "$pretrained")
  echo "== 2/5 train: $steps steps from $pretrained (trained $start steps)"
else
  start=0
  from=(--resume False)
  echo "== 2/5 train: small config from scratch, $steps steps"
fi
# LibTorch's Adam (--optimizer_style torch): the shipped model was trained with it, and it starts
# faster than Keras's (docs/benchmarks.md, "Keras's Adam against LibTorch's").
"$bin" train --id wesnoth --data_dir "$work/train-chunks" --config_file configs/small.config.json \
  --logdir_root "$work/logdir" --output_dir "$work/generated" --batch_size 16 --num_epochs 1000 \
  --max_steps $((start + steps)) "${from[@]}" --verbose False --rng_seed 1 --generate False --optimizer_style torch

echo "== 3/5 generate: $n_clips clips of $clip_s s"
"$bin" generate --checkpoint_path "$work/logdir/wesnoth" --output_path "$work/generated/wesnoth/wesnoth.wav" \
  --num_seqs "$n_clips" --dur "$clip_s" --temperature 0.95 --rng_seed 1 \
  --seed "$work/heldout-tracks/northerners.ogg" --seed_offset 480000 --seed_dur 2

echo "== 4/5 eval: held-out NLL of the new checkpoint"
"$bin" eval --record --checkpoint_path "$work/logdir/wesnoth" "$work/heldout-tracks"

echo "== 5/5 report"
"$bin" report "$work/logdir/wesnoth"

echo
echo "Listen: $work/generated/wesnoth/"
echo "Look:   $work/logdir/wesnoth/report.html"
