# shellcheck shell=bash
# Sourced by the scripts that score a model: held-out NLL with `samplernn eval`, and a summary
# of `samplernn stats --json` over a folder of unprimed clips. Needs $bin (the samplernn
# binary) and $py (a Python 3). Also the step count a checkpoint records.
: "${bin:?measure.sh needs bin}" "${py:?measure.sh needs py}"

# checkpoint_step FILE: the model's step count, from a safetensors checkpoint's metadata.
checkpoint_step() {
  "$py" -c 'import json, struct, sys
f = open(sys.argv[1], "rb"); n = struct.unpack("<Q", f.read(8))[0]
print(json.loads(f.read(n))["__metadata__"]["step"])' "$1"
}

# held_out_nll CHECKPOINT HELDOUT_DIR THREADS LOG: the NLL over all held-out files, bits/sample
# ('?' when eval fails); eval's whole output goes to LOG.
held_out_nll() {
  "$bin" eval --checkpoint_path "$1" "$2" --num_threads "$3" 2>&1 | tee "$4" |
    grep -o '^All .*: NLL [0-9.]*' | grep -o '[0-9.]*$' || echo '?'
}

# clip_checks STATS_JSON: one line per clip, "passes" or "FAILS: ..." the checks of a clip
# that is not degenerate: no stretch stuck at one level or in a loop (collapsed), |DC| < 0.01.
clip_checks() {
  "$py" - "$1" <<'PY'
import json, os, sys
d = json.load(open(sys.argv[1]))
for f in d["files"] if isinstance(d, dict) else d:  # several files, or one
    bad = [w for w, b in (("collapsed", f["collapsed"]), ("|DC| >= 0.01", abs(f["dc_offset"]) >= 0.01)) if b]
    print(f"   {os.path.basename(f['file'])}: {'FAILS: ' + ', '.join(bad) if bad else 'passes'} "
          f"(DC {f['dc_offset']:+.4f}, tonal {f['tonal_fraction']:.2f})")
PY
}

# clip_measures STATS_JSON FORMAT: FORMAT "tsv" prints the median tonal fraction, the median
# partials, the largest |DC|, the collapsed count and the clip count, tab-separated; any other
# FORMAT (a temperature, say) prints "; t=FORMAT: tonal …, partials min-max, |DC| <= …, loops
# n/N, collapsed n/N" for a summary line.
clip_measures() {
  "$py" - "$1" "$2" <<'PY'
import json, statistics, sys
d = json.load(open(sys.argv[1]))
files = d["files"] if isinstance(d, dict) else d
tonal = statistics.median(f["tonal_fraction"] for f in files)
partials = [f["partials"] for f in files]
dc = max(abs(f["dc_offset"]) for f in files)
loops = sum(f["loop_period"] > 0 for f in files)
coll = sum(f["collapsed"] for f in files)
if sys.argv[2] == "tsv":
    print(f"{tonal:.2f}\t{statistics.median(partials):.1f}\t{dc:.4f}\t{coll}\t{len(files)}")
else:
    print(f"; t={sys.argv[2]}: tonal {tonal:.2f}, partials {min(partials):.1f}-{max(partials):.1f}, "
          f"|DC| <= {dc:.3f}, loops {loops}/{len(files)}, collapsed {coll}/{len(files)}", end="")
PY
}
