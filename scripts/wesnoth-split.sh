# Sourced by the scripts that score models on held-out Wesnoth tracks: links every 8th track
# in name order, starting with the 5th (5 of 41, 18.7 minutes), into $work/heldout-tracks and
# the others into $work/train-tracks. Needs $corpus and $work.
: "${corpus:?wesnoth-split.sh needs corpus}" "${work:?wesnoth-split.sh needs work}"
rm -rf "$work/train-tracks" "$work/heldout-tracks"
mkdir -p "$work/train-tracks" "$work/heldout-tracks"
i=0
for f in $(ls "$corpus"/*.ogg | sort); do
  if (( i % 8 == 4 )); then ln -s "$(realpath "$f")" "$work/heldout-tracks/"; else ln -s "$(realpath "$f")" "$work/train-tracks/"; fi
  i=$((i + 1))
done
echo "held out: $(ls "$work/heldout-tracks" | tr '\n' ' ')"
