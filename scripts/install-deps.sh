#!/usr/bin/env bash
# Installs everything samplernn needs to build, test and run its main job: Debian's packages
# (as root), then the project's Python packages, pinned in requirements.txt, into .venv/
# (LibTorch comes from its torch wheel). Safe to run again: what is present is skipped.
#
#   sudo scripts/install-deps.sh            # build and test dependencies (Chromium for the
#                                           # report's browser test, clang and its sanitizer
#                                           # runtimes for fuzzing) and .venv/
#   sudo scripts/install-deps.sh --corpus   # also the default corpus (wesnoth-1.16-music)
#   sudo scripts/install-deps.sh --bench    # also Debian's python3-torch, the older PyTorch
#                                           # the benchmarks name beside the venv's
#
# The venv (about 4.8 GB: torch with its CUDA libraries) holds the LibTorch that CMake finds
# (.venv/lib/python3.11/site-packages/torch), the Python reference's PyTorch, and the test
# peers: tensorboard, safetensors and playwright. `samplernn tune` runs Optuna
# (python3-optuna) under Debian's /usr/bin/python3; its tests share a study through SQLite and
# through a PostgreSQL server they start themselves (postgresql, reached with python3-psycopg2).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsndfile1-dev libsoxr-dev libfftw3-dev libcairo2-dev
  nlohmann-json3-dev libcli11-dev libleveldb-dev libsnappy-dev libprotobuf-dev
  libgloo-dev python3-venv
  libgtest-dev libbenchmark-dev
  chromium fonts-dejavu-core time
  clang libclang-rt-14-dev
  python3-optuna python3-psycopg2 postgresql
)
for arg in "$@"; do
  case "$arg" in
    --corpus) packages+=(wesnoth-1.16-music) ;;
    --bench) packages+=(python3-torch libopenblas0-openmp) ;;
    *) echo "install-deps.sh: unknown option '$arg' (known: --corpus, --bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} Debian packages present"
elif [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
  exit 1
else
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The venv, rebuilt only when requirements.txt changes (its hash is kept inside the venv).
cd "$(dirname "$0")/.."
want=$(sha256sum requirements.txt | cut -d' ' -f1)
if [ "$(cat .venv/requirements.sha256 2>/dev/null)" = "$want" ]; then
  echo "install-deps: .venv matches requirements.txt"
  exit 0
fi
echo "install-deps: installing requirements.txt into .venv (about 2.5 GB to download)"
rm -rf .venv
/usr/bin/python3 -m venv .venv
if ! .venv/bin/pip install -q --no-cache-dir --no-deps --require-hashes --disable-pip-version-check \
    -r requirements.txt; then
  rm -rf .venv
  echo "install-deps: pip could not install requirements.txt into .venv (PyPI unreachable or the disk full?);" \
       "fix that and run this script again" >&2
  exit 1
fi
echo "$want" > .venv/requirements.sha256
