#!/usr/bin/env bash
# The Python package's tests: builds crates/clerk-python (the clerk-verifier wheel, with its
# `testing` feature: the emulator) with maturin into a venv (PyPI packages pinned in
# requirements.txt), builds the emulator's command line, writes the parity corpus (tokens
# with clerk-auth's verdicts), then:
#   1. pytest against the installed extension: the native API, webhooks, the emulator and the
#      pytest plugin, FastAPI / Starlette / plain ASGI apps under uvicorn called over HTTP,
#      the key cache (rotation, outage, asyncio and trio), parity with clerk-auth;
#   2. the example apps' own tests (with the package's pytest plugin); mypy --strict on the
#      example apps and the package, against the installed stubs; stubtest of the stubs;
#   3. `pip install ./crates/clerk-python` into a fresh venv (maturin fetched by pip as the
#      build backend), then an import of everything it installs.
#
#   tests/python/run.sh            # extra arguments go to pytest, e.g. -k fastapi
#
# Knobs: PYTHON (the interpreter for the venvs, default python3); CARGO_TARGET_DIR (shared
# by every build here, default target/).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/python"
VENV="$WORK/venv"
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}
PACKAGE="$ROOT/crates/clerk-python"

mkdir -p "$WORK"
if [[ ! -x "$VENV/bin/maturin" ]] || ! cmp -s "$HERE/requirements.txt" "$VENV/.installed"; then
  rm -rf "$VENV"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.installed"
fi

(cd "$ROOT" && cargo build -q -p clerk-emulator --features cli)
# A wheel, as `pip install` would build it, installed into the venv (not an editable install:
# the tests import what a user would get).
rm -rf "$WORK/wheels"
"$VENV/bin/maturin" build -q --release -m "$PACKAGE/Cargo.toml" --out "$WORK/wheels"
"$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$WORK/wheels"/clerk_verifier-*.whl

echo "== parity corpus (clerk-auth's verdicts)"
(cd "$ROOT" && cargo run -q -p clerk-python --example parity-corpus -- "$WORK/parity-corpus.json")

echo "== pytest"
(cd "$PACKAGE/tests" && CLERK_EMULATOR="$CARGO_TARGET_DIR/debug/clerk-emulator" \
  PARITY_CORPUS="$WORK/parity-corpus.json" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@")

echo "== the example apps' tests, with the package's pytest plugin"
(cd "$PACKAGE/examples" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider test_app.py)

echo "== mypy --strict (the examples, and the package against its stubs); stubtest (the stubs against the extension)"
(cd "$PACKAGE/examples" && "$VENV/bin/python" -m mypy --strict --cache-dir=/dev/null ./*.py \
  && "$VENV/bin/python" -m mypy --strict --cache-dir=/dev/null -p clerk_verifier \
  && "$VENV/bin/python" -m mypy.stubtest clerk_verifier._native)

echo "== pip install into a fresh venv"
FRESH="$WORK/fresh-venv"
rm -rf "$FRESH"
"$PYTHON" -m venv "$FRESH"
"$FRESH/bin/pip" install -q --disable-pip-version-check "$PACKAGE"
(cd "$WORK" && "$FRESH/bin/python" - <<'EOF'
import importlib.metadata as metadata

import clerk_verifier
import clerk_verifier._responses
import clerk_verifier.asgi
import clerk_verifier.testing

plugins = [ep.value for ep in metadata.entry_points(group="pytest11") if ep.name == "clerk_verifier"]
assert plugins == ["clerk_verifier.pytest_plugin"], plugins
with clerk_verifier.testing.Emulator() as clerk:
    auth = clerk.verifier().verify(clerk.session_token(user_id="user_pip"))
    assert auth.user_id == "user_pip"
print("pip install ./crates/clerk-python: built, installed, imported; a token verified")
EOF
)
