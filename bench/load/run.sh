#!/usr/bin/env bash
# Load benchmark: our reference server (`api-server`, release build) against the classic
# "FastAPI + Clerk" app and Clerk's own Node SDK, on the same machine, with the same tokens.
#
#   bench/load/run.sh      # about 25 minutes after the builds (longer if other work keeps the
#                          # machine busy): every row with the cores shared, then pinned;
#                          # prints a Markdown report, also written to bench/load/results.md
#   PIN=1 bench/load/run.sh      # pinned rows only (half as long); PIN=0: shared rows only
#   QUICK=1 bench/load/run.sh    # a smoke test of the plumbing (1 round of 3 s): not a result
#
# Not part of CI: it takes minutes and its numbers depend on the machine.
#
# What it does, by itself on a fresh Debian/Ubuntu machine (as root, or with wrk installed):
#  1. installs wrk (apt) if missing; checks curl, cargo, python3 (venv), node >= 20.9 and npm;
#  2. builds `api-server` (cargo build --release -p api-server) and the token minter
#     (bench/load/mint, a standalone cargo project), installs the Python peer into
#     bench/load/.venv (pinned requirements.txt) and the Node peer with `npm ci`;
#  3. mints one RSA key pair and POOL_BIG tokens (1-hour lifetime, distinct users, `email`
#     claim, `azp` set), afresh for each mode; the pools are prefixes: 1 token, POOL tokens,
#     POOL_BIG tokens;
#  4. starts each server in turn, alone, on loopback, every one verifying networklessly with
#     the same PEM public key (ours: CLERK_JWT_KEY; FastAPI: python-jose with the PEM in memory;
#     Node: verifyToken's `jwtKey`), checks a valid token gets 200 with the right body and a
#     tampered one 401, then runs wrk (WARMUP discarded, then DURATION measured) per scenario;
#     ROUNDS rounds, each of which starts and measures every server in turn, so that the
#     machine's drift over the run affects all servers alike; records wrk's figures and the CPU
#     time the server, wrk and anything else used;
#  5. fails if any measured response was not 2xx, then prints the results and the ratios
#     against the targets, and writes them to bench/load/results.md.
#
# Knobs (environment): DURATION (10s), WARMUP (3s), THREADS (wrk's threads: 2, one per core;
# in the pinned mode, PIN_THREADS: one per core in PIN_WRK_CPU, so 1), CONNECTIONS (64),
# POOL (1000), POOL_BIG (30000; more than the server's 10,000-token cache, so most requests
# miss it: the cost of a full verification), NODE_CLUSTER (1: also run Node as a 2-process
# cluster), BASE_PORT (18080), SKIP_BUILD (1: reuse the built binaries), QUIET_MAX (10) and
# QUIET_TIMEOUT (600): before each measurement, wait up to QUIET_TIMEOUT seconds for other
# work to use at most QUIET_MAX % of the CPU; RETRIES (3): redo a measurement during which
# other work used more than that; ROUNDS (3): measurements of each scenario (median reported);
# REPORT_ONLY (1: only render results.md again from the last run's raw results in .work/).
# OURS_BASELINE (a path to another build of api-server, e.g. of an earlier commit): measured in
# every round beside ours, with the same settings and tokens, as "ours-before", so that a change
# is compared with what it changed in one run (its rows and ratios are added to the report).
#
# PIN: 0 lets the kernel place the servers and wrk on any core, so the load generator and the
# server compete for the same cores. 1 runs every measurement pinned: each server
# (ours, FastAPI, Node, Node cluster, all alike, every process of it) under
# `taskset -c PIN_SERVER_CPU` (1) and wrk under `taskset -c PIN_WRK_CPU` (0), so that the load
# generator never shares a core with the server; a multi-process server's processes then share
# its one core, and our server's runtime sizes itself to it. `both` (the default) runs
# everything unpinned, then everything pinned; results.md then has both sets of tables, the
# pinned ones labelled. The pinned ones are what compare the servers: shared, wrk needs as much
# CPU per request as our server, so it holds our rate to half the machine.
# QUICK=1: a smoke test of the plumbing, not a measurement: ROUNDS=1, DURATION=3s, WARMUP=1s,
# RETRIES=1, QUIET_TIMEOUT=0, POOL_BIG=2000 unless set; its report says so.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$HERE/.work"
RESULTS_DIR="$WORK/results"
VENV="$HERE/.venv"

QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  DURATION=${DURATION:-3s} WARMUP=${WARMUP:-1s} ROUNDS=${ROUNDS:-1} RETRIES=${RETRIES:-1}
  QUIET_TIMEOUT=${QUIET_TIMEOUT:-0} POOL_BIG=${POOL_BIG:-2000}
fi
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
POOL=${POOL:-1000}
POOL_BIG=${POOL_BIG:-30000}
NODE_CLUSTER=${NODE_CLUSTER:-1}
BASE_PORT=${BASE_PORT:-18080}
SKIP_BUILD=${SKIP_BUILD:-0}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_TIMEOUT=${QUIET_TIMEOUT:-600}
RETRIES=${RETRIES:-3}
ROUNDS=${ROUNDS:-3}
PIN=${PIN:-both}
PIN_SERVER_CPU=${PIN_SERVER_CPU:-1}
PIN_WRK_CPU=${PIN_WRK_CPU:-0}

# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=run.sh
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$HERE/lib.sh"

# wrk's threads when pinned: one per core it may use (a second thread on its one core only
# adds context switches to the load generator, the bottleneck of a fast server there).
PIN_THREADS=${PIN_THREADS:-$(cpu_list_size "$PIN_WRK_CPU")}

PORT_OURS=$((BASE_PORT + 1))
PORT_FASTAPI=$((BASE_PORT + 2))
PORT_NODE=$((BASE_PORT + 3))

case "$PIN" in
  0) MODES=(shared) ;;
  1) MODES=(pinned) ;;
  both) MODES=(shared pinned) ;;
  *) die "PIN must be 0, 1 or both, not '$PIN'" ;;
esac

# The command prefixes of the current mode (see use_mode): empty, or taskset; and wrk's threads.
SERVER_PIN=()
WRK_PIN=()
WRK_THREADS=$THREADS
# use_mode shared|pinned: where the next measurements run and where their results go.
use_mode() {
  if [[ "$1" == pinned ]]; then
    SERVER_PIN=(taskset -c "$PIN_SERVER_CPU")
    WRK_PIN=(taskset -c "$PIN_WRK_CPU")
    WRK_THREADS=$PIN_THREADS
    RESULTS_DIR="$WORK/results-pinned"
  else
    SERVER_PIN=()
    # shellcheck disable=SC2034 # read by lib.sh
    WRK_PIN=()
    WRK_THREADS=$THREADS
    RESULTS_DIR="$WORK/results"
  fi
}

# ---------------------------------------------------------------------------------------------
# Servers: each started in its own session (process group) so that stopping it also stops its
# workers (uvicorn's, the Node cluster's). All are stopped on exit, whatever the exit.

SERVER_PID=""

stop_server() {
  stop_group "$SERVER_PID"
  SERVER_PID=""
}

# The environment every server gets: nothing from the caller's (no stray CLERK_* variable).
base_env=(env -i "PATH=$PATH" "HOME=${HOME:-/root}" "LANG=C.UTF-8")

# start_server NAME PORT LOGFILE COMMAND...
start_server() {
  local name=$1 port=$2 logfile=$3
  shift 3
  stop_server
  port_free "$port"
  start_group SERVER_PID "$logfile" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} "$@"
  wait_http "$name" "$SERVER_PID" "http://127.0.0.1:$port/healthz" "$logfile"
  log "$name ready on 127.0.0.1:$port (pid $SERVER_PID)"
}

# check_server NAME PORT: a valid token gets 200 and its user, a tampered one 401.
check_server() {
  local name=$1 port=$2 token body status expected
  for file in "$WORK/tokens-1.txt" "$WORK/tokens-$POOL_BIG.txt"; do
    token=$(tail -n 1 "$file")
    expected=$(python3 -c 'import base64, json, sys
p = sys.argv[1].split(".")[1]
c = json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))
print(json.dumps({"user_id": c["sub"], "email": c["email"]}, separators=(",", ":")))' "$token")
    body=$(curl -s --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/protected")
    python3 -c 'import json, sys; sys.exit(json.loads(sys.argv[1]) != json.loads(sys.argv[2]))' "$body" "$expected" 2>/dev/null \
      || die "$name: GET /protected with a valid token answered $body, expected $expected"
  done
  token=$(tampered "$(head -n 1 "$WORK/tokens-1.txt")")
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $token" "http://127.0.0.1:$port/protected")
  [[ "$status" == 401 ]] || die "$name: GET /protected with a tampered signature answered $status, not 401"
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$port/protected")
  [[ "$status" == 401 || "$status" == 403 ]] || die "$name: GET /protected without a token answered $status"
}

# ours_counter NAME: a counter of our server's /metrics (0 if absent).
ours_counter() {
  curl -s --max-time 5 "http://127.0.0.1:$PORT_OURS/metrics" \
    | awk -v name="$1" '$1 == name { print $2; found = 1 } END { if (!found) print 0 }'
}

# measure ID SERVER ROUTE TOKENS PORT ROUND: WARMUP then DURATION of wrk; writes
# results/ID.rROUND.json. A measurement disturbed by other work (more than QUIET_MAX % of the
# CPU) is redone, up to RETRIES attempts (lib.sh's measure_quietly).
measure() {
  measure_quietly "$RESULTS_DIR/$1.r$6.json" measure_once "$@"
  grep -qx "$1" "$RESULTS_DIR/order.txt" 2>/dev/null || echo "$1" >>"$RESULTS_DIR/order.txt"
}

# scenarios ROUND SERVER PORT "ID ROUTE TOKENS"...: one round of each scenario of a server.
scenarios() {
  local round=$1 server=$2 port=$3 scenario id route tokens
  shift 3
  for scenario in "$@"; do
    read -r id route tokens <<<"$scenario"
    measure "$id" "$server" "$route" "$tokens" "$port" "$round"
  done
}

measure_once() {
  local id=$1 server=$2 route=$3 tokens=$4 port=$5 round=$6
  local file="$WORK/tokens-$tokens.txt" out="$RESULTS_DIR/$id.r$round.txt" hits0=0 misses0=0
  local url="http://127.0.0.1:$port$route"
  wait_quiet
  log "$id (round $round of $ROUNDS): $server GET $route, $tokens token(s): warm-up $WARMUP, then $DURATION"
  wrk_warm "$WRK_THREADS" "$CONNECTIONS" "$WARMUP" "$url" "$file"
  if [[ "$server" == ours* ]]; then
    hits0=$(ours_counter token_cache_hits_total)
    misses0=$(ours_counter token_cache_misses_total)
  fi
  local snap0 snap1 t0 t1 wrk_cpu other server_cpu
  snap0=$(python3 "$CPU_PY" snapshot "$SERVER_PID")
  t0=$(date +%s.%N)
  wrk_measure "$out" "$WRK_THREADS" "$CONNECTIONS" "$DURATION" "$url" "$file"
  t1=$(date +%s.%N)
  snap1=$(python3 "$CPU_PY" snapshot "$SERVER_PID")
  cat "$out" >&2
  wrk_cpu=$(wrk_cpu "$out")
  read -r other server_cpu < <(python3 "$CPU_PY" other "$snap0" "$snap1" "$wrk_cpu" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
  log "$id: other work on the machine used $other% of its CPU during the measurement"
  local json
  json=$(wrk_json "$out")
  local hits=null misses=null
  if [[ "$server" == ours* ]]; then
    hits=$(( $(ours_counter token_cache_hits_total) - hits0 ))
    misses=$(( $(ours_counter token_cache_misses_total) - misses0 ))
  fi
  printf '{"id":"%s","server":"%s","route":"%s","tokens":%s,"cache_hits":%s,"cache_misses":%s,"other_cpu_pct":%s,"server_cpu_s":%s,"wrk_cpu_s":%s,"wrk":%s}\n' \
    "$id" "$server" "$route" "$tokens" "$hits" "$misses" "$other" "$server_cpu" "${wrk_cpu:-0}" "$json" >"$RESULTS_DIR/$id.r$round.json"
  local non2xx
  non2xx=$(json_field "$json" non2xx)
  [[ "$non2xx" == 0 ]] || die "$id: $non2xx responses were not 2xx (see $out and the server log in $WORK)"
}

# render_report: the Markdown report of the last run's results (one set of tables per mode,
# listed in .work/modes.txt), to stdout and results.md.
render_report() {
  local mode first=1
  while read -r mode; do
    use_mode "$mode"
    ((first)) || printf '\n'
    first=0
    (
      set -a
      # shellcheck disable=SC1091
      . "$RESULTS_DIR/meta.env"
      set +a
      RESULTS_DIR="$RESULTS_DIR" python3 "$HERE/report.py"
    )
  done <"$WORK/modes.txt" >"$HERE/results.md"
  cat "$HERE/results.md"
  printf '\nWritten to %s\n' "$HERE/results.md" >&2
}

if [[ "${REPORT_ONLY:-0}" == 1 ]]; then
  # A run from before the pinned mode existed had only the shared one.
  if [[ ! -f "$WORK/modes.txt" && -f "$WORK/results/meta.env" ]]; then
    echo shared >"$WORK/modes.txt"
  fi
  [[ -f "$WORK/modes.txt" ]] || die "no results to report: run $0 first"
  while read -r mode; do
    use_mode "$mode"
    [[ -f "$RESULTS_DIR/meta.env" ]] || die "no $mode results to report: run $0 first"
  done <"$WORK/modes.txt"
  render_report
  exit 0
fi

# ---------------------------------------------------------------------------------------------
log "tools"
ensure_wrk
tools=(curl cargo python3 node npm setsid)
[[ "$PIN" == 0 ]] || tools+=(taskset)
require_tools "${tools[@]}"
require_node

[[ "$PIN" == 0 ]] || check_pin_cpus "$PIN_SERVER_CPU" "$PIN_WRK_CPU"

mkdir -p "$WORK"
rm -rf "$WORK/results" "$WORK/results-pinned"
printf '%s\n' "${MODES[@]}" >"$WORK/modes.txt"

API_SERVER=$(release_binary api-server)

log "Python peer: $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
if ! cmp -s "$HERE/requirements.txt" "$VENV/.requirements.installed"; then
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.requirements.installed"
fi

log "Node peer: npm ci"
(cd "$HERE" && npm ci --no-audit --no-fund --loglevel=error)

# mint_tokens: a fresh key pair and token pools, before each mode's measurements (the tokens
# live 1 hour, and both modes together take longer).
mint_pools() {
  mint_tokens "$WORK" 1 "$POOL" "$POOL_BIG"
}

# ---------------------------------------------------------------------------------------------
# measure_all: every server and scenario, in the current mode (see use_mode), into RESULTS_DIR.
measure_all() {
  # Ours. Request logging off (RUST_LOG=warn) like the peers' (uvicorn --no-access-log; the Node
  # app logs nothing); a last run with the default `info` shows what the access log costs.
  ours_env=("${base_env[@]}" "CLERK_JWT_KEY=$PEM" "CLERK_ISSUER=$ISSUER" "CLERK_AUTHORIZED_PARTIES=$AZP"
    "BIND=127.0.0.1:$PORT_OURS" "DATABASE_URL=sqlite://$WORK/api.db?mode=rwc")
  node_env=("${base_env[@]}" "CLERK_JWT_KEY_FILE=$WORK/key.pem" "CLERK_AUTHORIZED_PARTIES=$AZP"
    "PORT=$PORT_NODE" "NODE_ENV=production")
  # Round by round, every server in turn: the machine's speed drifts over a run (other tenants
  # of a shared host), and a ratio of two servers measured a quarter of an hour apart would
  # measure that drift too. Each server starts afresh in each round.
  local round
  for round in $(seq 1 "$ROUNDS"); do
    rm -f "$WORK"/api.db*
    start_server ours "$PORT_OURS" "$WORK/ours.log" "${ours_env[@]}" RUST_LOG=warn "$API_SERVER"
    check_server ours "$PORT_OURS"
    # /healthz is measured with the same requests (Authorization header included, which it
    # ignores) as /protected, so that the ratios isolate what authentication costs.
    scenarios "$round" ours "$PORT_OURS" \
      "ours-healthz /healthz 1" "ours-protected-1 /protected 1" \
      "ours-healthz-pool /healthz $POOL" "ours-protected-pool /protected $POOL" \
      "ours-protected-big /protected $POOL_BIG"

    start_server ours-info "$PORT_OURS" "$WORK/ours-info.log" "${ours_env[@]}" RUST_LOG=info "$API_SERVER"
    scenarios "$round" ours-info "$PORT_OURS" "ours-info-protected-pool /protected $POOL"
    stop_server

    if [[ -n "${OURS_BASELINE:-}" ]]; then
      rm -f "$WORK"/api.db*
      start_server ours-before "$PORT_OURS" "$WORK/ours-before.log" "${ours_env[@]}" RUST_LOG=warn "$OURS_BASELINE"
      check_server ours-before "$PORT_OURS"
      scenarios "$round" ours-before "$PORT_OURS" \
        "before-healthz /healthz 1" "before-protected-1 /protected 1" \
        "before-healthz-pool /healthz $POOL" "before-protected-pool /protected $POOL"
      stop_server
    fi

    # FastAPI: uvicorn[standard] (uvloop, httptools), 2 worker processes for the 2 cores.
    start_server fastapi "$PORT_FASTAPI" "$WORK/fastapi.log" "${base_env[@]}" "CLERK_JWT_KEY_FILE=$WORK/key.pem" \
      "$VENV/bin/uvicorn" --app-dir "$HERE" fastapi_app:app --host 127.0.0.1 --port "$PORT_FASTAPI" \
      --workers 2 --no-access-log --log-level warning
    check_server fastapi "$PORT_FASTAPI"
    scenarios "$round" fastapi "$PORT_FASTAPI" \
      "fastapi-healthz /healthz 1" "fastapi-protected-1 /protected 1" "fastapi-protected-pool /protected $POOL"
    stop_server

    # Node: one process (Node's default), then optionally a 2-process cluster.
    start_server node "$PORT_NODE" "$WORK/node.log" "${node_env[@]}" NODE_WORKERS=1 node "$HERE/node_app.mjs"
    check_server node "$PORT_NODE"
    scenarios "$round" node "$PORT_NODE" \
      "node-healthz /healthz 1" "node-protected-1 /protected 1" "node-protected-pool /protected $POOL"
    stop_server
    if [[ "$NODE_CLUSTER" == 1 ]]; then
      start_server node-cluster "$PORT_NODE" "$WORK/node-cluster.log" "${node_env[@]}" NODE_WORKERS=2 node "$HERE/node_app.mjs"
      check_server node-cluster "$PORT_NODE"
      scenarios "$round" node-cluster "$PORT_NODE" \
        "node2-healthz /healthz 1" "node2-protected-1 /protected 1" "node2-protected-pool /protected $POOL"
      stop_server
    fi
  done
}

for mode in "${MODES[@]}"; do
  use_mode "$mode"
  mkdir -p "$RESULTS_DIR"
  mint_pools
  if [[ "$mode" == pinned ]]; then
    log "pinned measurements: every server on CPU $PIN_SERVER_CPU, wrk on CPU $PIN_WRK_CPU"
  fi
  measure_all
  cat >"$RESULTS_DIR/meta.env" <<EOF
DURATION='$DURATION' WARMUP='$WARMUP' THREADS='$WRK_THREADS' CONNECTIONS='$CONNECTIONS'
POOL='$POOL' POOL_BIG='$POOL_BIG' QUIET_MAX='$QUIET_MAX' RETRIES='$RETRIES' ROUNDS='$ROUNDS'
BENCH_PINNED='$([[ "$mode" == pinned ]] && echo 1 || echo 0)' PIN_SERVER_CPU='$PIN_SERVER_CPU' PIN_WRK_CPU='$PIN_WRK_CPU'
BENCH_QUICK='$QUICK'
$(bench_meta "$ROOT")
BENCH_VERSIONS='rustc $(rustc --version | cut -d' ' -f2), node $(node --version), $("$VENV/bin/python" --version), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)'
EOF
done

# ---------------------------------------------------------------------------------------------
log "results"
render_report
