#!/usr/bin/env bash
# The FastAPI upstream examples (gateway/examples/), tested behind the real clerk-gateway
# binary (--dev: a local Clerk emulator in the process) and the real nginx with the shipped
# gateway/deploy/nginx.conf. PyPI packages pinned in requirements.txt, in a venv under
# target/gateway-python; nginx from gateway/tests/proxies/install.sh.
#
#   gateway/tests/python/run.sh          # extra arguments go to pytest, e.g. -k identity
#
# Knobs: PYTHON (the interpreter for the venv, default python3).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
WORK="$ROOT/target/gateway-python"
VENV="$WORK/venv"
PYTHON=${PYTHON:-python3}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$ROOT/target}

"$ROOT/gateway/tests/proxies/install.sh" >/dev/null
mkdir -p "$WORK"
if [[ ! -x "$VENV/bin/pytest" ]] || ! cmp -s "$HERE/requirements.txt" "$VENV/.installed"; then
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.installed"
fi

(cd "$ROOT" && cargo build -q -p clerk-gateway)

cd "$HERE"
CLERK_GATEWAY="$CARGO_TARGET_DIR/debug/clerk-gateway" NGINX="$ROOT/target/proxies/bin/nginx" \
  "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$@"
