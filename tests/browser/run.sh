#!/usr/bin/env bash
# The dev console's browser test (console.test.mjs): `api-server --dev` on a free loopback
# port with a fresh SQLite database, driven by headless Debian chromium through playwright-core
# (pinned by package-lock.json; Playwright's own browsers are never downloaded).
#
# Installs what it needs: Debian's chromium when /usr/bin/chromium is missing (apt-get, as
# root), and playwright-core from the npm registry (npm ci). Leaves the screenshot in
# tests/browser/artifacts/console.png, and the server's log next to it.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../.." && pwd)"
artifacts="$here/artifacts"
started=$SECONDS

if [ ! -x /usr/bin/chromium ]; then
  echo "== installing Debian's chromium (apt-get)"
  as_root=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "/usr/bin/chromium is missing: install Debian's chromium, or run as root" >&2; exit 1; }
    as_root=(sudo)
  fi
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi

echo "== npm ci (tests/browser)"
(cd "$here" && npm ci --no-audit --no-fund)

echo "== cargo build -p api-server"
(cd "$root" && cargo build -p api-server)
server="${CARGO_TARGET_DIR:-$root/target}/debug/api-server"

work="$(mktemp -d)"
mkdir -p "$artifacts"
rm -f "$artifacts/console.png" "$artifacts/server.log"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  if [ -f "$work/server.log" ]; then cp "$work/server.log" "$artifacts/server.log"; fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free loopback port, from the kernel.
port="$(node -e 'const s = require("net").createServer(); s.listen(0, "127.0.0.1", () => { console.log(s.address().port); s.close(); });')"
base="http://127.0.0.1:$port"

echo "== api-server --dev on $base"
BIND="127.0.0.1:$port" \
  DATABASE_URL="sqlite://$work/db.sqlite?mode=rwc" \
  RUST_LOG="${RUST_LOG:-info}" \
  "$server" --dev >"$work/server.log" 2>&1 &
server_pid=$!

ready=""
for _ in $(seq 1 300); do
  if ! kill -0 "$server_pid" 2>/dev/null; then
    echo "api-server exited before it was ready:" >&2
    tail -n 40 "$work/server.log" >&2
    exit 1
  fi
  if curl -fsS -o /dev/null "$base/readyz" 2>/dev/null; then
    ready=yes
    break
  fi
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "api-server was not ready within 30 s:" >&2
  tail -n 40 "$work/server.log" >&2
  exit 1
fi

echo "== browser test"
status=0
(cd "$here" && CONSOLE_BASE_URL="$base" node --test --test-reporter=spec console.test.mjs) || status=$?
if [ "$status" -ne 0 ]; then
  echo "-- the server's log (last 40 lines; all of it in $artifacts/server.log):" >&2
  tail -n 40 "$work/server.log" >&2
fi
echo "== browser test: $([ "$status" -eq 0 ] && echo passed || echo FAILED) in $((SECONDS - started)) s; screenshot: $artifacts/console.png"
exit "$status"
