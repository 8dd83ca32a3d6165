#!/usr/bin/env bash
# Installs dependencies, builds, and runs the whole test suite through ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh
# playwright-core, pinned in tests/browser/package-lock.json, drives Debian's Chromium.
npm ci --silent --no-audit --no-fund --prefix tests/browser
cd build
ctest --output-on-failure -j"$(nproc)"
