#!/usr/bin/env bash
# Configures and builds samplernn (Release) into ./build. Extra arguments go to cmake.
#
#   scripts/build.sh                      # build everything
#   scripts/build.sh -DSRNN_NATIVE=ON     # tuned for this CPU
set -euo pipefail
cd "$(dirname "$0")/.."
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ -f build/CMakeCache.txt ]; then generator=(); fi
cmake -S . -B build "${generator[@]}" -DCMAKE_BUILD_TYPE=Release "$@"
cmake --build build -j"$(nproc)"
