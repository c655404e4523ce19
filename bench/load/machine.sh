#!/usr/bin/env bash
# The machine-token benchmark: `GET /v1/notes` with 100 distinct API keys rotating, our
# `api-server` (API keys verified by the Backend API once, then cached) against a Node service
# using Clerk's `authenticateRequest({ acceptsToken: "api_key" })` (a Backend API call per
# request), both verifying through the same local Backend API: the emulator's CLI
# (`clerk-emulator serve`), which counts the verify calls it answers.
#
#   bench/load/machine.sh       # ~3 minutes after the builds; writes bench/load/machine-results.md
#
# Knobs: DURATION (10s), WARMUP (3s), CONNECTIONS (64), ROUNDS (3), KEYS (100).
# Each round starts a fresh emulator with KEYS new API keys, then each server in turn (a fresh
# process, a fresh SQLite database for ours), runs wrk (WARMUP discarded, then DURATION
# measured), stops it, and reads the emulator's count of `POST /api_keys/verify` calls over
# the whole measurement, warm-up included. Unpinned: the emulator does the Backend API's work
# for Node on every request, and shares the machine with both.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
DURATION="${DURATION:-10s}"
WARMUP="${WARMUP:-3s}"
CONNECTIONS="${CONNECTIONS:-64}"
ROUNDS="${ROUNDS:-3}"
KEYS="${KEYS:-100}"
OUT="$HERE/machine-results.md"
WORK="$(mktemp -d)"
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT

log() { echo "==> $*" >&2; }

command -v wrk >/dev/null || { apt-get install -y wrk >/dev/null 2>&1 || { echo "wrk is needed" >&2; exit 1; }; }
log "building api-server and the emulator's CLI (release)"
(cd "$ROOT" && cargo build --release -p api-server -p clerk-emulator --features clerk-emulator/cli >&2)
[ -d "$HERE/node_modules/@clerk/backend" ] || (cd "$HERE" && npm ci --no-audit --no-fund >&2)
SERVER="$ROOT/target/release/api-server"
EMULATOR="$ROOT/target/release/clerk-emulator"

wait_for() { # URL
  for _ in $(seq 1 200); do
    curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
    sleep 0.05
  done
  echo "not ready: $1" >&2
  return 1
}

EMULATOR_PORT=18100
start_emulator() {
  # A port of its own per run: no wait for the last one's connections to leave TIME_WAIT.
  EMULATOR_PORT=$((EMULATOR_PORT + 1))
  "$EMULATOR" serve --bind "127.0.0.1:$EMULATOR_PORT" > "$WORK/emulator.out" 2>&1 &
  EMULATOR_PID=$!
  for _ in $(seq 1 200); do grep -q "^Secret key" "$WORK/emulator.out" && break; sleep 0.05; done
  SECRET_KEY="$(awk '/^Secret key/ {print $3}' "$WORK/emulator.out")"
  PUBLISHABLE_KEY="$(awk '/^Publishable key/ {print $3}' "$WORK/emulator.out")"
  JWKS_URL="$(awk '/^JWKS URL/ {print $3}' "$WORK/emulator.out")"
  API_URL="http://127.0.0.1:$EMULATOR_PORT"
  : > "$WORK/keys.txt"
  for i in $(seq 1 "$KEYS"); do
    curl -fsS -X POST "$API_URL/api_keys" -H "Authorization: Bearer $SECRET_KEY" \
      -H "Content-Type: application/json" \
      -d "{\"subject\":\"user_bench$(printf '%022d' "$i")\",\"name\":\"bench-$i\",\"scopes\":[\"notes:read\"]}" \
      | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])' >> "$WORK/keys.txt"
  done
}

stop_emulator() { # sets CALLS: the ApiKeyVerify count (not in a subshell: it must wait)
  kill -INT "$EMULATOR_PID"
  wait "$EMULATOR_PID" 2>/dev/null || true
  CALLS="$(sed -n 's/.*ApiKeyVerify=\([0-9]*\).*/\1/p' "$WORK/emulator.out")"
  [ -n "$CALLS" ] || { echo "the emulator printed no counts:" >&2; cat "$WORK/emulator.out" >&2; exit 1; }
}

run_wrk() { # URL -> WRK_JSON line of the measurement
  wrk -t2 -c"$CONNECTIONS" -d"$WARMUP" -s "$HERE/tokens.lua" "$1" -- "$WORK/keys.txt" 2 > "$WORK/warmup.out"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" -s "$HERE/tokens.lua" "$1" -- "$WORK/keys.txt" 2 > "$WORK/wrk.out"
  local warm; warm="$(sed -n 's/^WRK_JSON //p' "$WORK/warmup.out")"
  local main; main="$(sed -n 's/^WRK_JSON //p' "$WORK/wrk.out")"
  python3 -c 'import json,sys; w=json.loads(sys.argv[1]); m=json.loads(sys.argv[2]); m["all_requests"]=w["requests"]+m["requests"]; m["all_non2xx"]=w["non2xx"]+m["non2xx"]; print(json.dumps(m))' "$warm" "$main"
}

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

RESULTS="$WORK/results.jsonl"
for round in $(seq 1 "$ROUNDS"); do
  for who in ours node; do
    start_emulator
    if [ "$who" = ours ]; then
      DATABASE_URL="sqlite://$WORK/bench-$round.db?mode=rwc" BIND=127.0.0.1:18091 RUST_LOG=warn \
        CLERK_JWKS_URL="$JWKS_URL" CLERK_SECRET_KEY="$SECRET_KEY" CLERK_API_URL="$API_URL" \
        "$SERVER" > "$WORK/server.log" 2>&1 &
      PID=$!; URL="http://127.0.0.1:18091/v1/notes"; wait_for "http://127.0.0.1:18091/healthz"
    else
      PORT=18092 CLERK_SECRET_KEY="$SECRET_KEY" CLERK_PUBLISHABLE_KEY="$PUBLISHABLE_KEY" \
        CLERK_API_URL="$API_URL" node "$HERE/node_machine.mjs" > "$WORK/server.log" 2>&1 &
      PID=$!; URL="http://127.0.0.1:18092/v1/notes"; wait_for "http://127.0.0.1:18092/healthz"
    fi
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $(head -1 "$WORK/keys.txt")" "$URL")" = 200 ] \
      || { echo "$who: a valid API key is not accepted" >&2; cat "$WORK/server.log" >&2; exit 1; }
    [ "$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ak_not_a_key" "$URL")" = 401 ] \
      || { echo "$who: an unknown API key is not refused" >&2; exit 1; }
    log "round $round: $who"
    before="$(cpu_ticks "$PID")"
    line="$(run_wrk "$URL")"
    after="$(cpu_ticks "$PID")"
    kill "$PID"; wait "$PID" 2>/dev/null || true
    stop_emulator
    python3 -c 'import json,sys; d=json.loads(sys.argv[1]); d.update(who=sys.argv[2], round=int(sys.argv[3]), calls=int(sys.argv[4]), cpu_ticks=int(sys.argv[5])); print(json.dumps(d))' \
      "$line" "$who" "$round" "$CALLS" "$((after - before))" >> "$RESULTS"
  done
done

python3 - "$RESULTS" "$OUT" "$KEYS" "$DURATION" "$WARMUP" "$CONNECTIONS" "$ROUNDS" "$(git -C "$ROOT" rev-parse --short HEAD)" <<'PY'
import json, statistics, sys, datetime, os
rows = [json.loads(l) for l in open(sys.argv[1])]
out, keys, duration, warmup, conns, rounds, commit = sys.argv[2:9]
hz = os.sysconf("SC_CLK_TCK")
names = {"ours": "ours (`api-server`, API keys cached)", "node": "Node + `@clerk/backend` `authenticateRequest` (no cache)"}
lines = [
  "## Machine-token benchmark: `GET /v1/notes` with API keys",
  "",
  f"- Date: {datetime.datetime.utcnow():%Y-%m-%d %H:%M} UTC; commit `{commit}`; 2 cores, unpinned (servers, wrk and the emulator share the machine)",
  f"- {keys} distinct API keys rotating (`tokens.lua`), `wrk -t2 -c{conns} -d{duration}` after a {warmup} warm-up, {rounds} rounds (a fresh emulator and fresh keys each round), the median round shown",
  "- Both verify through the same local Backend API (`clerk-emulator serve`); *Backend API calls per 10,000 requests* counts its `POST /api_keys/verify` answers over warm-up and measurement",
  "",
  "| Server | req/s (median) | range | p50 ms | p99 ms | non-2xx | Backend API calls per 10,000 requests | server CPU µs/req |",
  "|---|---:|---:|---:|---:|---:|---:|---:|",
]
med = {}
for who in ["ours", "node"]:
  rs = sorted([r for r in rows if r["who"] == who], key=lambda r: r["rps"])
  m = rs[len(rs)//2]; med[who] = m
  per10k = 10000 * m["calls"] / max(1, m["all_requests"])
  cpu_us = 1e6 * m["cpu_ticks"] / hz / max(1, m["all_requests"])
  lines.append(f"| {names[who]} | {m['rps']:,.0f} | {rs[0]['rps']:,.0f}–{rs[-1]['rps']:,.0f} | {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {sum(r['non2xx'] for r in rs)} | {per10k:,.1f} | {cpu_us:.1f} |")
lines += ["", f"Ours ÷ Node, req/s: {med['ours']['rps']/med['node']['rps']:.1f}×; p99 {med['ours']['p99_ms']:.2f} vs {med['node']['p99_ms']:.2f} ms. *Server CPU*: user + system time of the server process over warm-up and measurement, per request; Node's excludes the emulator's work for it (the Backend API's, in production Clerk's)."]
open(out, "w").write("\n".join(lines) + "\n")
print("\n".join(lines))
PY
log "written to $OUT"
