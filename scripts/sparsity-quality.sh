#!/usr/bin/env bash
# What pruning and int8 cost in bits per sample on held-out music: continues the shipped
# pretrained model (small config) for STEPS steps on the Wesnoth tracks it was trained on,
# from the same seed, once dense and once for each sparsity in SPARSITIES (16x4 blocks,
# pruned from the first step to PRUNE_SHARE of the way, the frame tiers and, with
# PRUNE_SAMPLE_TIER=True, the sample tier's hidden layers, as bench/compare-sparse.sh
# measures them), then scores every model on the 5 held-out tracks with fp32 and int8
# weights (samplernn eval).
#
#   scripts/sparsity-quality.sh    (STEPS=600, SPARSITIES="0.8 0.9", PRUNE_SHARE=2/3,
#                                   PRUNE_SAMPLE_TIER=True, WORK_DIR=sparsity)
set -euo pipefail
cd "$(dirname "$0")/.."
corpus=${CORPUS_DIR:-/usr/share/games/wesnoth/1.16/data/core/music}
work=${WORK_DIR:-sparsity}
steps=${STEPS:-600}
sparsities=${SPARSITIES:-0.8 0.9}
prune_share=${PRUNE_SHARE:-2/3}
prune_sample_tier=${PRUNE_SAMPLE_TIER:-True}
threads=${NUM_THREADS:-$(nproc)}
bin=${SAMPLERNN:-build/cli/samplernn}
pretrained=pretrained/wesnoth-small.safetensors
[ -x "$bin" ] || { echo "sparsity-quality: build first (scripts/build.sh)" >&2; exit 2; }
[ -d "$corpus" ] || { echo "sparsity-quality: scripts/install-deps.sh --corpus first" >&2; exit 2; }

# shellcheck source=scripts/wesnoth-split.sh
source scripts/wesnoth-split.sh
[ -d "$work/chunks" ] || "$bin" chunk --input_dir "$work/train-tracks" --output_dir "$work/chunks" --overlap 1000 > /dev/null

start=$(python3 -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"]["step"])' "$pretrained")
end=$((start + steps))
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD) cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' threads $threads; steps $start..$end, pruned over ${prune_share} of them, sample tier pruned: $prune_sample_tier"
for s in 0 $sparsities; do
  id="s$s"
  prune=()
  if [ "$s" != 0 ]; then
    prune=(--sparsity "$s" --prune_start "$start" --prune_end $((start + steps * ${prune_share}))
           --prune_sample_tier "$prune_sample_tier")
  fi
  # A model already trained by an earlier run of this script is scored again, not retrained.
  [ -d "$work/logdir/$id" ] || "$bin" train --id "$id" --data_dir "$work/chunks" --config_file configs/small.config.json --resume_from "$pretrained" \
    --logdir_root "$work/logdir" --output_dir "$work/generated" --batch_size 16 --num_epochs 1000 --max_steps "$end" \
    --early_stopping_patience 0 --val_frac 0.05 --verbose False --rng_seed 1 --num_threads "$threads" \
    --generate False "${prune[@]}" > "$work/$id.log" 2>&1 || { tail -n 5 "$work/$id.log" >&2; exit 1; }
  for w in fp32 int8; do
    nll=$("$bin" eval --checkpoint_path "$work/logdir/$id" "$work/heldout-tracks" --weights "$w" --json \
            --num_threads "$threads" 2>/dev/null |
          python3 -c 'import json, sys; print("%.4f" % json.load(sys.stdin)["nll_bits_per_sample"])')
    echo "sparsity $s, $w weights: held-out NLL $nll bits/sample"
  done
done
