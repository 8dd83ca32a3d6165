#!/usr/bin/env bash
# Coverage-guided fuzzing of every parser: builds the libFuzzer targets of fuzz/ with clang,
# AddressSanitizer and UndefinedBehaviorSanitizer into build-fuzz/, makes their seed corpora
# with the test suite (tests/test-fuzz-corpus.cpp, from the normal build), then fuzzes each
# target for FUZZ_SECONDS (default 60), two at a time. A crash, an exception other than
# srnn::Error, undefined behaviour, a leak, a timeout or running out of memory fails the run;
# the input that did it is kept in build-fuzz/findings/.
#
#   scripts/fuzz.sh                      # about 3 minutes after the build
#   FUZZ_SECONDS=3600 scripts/fuzz.sh    # a longer run (docs/development.md)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${FUZZ_SECONDS:-60}
targets=(fuzz-safetensors fuzz-checkpoint fuzz-config fuzz-decode fuzz-tf-bundle)

cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang \
  -DCMAKE_CXX_COMPILER=clang++ -DSRNN_WITH_TORCH=OFF -DSRNN_FUZZ=ON \
  -DSRNN_SANITIZE=fuzzer-no-link,address,undefined > /dev/null
cmake --build build-fuzz -j"$(nproc)"

# Seeds: valid files of every kind each target reads, written by the test suite.
[ -x build/tests/test-fuzz-corpus ] || cmake --build build --target test-fuzz-corpus
rm -rf build-fuzz/seeds build-fuzz/findings
mkdir -p build-fuzz/findings
SRNN_FUZZ_CORPUS="$PWD/build-fuzz/seeds" build/tests/test-fuzz-corpus > /dev/null
declare -A corpus=([fuzz-safetensors]=safetensors [fuzz-checkpoint]=checkpoint [fuzz-config]=config
                   [fuzz-decode]=decode [fuzz-tf-bundle]=tf-bundle)

run() {
  local target=$1 dir="build-fuzz/corpus/${corpus[$1]}"
  mkdir -p "$dir"
  cp -n build-fuzz/seeds/"${corpus[$1]}"/* "$dir"/
  if build-fuzz/fuzz/"$target" -max_total_time="$seconds" -timeout=20 -rss_limit_mb=2048 -max_len=65536 \
      -print_final_stats=1 -artifact_prefix="build-fuzz/findings/$target-" "$dir" > "build-fuzz/$target.log" 2>&1; then
    echo "fuzz: $target: $(grep -o 'stat::number_of_executed_units: [0-9]*' "build-fuzz/$target.log" | grep -o '[0-9]*$') runs, no finding"
  else
    echo "fuzz: $target FAILED; the log is build-fuzz/$target.log, the input in build-fuzz/findings/" >&2
    tail -n 40 "build-fuzz/$target.log" >&2
    return 1
  fi
}

status=0
for ((i = 0; i < ${#targets[@]}; i += 2)); do
  run "${targets[i]}" & first=$!
  second=""
  if ((i + 1 < ${#targets[@]})); then run "${targets[i + 1]}" & second=$!; fi
  wait "$first" || status=1
  if [ -n "$second" ]; then wait "$second" || status=1; fi
done
rm -f /tmp/srnn-fuzz-*
exit $status
