#!/usr/bin/env bash
# The main job: install dependencies and the default corpus (the Wesnoth soundtrack, about
# 2 hours of Ogg Vorbis), build samplernn, and chunk the corpus into 16 kHz mono 8-second
# training chunks with 1 s overlap.
#
#   scripts/main-job.sh                 # writes ./chunks
#   CHUNKS_DIR=/data/chunks scripts/main-job.sh
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}
chunks=${CHUNKS_DIR:-chunks}

scripts/install-deps.sh --corpus
scripts/build.sh

echo "== samplernn chunk: $corpus -> $chunks"
build/cli/samplernn chunk --input_dir "$corpus" --output_dir "$chunks" --overlap 1000
echo "== done: training chunks are in $chunks"
