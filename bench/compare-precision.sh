#!/usr/bin/env bash
# fp32 against bf16 training (--precision) on the small config: the same seed and data for
# both, STEPS steps at batch 16 on the chunks of one Wesnoth track, then the NLL of each
# model on another track (samplernn eval), and the median sec/step after 5 warm-up steps.
#
#   bench/compare-precision.sh          (STEPS=300, THREADS=2)
set -euo pipefail
cd "$(dirname "$0")/.."
steps=${STEPS:-300}
threads=${THREADS:-2}
bin=build/cli/samplernn
music=/usr/share/games/wesnoth/1.16/data/core/music
[ -x "$bin" ] || { echo "compare-precision: build first (scripts/build.sh)" >&2; exit 2; }
[ -f "$music/the_city_falls.ogg" ] || { echo "compare-precision: scripts/install-deps.sh --corpus first" >&2; exit 2; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$bin" chunk --input_file "$music/the_city_falls.ogg" --output_dir "$work/chunks" --overlap 1000 > /dev/null
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD) cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' threads $threads, $steps steps"
for p in fp32 bf16; do
  "$bin" train --id "$p" --data_dir "$work/chunks" --config_file configs/small.config.json --logdir_root "$work/logdir" \
    --batch_size 16 --val_frac 0 --monitor loss --generate False --rng_seed 1 --num_epochs 1000 \
    --max_steps "$steps" --num_threads "$threads" --precision "$p" --resume False > "$work/$p.log" 2>&1 ||
    { cat "$work/$p.log" >&2; exit 1; }
  nll=$("$bin" eval --checkpoint_path "$work/logdir/$p" "$music/northerners.ogg" --json 2>/dev/null |
        python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["nll_bits_per_sample"])')
  sps=$(python3 -c 'import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print("%.3f" % statistics.median(r["sec_per_step"] for r in rows if r.get("kind") == "step" and r["step"] > 5))' \
        "$work"/logdir/"$p"/*/metrics.jsonl)
  echo "$p: $sps s/step, held-out NLL $nll bits/sample (northerners.ogg)"
done
