#!/usr/bin/env bash
# Data-parallel scaling of training on this machine: the small config at batch 16 as one
# process with 1 and with 2 threads, and as 2 Gloo processes of 1 thread each (--nproc 2,
# 8 files per rank), alternated REPS times.
#
#   bench/scale-nproc.sh [reps]     (default 3; STEPS=40 timed steps per run after 5 warm-up)
#
# Data: 8-second chunks of one Wesnoth track (scripts/install-deps.sh --corpus), or
# DATA_DIR=<folder of 16 kHz WAVs>. Prints per setup the median sec/step, samples/s
# (16 x 1024 per step), and for --nproc 2 the share of each step spent in the gradient
# all-reduce (waiting for the other rank included), all from rank 0's metrics.jsonl.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-3}
steps=${STEPS:-40}
warmup=5
bin=build/cli/samplernn
[ -x "$bin" ] || { echo "scale-nproc: build first (scripts/build.sh)" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
data=${DATA_DIR:-}
if [ -z "$data" ]; then
  track=/usr/share/games/wesnoth/1.16/data/core/music/the_city_falls.ogg
  [ -f "$track" ] || { echo "scale-nproc: $track missing: scripts/install-deps.sh --corpus, or set DATA_DIR" >&2; exit 2; }
  "$bin" chunk --input_file "$track" --output_dir "$work/chunks" --overlap 1000 > /dev/null
  data=$work/chunks
fi
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD) cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' x$(nproc)"
run() {  # name, extra flags
  local id=$1; shift
  "$bin" train --id "$id" --data_dir "$data" --config_file configs/small.config.json --logdir_root "$work/logdir" \
    --batch_size 16 --val_frac 0 --monitor loss --generate False --rng_seed 1 --num_epochs 100 \
    --max_steps $((steps + warmup)) --resume False "$@" > "$work/$id.log" 2>&1 ||
    { cat "$work/$id.log" >&2; exit 1; }
  cat "$work"/logdir/"$id"/*/metrics.jsonl | sed "s/^/$id /" >> "$work/rows"
  rm -rf "$work/logdir/$id"
}
for ((r = 1; r <= reps; r++)); do
  run p1-t1 --num_threads 1
  run p1-t2 --num_threads 2
  run p2-t1 --nproc 2 --num_threads 1
done
/usr/bin/python3 - "$work/rows" "$warmup" <<'PY'
import json, statistics, sys
rows, warmup = {}, int(sys.argv[2])
for line in open(sys.argv[1]):
    who, js = line.split(" ", 1)
    d = json.loads(js)
    if d.get("kind") == "step" and d["step"] > warmup:
        rows.setdefault(who, []).append(d)
base = statistics.median(d["sec_per_step"] for d in rows["p1-t1"])
names = {"p1-t1": "1 process,   1 thread ", "p1-t2": "1 process,   2 threads", "p2-t1": "2 processes, 1 thread each"}
for who in ["p1-t1", "p1-t2", "p2-t1"]:
    s = [d["sec_per_step"] for d in rows[who]]
    m = statistics.median(s)
    line = f"{names[who]}: {m:.3f} s/step ({min(s):.3f}-{max(s):.3f}), {16 * 1024 / m:,.0f} samples/s, {base / m:.2f}x"
    if who == "p2-t1":
        share = statistics.median(d["comm_seconds"] / d["sec_per_step"] for d in rows[who])
        line += f", all-reduce {100 * share:.0f}% of each step"
    print(line + f"  [{len(s)} steps]")
PY
