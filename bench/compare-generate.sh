#!/usr/bin/env bash
# Generation speed of the samplernn engine against the Python reference, in one run.
#
#   bench/compare-generate.sh [repetitions]     (default 5; needs scripts/install-deps.sh --bench)
#
# For each (config, num_seqs) of the benchmark table, runs build/bench/bench-generate
# (warm-up + repetitions, median) and the reference (`--what generate`, one warm-up, one timed
# run per repetition), both on THREADS threads (default: all cores), and prints samples/s
# summed over sequences, with the ratio.
set -euo pipefail
cd "$(dirname "$0")/.."
reps=${1:-5}
threads=${THREADS:-$(nproc)}
ref=${REFERENCE:-../shared/reference/samplernn_reference.py}
bin=build/bench/bench-generate
[ -x "$bin" ] || { echo "compare-generate: build first (scripts/build.sh)" >&2; exit 2; }
[ -f "$ref" ] || { echo "compare-generate: reference '$ref' not found (set REFERENCE=)" >&2; exit 2; }
echo "# $(date -u +%F) commit $(git rev-parse --short HEAD) cpu '$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)' samplernn threads $threads"
for spec in "small 1 32768 4096" "small 16 16384 2048" "default 1 4096 1024" "default 16 1024 256"; do
  set -- $spec
  config=$1 n=$2 ours_dur=$3 ref_dur=$4
  mine=$("$bin" --config "$config" --num_seqs "$n" --dur_samples "$ours_dur" --threads "$threads" --reps "$reps")
  rates=()
  for ((r = 1; r <= reps; r++)); do
    rates+=("$(/usr/bin/python3 "$ref" --config "$config" --what generate --num_seqs "$n" --dur_samples "$ref_dur" \
      --threads "$threads" |
      /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["samples_per_sec"])')")
  done
  /usr/bin/python3 - "$mine" "${rates[@]}" <<'PY'
import json, statistics, sys
m = json.loads(sys.argv[1]); ref = [float(x) for x in sys.argv[2:]]
r = statistics.median(ref)
print(f"{m['config']:8s} num_seqs {m['num_seqs']:2d}: samplernn {m['samples_per_sec']:9.0f} samples/s "
      f"({m['min']:.0f}-{m['max']:.0f}, peak {m['peak_rss_mb']:.0f} MB), reference {r:8.0f} "
      f"({min(ref):.0f}-{max(ref):.0f}), ratio {m['samples_per_sec'] / r:.1f}x")
PY
done
