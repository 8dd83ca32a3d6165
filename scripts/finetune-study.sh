#!/usr/bin/env bash
# One run of the fine-tuning study (docs/benchmarks.md, "Fine-tuning on one album"): chunks
# a set of tracks, fine-tunes a base on them with `samplernn finetune` (or trains from scratch
# with the same recipe), then measures the checkpoint chosen by its clips:
# - the clip score of every checkpoint along the way (the run's clip-scores.json);
# - held-out NLL on the last 10% of each track (the run's validation chunks, never trained on);
# - 8 unprimed and 8 primed clips of 8 s (`samplernn stats`), beside the set's own chunks;
# - how much of each clip copies the training chunks (`samplernn copies`).
# Appends one row per budget to $WORK_DIR/summary.tsv and prints it.
#
#   TRACKS="journeys_end.ogg" RUN=one-20min MINUTES=20 scripts/finetune-study.sh
#   TRACKS="journeys_end.ogg" RUN=scratch BASE= MINUTES=10 scripts/finetune-study.sh
#   TRACKS="journeys_end.ogg" RUN=lr1e-3 FLAGS="--learning_rate 1e-3" scripts/finetune-study.sh
#
# Variables: TRACKS (file names under CORPUS_DIR, or paths), RUN (the run's name), MINUTES
# (default 20), BUDGETS (default MINUTES: one row per budget, each for the best-scored
# checkpoint written by then; with several, pass FLAGS='--max_checkpoints None'), BASE (default pretrained/wesnoth-long.safetensors; empty: from scratch with
# configs/wesnoth.config.json), FLAGS (more finetune flags), GEN_FLAGS (more generate flags,
# such as --top_p 0.95), MEASURE_ONLY (set: measure the run already made, without training), CLIPS (8), DUR (8 s), CORPUS_DIR (the Wesnoth music), WORK_DIR
# (/tmp/finetune-study).
set -euo pipefail
cd "$(dirname "$0")/.."
: "${TRACKS:?finetune-study.sh needs TRACKS}" "${RUN:?finetune-study.sh needs RUN}"
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}
work=${WORK_DIR:-/tmp/finetune-study}
minutes=${MINUTES:-20}
base=${BASE-pretrained/wesnoth-long.safetensors}
n_clips=${CLIPS:-8}
dur=${DUR:-8}
bin=${SAMPLERNN:-build/cli/samplernn}
py=${PYTHON:-python3}
cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')
# shellcheck source=scripts/measure.sh
source scripts/measure.sh

# The chunks of this set of tracks, shared by every run on the same set.
set_name=$(for t in $TRACKS; do basename "$t" .ogg; done | tr '\n' '+' | sed 's/+$//')
chunks="$work/sets/$set_name/chunks"
if [ ! -d "$chunks" ]; then
  mkdir -p "$work/sets/$set_name/tracks"
  for t in $TRACKS; do
    [ -e "$t" ] || t="$corpus/$t"
    ln -sf "$(realpath "$t")" "$work/sets/$set_name/tracks/"
  done
  "$bin" chunk --input_dir "$work/sets/$set_name/tracks" --output_dir "$chunks" --overlap 1000
fi

out="$work/$RUN"
if [ -z "${MEASURE_ONLY:-}" ]; then
rm -rf "$out" "$work/logdir/$RUN"
mkdir -p "$out"
common=(--id "$RUN" --data_dir "$chunks" --logdir_root "$work/logdir" --output_dir "$out/generated"
        --max_minutes "$minutes" --rng_seed 1 --verbose False)
# shellcheck disable=SC2086
if [ -n "$base" ]; then
  "$bin" finetune --base "$base" "${common[@]}" ${FLAGS:-} 2>&1 | tr '\r' '\n' | tee "$out/train.log" | grep -v '^Epoch' || true
else
  # From scratch with the fine-tuning recipe, but no warm-up from trained weights.
  "$bin" train "${common[@]}" --config_file configs/wesnoth.config.json --batch_size 0 --val_split time \
    --augment polarity,gain --checkpoint_policy Clips --max_checkpoints 3 --early_stopping_patience 0 \
    --num_epochs 100000 --max_generate_per_epoch 4 --output_file_dur 4 --optimizer_style torch \
    --learning_rate 1e-3 ${FLAGS:-} 2>&1 | tr '\r' '\n' | tee "$out/train.log" | grep -v '^Epoch' || true
fi
fi
# The run folder (named DD.MM.YYYY_HH.MM.SS; the report's files sit beside it).
run_dir=$(ls -d "$work/logdir/$RUN"/[0-9][0-9].[0-9][0-9].*/ | tail -n 1)

# The clip score of every checkpoint, and the validation NLL of its epoch.
"$py" - "$run_dir" <<'PY' | tee "$out/curve.tsv"
import json, math, os, sys
run = sys.argv[1]
scores = json.load(open(os.path.join(run, "clip-scores.json")))
val = {}
for line in open(os.path.join(run, "metrics.jsonl")):
    r = json.loads(line)
    if "val_loss" in r: val[r.get("epoch")] = r["val_loss"] / math.log(2)
print("checkpoint\tminutes\tstep\tval_bits\tclip_score\tpassing")
for name, e in sorted(scores.items(), key=lambda kv: kv[1]["step"]):
    passing = sum(c["passes"] for c in e["clips"])
    v = val.get(e.get("epoch"))
    print(f"{name}\t{e.get('minutes', 0):.1f}\t{e['step']}\t{v if v is None else round(v, 3)}\t{e['score']:.3f}\t{passing}/{len(e['clips'])}")
PY

# The held-out part: the run's validation chunks (the last 10% of each track).
heldout="$out/heldout"
rm -rf "$heldout" "$out/train-chunks"
mkdir -p "$heldout"
"$py" - "$run_dir" "$chunks" "$heldout" <<'PY'
import json, os, struct, sys, glob
run, chunks, dest = sys.argv[1:]
ckpt = sorted(glob.glob(os.path.join(run, "model.ckpt-*")))[-1]
f = open(ckpt, "rb"); n = struct.unpack("<Q", f.read(8))[0]
meta = json.loads(f.read(n))["__metadata__"]
val = json.loads(meta["train_state"])["data"]["val_files"]
for v in val:
    os.symlink(os.path.realpath(os.path.join(chunks, v)), os.path.join(dest, os.path.basename(v)))
PY
train_only="$out/train-chunks"
mkdir -p "$train_only"
for f in "$chunks"/*; do [ -e "$heldout/$(basename "$f")" ] || ln -sf "$(realpath "$f")" "$train_only/"; done
[ -f "$work/sets/$set_name/stats.json" ] || "$bin" stats --json "$train_only" >"$work/sets/$set_name/stats.json"
[ -f "$work/summary.tsv" ] || printf 'run\tset\tbudget_min\tchosen\tstep\tclip_score\theld_out_nll\tunprimed: tonal partials max|DC| collapsed n\tcopies\tprimed\tcopies\tset chunks\tcpu\n' >"$work/summary.tsv"

# For each budget, the checkpoint the clips chose among those written by then.
for budget in ${BUDGETS:-$minutes}; do
  pick=$("$py" - "$out/curve.tsv" "$budget" <<'PY'
import sys
rows = [l.rstrip("\n").split("\t") for l in open(sys.argv[1])][1:]
rows = [r for r in rows if float(r[1]) <= float(sys.argv[2]) + 0.5]
best = max(rows, key=lambda r: (float(r[4]), int(r[2])))
print(best[0], best[2], best[4])
PY
)
  read -r name step score <<<"$pick"
  ckpt="$run_dir/$name"
  [ -f "$ckpt" ] || { echo "finetune-study: $ckpt is gone (keep every checkpoint: FLAGS='--max_checkpoints None')" >&2; continue; }
  m="$out/at-$budget"
  rm -rf "$m" && mkdir -p "$m"
  nll=$(held_out_nll "$ckpt" "$heldout" 2 "$m/eval.txt")
  seed=$(ls "$heldout" | head -n 1)
  # shellcheck disable=SC2086
  "$bin" generate --checkpoint_path "$ckpt" --output_path "$m/unprimed/clip.wav" --num_seqs "$n_clips" \
    --dur "$dur" --rng_seed 1 ${GEN_FLAGS:-} >"$m/generate.log" 2>&1
  # shellcheck disable=SC2086
  "$bin" generate --checkpoint_path "$ckpt" --output_path "$m/primed/clip.wav" --num_seqs "$n_clips" \
    --dur "$dur" --rng_seed 2 --seed "$heldout/$seed" --seed_dur 2 ${GEN_FLAGS:-} >>"$m/generate.log" 2>&1
  row="$RUN\t$set_name\t$budget\t$name\t$step\t$score\t$nll"
  for kind in unprimed primed; do
    "$bin" stats --json "$m/$kind" >"$m/$kind/stats.json"
    "$bin" copies --json --corpus "$train_only" "$m/$kind" >"$m/$kind/copies.json" 2>"$m/$kind/copies.log" || true
    row+="\t$(clip_measures "$m/$kind/stats.json" tsv | tr '\t' ' ')"
    row+="\t$("$py" -c 'import json, statistics, sys
d = json.load(open(sys.argv[1]))
print("%.2f" % statistics.median(c["copy_fraction"] for c in d["clips"]))' "$m/$kind/copies.json" 2>/dev/null || echo '?')"
  done
  row+="\t$(clip_measures "$work/sets/$set_name/stats.json" tsv | tr '\t' ' ')\t$cpu"
  printf "$row\n" | tee -a "$work/summary.tsv"
done
