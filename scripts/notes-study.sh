#!/usr/bin/env bash
# The easy case before music: trains one recipe from scratch on synthetic harmonic notes
# (tools/harmonic_notes.py) for a fixed wall-clock time, then scores it. Prints one summary
# line: steps, held-out NLL, and for unprimed clips at each temperature the tonal fraction,
# the loops and the collapses that `samplernn stats` finds.
#
#   RECIPE=base MINUTES=30 scripts/notes-study.sh
#   RECIPE=lstm CONFIG_JSON='{"rnn_type": "lstm"}' scripts/notes-study.sh
#
# Variables: RECIPE (the run's name), MINUTES (default 30, wall-clock of training; Ctrl-C
# semantics, so the run ends with a checkpoint), NUM_THREADS (default 1: 30 minutes are then
# 30 CPU-minutes), BATCH (16), LR (0.001), OPTIMIZER_STYLE (torch: LibTorch's Adam, the faster
# start from scratch; keras for PRiSM's), CONFIG_JSON (keys merged over
# configs/small.config.json), TRAIN_FLAGS (more `train` flags), CHUNKS (80), TEMPS
# ("0.9 1.0"), CLIPS (4 per temperature), DUR (5 s), WORK_DIR (default /tmp/notes-study).
set -euo pipefail
cd "$(dirname "$0")/.."
recipe=${RECIPE:-base}
minutes=${MINUTES:-30}
threads=${NUM_THREADS:-1}
work=${WORK_DIR:-/tmp/notes-study}
bin=${SAMPLERNN:-build/cli/samplernn}
py=${PYTHON:-.venv/bin/python}
chunks=${CHUNKS:-80}
mkdir -p "$work/$recipe"

[ -d "$work/corpus-$chunks" ] || "$py" tools/harmonic_notes.py "$work/corpus-$chunks" --chunks "$chunks" --seed 1
[ -d "$work/heldout" ] || "$py" tools/harmonic_notes.py "$work/heldout" --chunks 8 --seed 2

config="$work/$recipe/config.json"
"$py" - "$config" "${CONFIG_JSON:-{\}}" <<'EOF'
import json, sys
c = json.load(open("configs/small.config.json"))
c.update(json.loads(sys.argv[2]))
json.dump(c, open(sys.argv[1], "w"), indent=1)
EOF

# SIGINT is the trainer's Ctrl-C: it stops within a step and writes a checkpoint.
# shellcheck disable=SC2086
timeout -s INT "$((minutes * 60))" "$bin" train --id "$recipe" --data_dir "$work/corpus-$chunks" \
  --config_file "$config" --logdir_root "$work/logdir" --output_dir "$work/$recipe/generated" \
  --batch_size "${BATCH:-16}" --learning_rate "${LR:-0.001}" --optimizer_style "${OPTIMIZER_STYLE:-torch}" \
  --num_epochs 10000 --val_frac 0.2 \
  --early_stopping_patience 0 --max_checkpoints 2 --generate False --verbose False --rng_seed 1 \
  --num_threads "$threads" ${TRAIN_FLAGS:-} >"$work/$recipe/train.log" 2>&1 || [ $? -eq 124 ]

ckpt="$work/logdir/$recipe"
steps=$(tr '\r' '\n' <"$work/$recipe/train.log" | grep -o '^Epoch: [0-9]*/[0-9]*, Step: [0-9]*/[0-9]*' | tail -n 1 |
  awk -F'[ /,]+' '{ print ($2 - 1) * $6 + $5 }')
nll=$("$bin" eval --checkpoint_path "$ckpt" "$work/heldout" --num_threads 2 2>&1 | tee "$work/$recipe/eval.txt" |
  grep -o '^All .*: NLL [0-9.]*' | grep -o '[0-9.]*$' || echo '?')
summary="$recipe: ${minutes} min, $steps steps, held-out NLL ${nll} bits/sample"
for t in ${TEMPS:-0.9 1.0}; do
  out="$work/$recipe/clips-t$t"
  rm -rf "$out" && mkdir -p "$out"
  "$bin" generate --checkpoint_path "$ckpt" --output_path "$out/clip.wav" --num_seqs "${CLIPS:-4}" \
    --dur "${DUR:-5}" --temperature "$t" --rng_seed 1 --num_threads 2 >"$out/generate.log" 2>&1
  "$bin" stats --json "$out" >"$out/stats.json"
  summary+=$("$py" - "$out/stats.json" "$t" <<'EOF'
import json, statistics, sys
d = json.load(open(sys.argv[1]))
files = d["files"] if isinstance(d, dict) else d
tonal = statistics.median(f["tonal_fraction"] for f in files)
loops = sum(f["loop_period"] > 0 for f in files)
coll = sum(f["collapsed"] for f in files)
print(f"; t={sys.argv[2]}: tonal {tonal:.2f}, loops {loops}/{len(files)}, collapsed {coll}/{len(files)}", end="")
EOF
)
done
echo "$summary" | tee -a "$work/summary.txt"
