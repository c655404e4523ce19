#!/usr/bin/env bash
# The Python package's tests: builds crates/clerk-python (the clerk-verifier wheel) with
# maturin into a venv (PyPI packages pinned in requirements.txt), builds the emulator's
# command line, then runs pytest against the installed extension: the native API, and a
# FastAPI app under uvicorn called over HTTP.
#
#   tests/python/run.sh            # extra arguments go to pytest, e.g. -k fastapi
#
# Knobs: PYTHON (the interpreter for the venv, default python3).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/python"
VENV="$WORK/venv"
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

mkdir -p "$WORK"
if [[ ! -x "$VENV/bin/maturin" ]] || ! cmp -s "$HERE/requirements.txt" "$VENV/.installed"; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.installed"
fi

(cd "$ROOT" && cargo build -q -p clerk-emulator --features cli)
# A wheel, as `pip install` would build it, installed into the venv (not an editable install:
# the tests import what a user would get).
rm -rf "$WORK/wheels"
"$VENV/bin/maturin" build -q -m "$ROOT/crates/clerk-python/Cargo.toml" --out "$WORK/wheels"
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$WORK/wheels"/clerk_verifier-*.whl

cd "$ROOT/crates/clerk-python/tests"
CLERK_EMULATOR="$CARGO_TARGET_DIR/debug/clerk-emulator" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
