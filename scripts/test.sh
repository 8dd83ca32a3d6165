#!/usr/bin/env bash
# Installs dependencies (Debian's packages and the project's venv), builds, and runs the whole
# test suite through ctest, with PRiSM checkpoints TensorFlow has just written.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# TensorFlow (PyPI, .venv-tf) writes the PRiSM fixtures afresh for the prism.* tests.
scripts/prism-fixtures.sh build/prism-fixtures
cd build
ctest --output-on-failure -j"$(nproc)"
