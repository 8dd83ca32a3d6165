#!/usr/bin/env bash
# Installs every Debian package samplernn needs to build, test and run its main job.
# Safe to run again: packages already present are skipped by apt.
#
#   sudo scripts/install-deps.sh            # build and test dependencies (Chromium and
#                                           # Node.js for the report's browser test, clang
#                                           # and its sanitizer runtimes for fuzzing)
#   sudo scripts/install-deps.sh --corpus   # also the default corpus (wesnoth-1.16-music)
#   sudo scripts/install-deps.sh --bench    # also python3-torch, for the Python reference
#
# LibTorch from Debian calls whatever libblas.so.3 is selected; libopenblas0-openmp makes
# that OpenBLAS (the default is the slow reference BLAS) with OpenMP threads, so
# --num_threads governs it too. The Python reference uses the same library.
# `samplernn tune` runs Optuna (python3-optuna) under Debian's /usr/bin/python3; its tests
# share a study through SQLite and through a PostgreSQL server they start themselves
# (postgresql, reached with python3-psycopg2).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  libsndfile1-dev libsoxr-dev libfftw3-dev libcairo2-dev
  nlohmann-json3-dev libcli11-dev
  libtorch-dev libgloo-dev libopenblas0-openmp
  libgtest-dev libbenchmark-dev
  chromium time
  clang libclang-rt-14-dev
  python3-optuna python3-psycopg2 postgresql
)
# Node.js and npm run the report's browser test. Machines that already have them (from
# another source) keep theirs; Debian's packages would conflict with it.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)
for arg in "$@"; do
  case "$arg" in
    --corpus) packages+=(wesnoth-1.16-music) ;;
    --bench) packages+=(python3-torch) ;;
    *) echo "install-deps.sh: unknown option '$arg' (known: --corpus, --bench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
