#!/usr/bin/env bash
# The easy case before music: one recipe trained from scratch on synthetic harmonic notes
# (tools/harmonic_notes.py: CHUNKS chunks, seed 1; 8 held-out chunks, seed 2), measured by
# scripts/recipe-study.sh, which takes the same variables. Here VAL_FRAC defaults to 0.2 and
# WORK_DIR to /tmp/notes-study.
#
#   RECIPE=base MINUTES=30 scripts/notes-study.sh
#   RECIPE=lstm CONFIG_JSON='{"rnn_type": "lstm"}' scripts/notes-study.sh
set -euo pipefail
cd "$(dirname "$0")/.."
work=${WORK_DIR:-/tmp/notes-study}
py=${PYTHON:-.venv/bin/python}
chunks=${CHUNKS:-80}
[ -d "$work/corpus-$chunks" ] || "$py" tools/harmonic_notes.py "$work/corpus-$chunks" --chunks "$chunks" --seed 1
[ -d "$work/heldout" ] || "$py" tools/harmonic_notes.py "$work/heldout" --chunks 8 --seed 2
DATA_DIR="$work/corpus-$chunks" HELDOUT="$work/heldout" WORK_DIR="$work" VAL_FRAC="${VAL_FRAC:-0.2}" \
  exec scripts/recipe-study.sh
