#!/usr/bin/env bash
# The main job, end to end on the default corpus (the Wesnoth soundtrack): install the
# dependencies and the corpus, build, then fine-tune the shipped model
# (pretrained/wesnoth-long.safetensors) on music it never trained on, as a musician fine-tunes
# it on their own album (docs/guide.md, "Train on your own album"):
# 1. chunk the new track(s) into 16 kHz mono 8-second chunks with 1 s overlap;
# 2. `samplernn finetune` for FINETUNE_MINUTES, with the recipe of the study in
#    docs/benchmarks.md ("Fine-tuning on one album"): every checkpoint's clips are scored
#    against the track's own figures, and the best-scored checkpoint is the one used;
# 3. generate clips from it, unprimed and primed with 2 s of the track's held-out end;
# 4. judge every clip against the track's own chunks (pass or fail: no collapse, silence or
#    DC, tonal fraction and partials within the track's range) and score the held-out end
#    (NLL in bits per sample);
# 5. write the HTML report.
#
#   scripts/main-job.sh                          # about 25 minutes on 2 cores, build included
#   FINETUNE_MINUTES=20 scripts/main-job.sh      # longer: more checkpoints for the clips to choose from
#
# The clips are drawn at temperature 0.9 with the DC guard (generate --dc_guard), which the
# study found to keep every clip's |DC| under 0.01 where plain sampling does not.
#
# Variables: CORPUS_DIR, WORK_DIR (default ./main-job), TRACKS (default journeys_end.ogg, one
# of the 5 tracks the shipped model never trained on), FINETUNE_MINUTES (default 10: what fits
# 25 minutes with the build, and where the study's clips reached held notes),
# NUM_CLIPS (default 4 of each kind), CLIP_SECONDS (default 6), PRETRAINED (default the
# shipped model).
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}
work=${WORK_DIR:-main-job}
tracks=${TRACKS:-journeys_end.ogg}
minutes=${FINETUNE_MINUTES:-10}
n_clips=${NUM_CLIPS:-4}
clip_s=${CLIP_SECONDS:-6}
pretrained=${PRETRAINED:-pretrained/wesnoth-long.safetensors}
bin=build/cli/samplernn

scripts/install-deps.sh --corpus
scripts/build.sh

# Without bf16 arithmetic a training step takes about twice as long in fp32: the same minutes
# train half the steps, and the clips sound as an earlier checkpoint's do.
if ! grep -qwE 'amx_bf16|avx512_bf16' /proc/cpuinfo; then
  echo "main-job: this CPU has no bf16 arithmetic (AMX or AVX512-BF16): training runs in fp32 at about half the"
  echo "  steps per minute. The job still takes about $((minutes + 3)) minutes after the build, but its"
  echo "  $minutes minutes of training reach what $((minutes / 2)) give with bf16; FINETUNE_MINUTES=$((minutes * 2))"
  echo "  matches a bf16 machine's result in about $((minutes * 2 + 3)) minutes."
fi

rm -rf "$work/tracks" "$work/chunks" "$work/logdir" "$work/generated"
mkdir -p "$work/tracks"
for t in $tracks; do ln -s "$(realpath "$corpus/$t")" "$work/tracks/"; done
echo "== 1/5 chunk: $tracks (new to $pretrained) -> $work/chunks"
"$bin" chunk --input_dir "$work/tracks" --output_dir "$work/chunks" --overlap 1000

echo "== 2/5 finetune: $minutes minutes from $pretrained"
"$bin" finetune --base "$pretrained" --id album --data_dir "$work/chunks" --logdir_root "$work/logdir" \
  --output_dir "$work/generated" --max_minutes "$minutes" --rng_seed 1 --verbose False 2>&1 |
  tr '\r' '\n' | grep -v '^Epoch: '

echo "== 3/5 generate: $n_clips unprimed and $n_clips primed clips of $clip_s s from the best-scored checkpoint"
# The held-out end of the track, scored with the best-scored checkpoint (and recorded for the
# report), which names the checkpoint and the files.
"$bin" eval --held_out --record --json --checkpoint_path "$work/logdir/album" >"$work/eval.json" 2>"$work/eval.log"
grep '^Using' "$work/eval.log" || true
read -r best seed nll < <(python3 -c 'import json, sys
e = json.load(open(sys.argv[1]))
print(e["checkpoint"], e["files"][0]["file"], "%.3f" % e["nll_bits_per_sample"])' "$work/eval.json")
sampling=(--temperature 0.9 --dc_guard True)
"$bin" generate --checkpoint_path "$best" --output_path "$work/generated/clips/unprimed.wav" \
  --num_seqs "$n_clips" --dur "$clip_s" --rng_seed 1 "${sampling[@]}"
"$bin" generate --checkpoint_path "$best" --output_path "$work/generated/clips/primed.wav" \
  --num_seqs "$n_clips" --dur "$clip_s" --rng_seed 2 --seed "$seed" --seed_dur 2 "${sampling[@]}"

echo "== 4/5 judge the clips against the track's own chunks, and score its held-out end"
"$bin" stats --against "$work/chunks" "$work/generated/clips" | grep -E '^ *clip score|clips pass|\.wav:' |
  sed -E 's/^.*\/([^/]+\.wav):.*tonal ([0-9.]+) \(([0-9.]+) partials\)$/\1: tonal \2, \3 partials/'
# The job's own targets for the unprimed clips: median tonal fraction >= 0.5, median partials
# >= 3, and no clip failing on collapse, silence or DC.
"$bin" stats --json --against "$work/chunks" "$work/generated/clips" >"$work/generated/clips/stats.json"
python3 - "$work/generated/clips/stats.json" <<'PY'
import json, statistics, sys
files = [f for f in json.load(open(sys.argv[1]))["files"] if "unprimed" in f["file"]]
tonal = statistics.median(f["tonal_fraction"] for f in files)
partials = statistics.median(f["partials"] for f in files)
failing = sum(bool(f["verdict"]["failures"]) for f in files)
met = tonal >= 0.5 and partials >= 3 and failing == 0
print(f"Unprimed clips: median tonal {tonal:.2f} (target 0.5), median partials {partials:.1f} (target 3), "
      f"{failing} of {len(files)} failing on collapse, silence, DC or clipping: targets {'met' if met else 'NOT met'}")
PY
echo "Held-out end of the track (never trained on): NLL $nll bits/sample ($(basename "$best"))"

echo "== 5/5 report"
"$bin" report "$work/logdir/album"

echo
echo "Listen: $work/generated/clips/ (and every checkpoint's clips in $work/generated/album/)"
echo "Look:   $work/logdir/album/report.html"
