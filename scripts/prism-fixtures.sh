#!/usr/bin/env bash
# Writes the PRiSM SampleRNN fixtures: small TensorFlow checkpoints in PRiSM's layout, with the
# logits TensorFlow computes from them (tools/prism_fixtures.py), into OUT_DIR (default
# tests/data/prism). TensorFlow and tf_keras, pinned in requirements-tf.txt, go into a venv of
# their own, .venv-tf/ (about 1.6 GB), installed the first time and again when
# requirements-tf.txt changes.
#
#   scripts/prism-fixtures.sh               # the committed fixtures, tests/data/prism
#   scripts/prism-fixtures.sh /tmp/prism    # elsewhere
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-tests/data/prism}

want=$(sha256sum requirements-tf.txt | cut -d' ' -f1)
if [ "$(cat .venv-tf/requirements.sha256 2>/dev/null)" != "$want" ]; then
  echo "prism-fixtures: installing requirements-tf.txt into .venv-tf (about 330 MB to download)"
  rm -rf .venv-tf
  /usr/bin/python3 -m venv .venv-tf
  if ! .venv-tf/bin/pip install -q --no-cache-dir --no-deps --require-hashes --disable-pip-version-check \
      -r requirements-tf.txt; then
    rm -rf .venv-tf
    echo "prism-fixtures: pip could not install requirements-tf.txt into .venv-tf" >&2
    exit 1
  fi
  echo "$want" > .venv-tf/requirements.sha256
fi
.venv-tf/bin/python tools/prism_fixtures.py "$out"
