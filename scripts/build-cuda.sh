#!/usr/bin/env bash
# Builds samplernn against a CUDA LibTorch into ./build-cuda (Release), for training and
# generating on NVIDIA GPUs. The LibTorch is the one inside python3's PyTorch
# (torch.utils.cmake_prefix_path) unless TORCH_DIR names another, such as the unzipped
# LibTorch download. The CUDA toolkit's nvcc must be on PATH or in /usr/local/cuda/bin.
#
#   scripts/build-cuda.sh                                 # Debian: scripts/install-deps.sh first
#   TORCH_DIR=$HOME/libtorch scripts/build-cuda.sh        # the LibTorch download
#   DEPS_PREFIX=/opt/srnn-deps scripts/build-cuda.sh      # no apt: see scripts/cuda-deps.sh
#   scripts/build-cuda.sh -DSRNN_BUILD_BENCH=OFF          # extra arguments go to cmake
#
# Then test it with `ctest --test-dir build-cuda` (with DEPS_PREFIX, after sourcing
# $DEPS_PREFIX/env.sh, so that the programs find the libraries).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${DEPS_PREFIX:-}" ]; then
  [ -f "$DEPS_PREFIX/env.sh" ] || { echo "error: '$DEPS_PREFIX/env.sh' is missing: run scripts/cuda-deps.sh unpack first" >&2; exit 3; }
  # shellcheck disable=SC1091
  source "$DEPS_PREFIX/env.sh"
fi
torch_dir=${TORCH_DIR:-$(python3 -c 'import torch.utils; print(torch.utils.cmake_prefix_path)' 2>/dev/null || true)}
for d in "$torch_dir/Torch" "$torch_dir/share/cmake/Torch"; do
  [ -f "$d/TorchConfig.cmake" ] && torch_config=$d
done
[ -n "${torch_config:-}" ] || { echo "error: no TorchConfig.cmake under '$torch_dir'" >&2; exit 9; }
# The peers' tests (tests/peers/) run under the Python whose PyTorch this is, unless the
# project's venv is there.
peer_python=()
[ -x .venv/bin/python ] || peer_python=(-DSRNN_PEER_PYTHON="$(command -v python3)")
if [ -z "$torch_dir" ]; then
  echo "error: no CUDA LibTorch found: install PyTorch with CUDA for python3, or set TORCH_DIR to the unzipped LibTorch download" >&2
  exit 9
fi
if ! command -v nvcc >/dev/null; then
  [ -x /usr/local/cuda/bin/nvcc ] || { echo "error: nvcc not found: install the CUDA toolkit, or put its bin folder on PATH" >&2; exit 9; }
  export PATH=/usr/local/cuda/bin:$PATH
fi
generator=()
command -v ninja >/dev/null && [ ! -f build-cuda/CMakeCache.txt ] && generator=(-G Ninja)
cmake -S . -B build-cuda "${generator[@]}" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$torch_dir${DEPS_PREFIX:+;$DEPS_PREFIX/usr}" -DTorch_DIR="$torch_config" \
  "${peer_python[@]}" "$@"
cmake --build build-cuda -j"$(nproc)"
echo "built build-cuda/cli/samplernn against $torch_dir"
