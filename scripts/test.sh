#!/usr/bin/env bash
# Installs dependencies (Debian's packages and the project's venv), builds, and runs the whole
# test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
cd build
ctest --output-on-failure -j"$(nproc)"
