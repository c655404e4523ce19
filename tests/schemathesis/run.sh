#!/usr/bin/env bash
# The contract test: schemathesis (from PyPI, pinned in requirements.txt) against the running
# reference server, with every check (schemathesis.toml), every phase, a fixed seed and a time
# budget. The server runs with --dev: a local Clerk, a valid session token of an organization
# admin, and CLERK_SECRET_KEY pointing at the emulator's Backend API (so `fresh=true` works).
#
#   tests/schemathesis/run.sh              # uses target/debug/api-server, builds it if missing
#   ST_MAX_TIME=600 tests/schemathesis/run.sh   # a longer run
#
# Knobs: API_SERVER (the binary), ST_MAX_TIME (seconds, default 150), ST_SEED (default 1).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$ROOT/target/schemathesis"
VENV="$WORK/venv"
API_SERVER=${API_SERVER:-$ROOT/target/debug/api-server}
ST_MAX_TIME=${ST_MAX_TIME:-150}
ST_SEED=${ST_SEED:-1}

mkdir -p "$WORK"
if [[ ! -x "$API_SERVER" ]]; then
  (cd "$ROOT" && cargo build -p api-server)
fi
if [[ ! -x "$VENV/bin/st" ]] || ! cmp -s "$HERE/requirements.txt" "$VENV/.installed"; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.installed"
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
rm -rf "$WORK/run" && mkdir -p "$WORK/run"
env -i "PATH=$PATH" "HOME=${HOME:-/root}" BIND="127.0.0.1:$PORT" \
  DATABASE_URL="sqlite://$WORK/run/api.db?mode=rwc" RUST_LOG=warn \
  "$API_SERVER" --dev >"$WORK/run/banner.txt" 2>"$WORK/run/server.log" &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null || true; wait "$SERVER" 2>/dev/null || true' EXIT
for _ in $(seq 1 100); do
  grep -q '/v1/notes' "$WORK/run/banner.txt" 2>/dev/null && break
  kill -0 "$SERVER" 2>/dev/null || { cat "$WORK/run/server.log" >&2; exit 1; }
  sleep 0.2
done
# The organization admin's token, from the banner's note-creating curl.
TOKEN=$(grep '/v1/notes' "$WORK/run/banner.txt" | head -n 1 | sed -n 's/.*Authorization: Bearer \([^"]*\)".*/\1/p')
[[ -n "$TOKEN" ]] || { echo "no token in the --dev banner" >&2; cat "$WORK/run/banner.txt" >&2; exit 1; }

cd "$HERE"
"$VENV/bin/st" --config-file "$HERE/schemathesis.toml" run "http://127.0.0.1:$PORT/openapi.json" \
  -H "Authorization: Bearer $TOKEN" \
  --phases examples,coverage,fuzzing,stateful \
  --seed "$ST_SEED" --max-time "$ST_MAX_TIME" --generation-codec utf-8 \
  --report junit --report-dir "$WORK/run/report" --no-color
