#!/usr/bin/env bash
# Trains a pretrained model on a GPU in stages that suit a GPU machine lent for calls of a few
# minutes, with no Debian archive and a limit on the files that travel each way. The same
# 5 Wesnoth tracks as scripts/pretrain.sh are held out (scripts/wesnoth-split.sh).
#
#   scripts/pretrain-gpu.sh data                 # here: Opus chunks of the 36 training tracks (32 MB)
#   MINUTES=9 scripts/pretrain-gpu.sh train      # there: train, or continue, for MINUTES, then stop
#                                                #   with a checkpoint (SIGTERM); run it again to go on
#   scripts/pretrain-gpu.sh export OUT           # there: bf16 weights in parts under 15 MB, and
#                                                #   3 unprimed 10 s clips, into OUT
#   scripts/pretrain-gpu.sh eval OUT             # here: joins the parts, scores the held-out tracks,
#                                                #   plots the clips beside a corpus chunk
#
# Variables: WORK (default .gpu, ignored by git), CONFIG (default configs/small.config.json),
# ID (default the config's name), BATCH (64), PRECISION (bf16), MINUTES (9), DEVICE (cuda;
# cpu tries the stages on a machine without a GPU), BIN (the samplernn binary:
# build-cuda/cli/samplernn there, build/cli/samplernn here), CORPUS_DIR.
# A pilot compares configs at equal time: run `train` with MINUTES=3 and another CONFIG each,
# then compare their val_loss (the same validation chunks: the same rng_seed).
set -euo pipefail
cd "$(dirname "$0")/.."
work=${WORK:-.gpu}
config=${CONFIG:-configs/small.config.json}
id=${ID:-$(basename "$config" .config.json)}
batch=${BATCH:-64}
precision=${PRECISION:-bf16}
minutes=${MINUTES:-9}
device=${DEVICE:-cuda}
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}  # read by wesnoth-split.sh

case "${1:-}" in
  data)
    bin=${BIN:-build/cli/samplernn}
    # shellcheck source=scripts/wesnoth-split.sh
    source scripts/wesnoth-split.sh
    "$bin" chunk --input_dir "$work/train-tracks" --output_dir "$work/data" --overlap 1000 --format opus
    rm -rf "$work/train-tracks"
    echo "$(ls "$work/data" | wc -l) chunks, $(du -sh "$work/data" | cut -f1), in $work/data"
    ;;
  train)
    bin=${BIN:-build-cuda/cli/samplernn}
    [ -d "$work/data" ] || { echo "error: no chunks in $work/data: run 'scripts/pretrain-gpu.sh data' first" >&2; exit 3; }
    # A stop by the timer checkpoints (exit 130 or timeout's 124); anything else is a failure.
    rc=0
    timeout --signal=TERM --kill-after=120 "${minutes}m" "$bin" train --id "$id" --data_dir "$work/data" \
      --config_file "$config" --logdir_root "$work/logdir" --output_dir "$work/generated" --batch_size "$batch" \
      --num_epochs 100000 --device "$device" --precision "$precision" --max_checkpoints 2 --checkpoint_every 1 \
      --early_stopping_patience 0 --val_frac 0.05 --verbose False --rng_seed 1 --generate False || rc=$?
    [ "$rc" -eq 0 ] || [ "$rc" -eq 124 ] || [ "$rc" -eq 130 ] || exit "$rc"
    grep '"kind": *"epoch"' "$work"/logdir/"$id"/*/metrics.jsonl | tail -n 3 || true
    ;;
  export)
    bin=${BIN:-build-cuda/cli/samplernn}
    out=${2:?usage: scripts/pretrain-gpu.sh export OUT}
    mkdir -p "$out"
    "$bin" export --checkpoint_path "$work/logdir/$id" --output "$work/$id.safetensors"
    split -b 15M -d "$work/$id.safetensors" "$out/$id.safetensors.part"
    "$bin" generate --checkpoint_path "$work/$id.safetensors" --output_path "$out/$id.wav" --num_seqs 3 --dur 10 \
      --temperature 0.95 --rng_seed 1
    ls -l "$out"
    ;;
  eval)
    bin=${BIN:-build/cli/samplernn}
    out=${2:?usage: scripts/pretrain-gpu.sh eval OUT}
    cat "$out/$id.safetensors".part* >"$work/$id.safetensors"
    # shellcheck source=scripts/wesnoth-split.sh
    source scripts/wesnoth-split.sh
    "$bin" eval --checkpoint_path "$work/$id.safetensors" "$work/heldout-tracks"
    chunk=$(find "$work/data" -name '*.opus' -print -quit)
    for clip in "$out/$id"_*.wav; do
      "$bin" stats "$clip"
      "$bin" plot "$clip" "$chunk" --output "${clip%.wav}.png"
    done
    ;;
  *)
    sed -n '2,20p' "$0" >&2
    exit 2
    ;;
esac
