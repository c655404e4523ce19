#!/usr/bin/env bash
# Benchmark of authentication in FastAPI: what each way of checking a Clerk session token costs
# a request, against the same route with no authentication, under the same uvicorn.
#
#   bench/python/run.sh          # about 6 minutes after the builds; prints a Markdown report,
#                                # also written to bench/python/results.md
#   QUICK=1 bench/python/run.sh  # a smoke test of the plumbing (1 round of 2 s): not a result
#
# Not part of CI: it takes minutes and its numbers depend on the machine.
#
# The apps (APPS, in this order in every round; bench/python/apps.py), one route each,
# `GET /protected` answering {"user_id": ...}:
#   noauth              no authentication (the baseline of every ratio)
#   noop                a `Depends` that does nothing: FastAPI's dependency machinery alone
#   ours                clerk-verifier's `Depends(ClerkAuth(Verifier(jwt_key=PEM, ...)))`
#   ours_middleware     clerk-verifier's ASGI `ClerkMiddleware` on the app (same Verifier); the
#                       route reads `request.state.auth`: no `Depends` at all
#   pyjwt               `HTTPBearer()` + PyJWT `jwt.decode` with the key parsed once (the fair
#                       hand-written baseline)
#   fastapi_clerk_auth  fastapi-clerk-auth 0.0.9, `ClerkHTTPBearer(ClerkConfig(jwks_url=...))`
#
# What it does, by itself on a fresh Debian machine (as root):
#  1. installs wrk (apt) if missing; a venv in bench/python/.venv with the pinned PyPI packages
#     of requirements.txt (FastAPI, uvicorn[standard]: uvloop and httptools, PyJWT,
#     fastapi-clerk-auth, maturin); builds the clerk-verifier wheel (maturin, release, as
#     `pip install ./crates/clerk-python` would) and installs it there; builds the token
#     minter (bench/load/mint);
#  2. mints one RSA key pair and POOL session tokens (distinct users, 1-hour life); every app
#     verifies with the same public key: ours and PyJWT from the PEM, fastapi-clerk-auth from a
#     JWKS of that key served on loopback (PyJWKClient fetches it once and caches it 300 s);
#  3. per round (ROUNDS; each round runs every app once, so that the machine's drift over the
#     run falls on all alike), per app: starts uvicorn afresh (WORKERS workers, no access log),
#     checks that a valid token gets 200 with its user id, and (auth apps) that a tampered
#     token and none are refused; then wrk: WARMUP discarded, DURATION measured (1 thread per
#     wrk CPU, CONNECTIONS connections, the tokens in turn): req/s, p50, p99, and uvicorn's CPU
#     time (every worker) from /proc;
#  4. fails if any measured response was not 2xx; then the report: per app the median round,
#     its CPU per request, and per round the ratio of its req/s to noauth's in the same round
#     (median, min–max), against the target (ours: at least 0.9 of noauth).
#
# PIN: 1 (the default) runs uvicorn on PIN_SERVER_CPU (1) and wrk on PIN_WRK_CPU (0), WORKERS
# then defaults to 1: wrk never takes CPU from the app, and CPU per request is clean; 0 lets
# the kernel place everything, WORKERS defaulting to the number of CPUs.
#
# Knobs (environment): DURATION (10s), WARMUP (3s), CONNECTIONS (32), POOL (1000), ROUNDS (3),
# APPS, WORKERS, BASE_PORT (18280: the app +1, the JWKS +2), SKIP_BUILD (1: reuse the wheel in
# the venv and the built minter), QUIET_MAX (10), QUIET_TIMEOUT (20), QUIET_BUDGET (60) and
# RETRIES (2): as in bench/gateway/run.sh, a measurement during which other work used more than
# QUIET_MAX % of the CPU is redone once; REPORT_ONLY (1: render results.md again from .work/).
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK="$HERE/.work"
VENV="$HERE/.venv"
RESULTS_DIR="$WORK/results"

QUICK=${QUICK:-0}
if [[ "$QUICK" == 1 ]]; then
  DURATION=${DURATION:-2s} WARMUP=${WARMUP:-1s} ROUNDS=${ROUNDS:-1} QUIET_TIMEOUT=${QUIET_TIMEOUT:-0}
  RETRIES=${RETRIES:-1}
fi
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-3s}
CONNECTIONS=${CONNECTIONS:-32}
POOL=${POOL:-1000}
ROUNDS=${ROUNDS:-3}
APPS=${APPS:-noauth noop ours ours_middleware pyjwt fastapi_clerk_auth}
BASE_PORT=${BASE_PORT:-18280}
SKIP_BUILD=${SKIP_BUILD:-0}
QUIET_MAX=${QUIET_MAX:-10}
QUIET_TIMEOUT=${QUIET_TIMEOUT:-20}
QUIET_BUDGET=${QUIET_BUDGET:-60}
RETRIES=${RETRIES:-2}
PIN=${PIN:-1}
PIN_SERVER_CPU=${PIN_SERVER_CPU:-1}
PIN_WRK_CPU=${PIN_WRK_CPU:-0}
PORT_APP=$((BASE_PORT + 1))
PORT_JWKS=$((BASE_PORT + 2))

# shellcheck disable=SC2034 # read by lib.sh
BENCH_NAME=bench/python/run.sh
# shellcheck source-path=SCRIPTDIR source=../load/lib.sh
. "$ROOT/bench/load/lib.sh"

render_report() {
  (
    set -a
    # shellcheck disable=SC1091
    . "$RESULTS_DIR/meta.env"
    set +a
    RESULTS_DIR="$RESULTS_DIR" python3 "$HERE/report.py"
  ) >"$HERE/results.md"
  cat "$HERE/results.md"
  printf '\nWritten to %s\n' "$HERE/results.md" >&2
}

if [[ "${REPORT_ONLY:-0}" == 1 ]]; then
  render_report
  exit 0
fi

SERVER_PIN=()
case "$PIN" in
  1)
    check_pin_cpus "$PIN_SERVER_CPU" "$PIN_WRK_CPU"
    SERVER_PIN=(taskset -c "$PIN_SERVER_CPU")
    WRK_PIN=(taskset -c "$PIN_WRK_CPU")
    WORKERS=${WORKERS:-$(cpu_list_size "$PIN_SERVER_CPU")}
    WRK_THREADS=$(cpu_list_size "$PIN_WRK_CPU")
    ;;
  0)
    WORKERS=${WORKERS:-$(nproc)}
    WRK_THREADS=$(nproc)
    ;;
  *) die "PIN must be 0 or 1, not '$PIN'" ;;
esac

log "tools"
ensure_wrk
require_tools curl cargo python3 taskset
port_free "$PORT_APP"
port_free "$PORT_JWKS"

log "Python: $VENV"
if [[ ! -x "$VENV/bin/python" ]]; then
  python3 -m venv "$VENV" || die "python3 -m venv failed (Debian: apt-get install python3-venv)"
fi
if ! cmp -s "$HERE/requirements.txt" "$VENV/.requirements.installed"; then
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.requirements.installed"
fi
if [[ "$SKIP_BUILD" != 1 ]]; then
  log "building the clerk-verifier wheel (release)"
  rm -rf "$WORK/wheels"
  "$VENV/bin/maturin" build -q --release -m "$ROOT/crates/clerk-python/Cargo.toml" --out "$WORK/wheels"
  "$VENV/bin/pip" install -q --disable-pip-version-check --force-reinstall --no-deps "$WORK/wheels"/clerk_verifier-*.whl
  build_mint
fi
"$VENV/bin/python" -c 'import clerk_verifier, fastapi_clerk_auth, jwt' \
  || die "the venv lacks a package: run without SKIP_BUILD"

rm -rf "$RESULTS_DIR" && mkdir -p "$RESULTS_DIR"
mint_tokens "$WORK" "$POOL"
TOKENS="$WORK/tokens-$POOL.txt"
FIRST_TOKEN=$(head -n1 "$TOKENS")
FIRST_USER=$(token_sub "$FIRST_TOKEN")

# The JWKS of the minted key, for fastapi-clerk-auth, served by a static file server.
mkdir -p "$WORK/jwks/.well-known"
"$VENV/bin/python" - "$WORK/key.pem" "$FIRST_TOKEN" >"$WORK/jwks/.well-known/jwks.json" <<'EOF'
import json, sys
import jwt
from jwt.algorithms import RSAAlgorithm
from cryptography.hazmat.primitives.serialization import load_pem_public_key

key = load_pem_public_key(open(sys.argv[1], "rb").read())
jwk = json.loads(RSAAlgorithm.to_jwk(key))
jwk.update(kid=jwt.get_unverified_header(sys.argv[2])["kid"], use="sig", alg="RS256")
print(json.dumps({"keys": [jwk]}))
EOF
start_group JWKS_PID "$WORK/jwks.log" "$VENV/bin/python" -m http.server --bind 127.0.0.1 \
  --directory "$WORK/jwks" "$PORT_JWKS"
wait_http "the JWKS server" "$JWKS_PID" "http://127.0.0.1:$PORT_JWKS/.well-known/jwks.json" "$WORK/jwks.log"

APP_ENV=(
  "CLERK_JWT_KEY_FILE=$WORK/key.pem" "CLERK_ISSUER=$ISSUER" "CLERK_AZP=$AZP"
  "CLERK_JWKS_URL=http://127.0.0.1:$PORT_JWKS/.well-known/jwks.json"
)

# status URL [TOKEN]: the HTTP status of a GET, with the token as a Bearer header if given.
status() {
  if [[ -n "${2:-}" ]]; then
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H "Authorization: Bearer $2" "$1"
  else
    curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"
  fi
}

start_app() {
  local app=$1 logfile=$2
  start_group APP_PID "$logfile" env "BENCH_APP=$app" "${APP_ENV[@]}" ${SERVER_PIN[@]+"${SERVER_PIN[@]}"} \
    "$VENV/bin/uvicorn" --app-dir "$HERE" apps:app --host 127.0.0.1 --port "$PORT_APP" \
    --workers "$WORKERS" --no-access-log --log-level warning
  # Behind the middleware every path needs a token: any answer means uvicorn is up.
  wait_http "$app" "$APP_PID" "http://127.0.0.1:$PORT_APP/openapi.json" "$logfile" \
    "$([[ "$app" == ours_middleware ]] && echo any || echo 200)"
}

# check_app APP: a valid token gets its user id; with authentication, a tampered token and no
# token are refused (fastapi-clerk-auth answers 403 for both, the others 401).
check_app() {
  local app=$1 url="http://127.0.0.1:$PORT_APP/protected" body got
  body=$(curl -s --max-time 5 -H "Authorization: Bearer $FIRST_TOKEN" "$url")
  case "$app" in
    noauth | noop) [[ "$body" == *'"user_id"'* ]] || die "$app: unexpected answer: $body" ;;
    *) [[ "$body" == *"\"$FIRST_USER\""* ]] || die "$app: a valid token did not give its user id: $body" ;;
  esac
  [[ "$app" == noauth || "$app" == noop ]] && return 0
  for got in "$(status "$url" "$(tampered "$FIRST_TOKEN")")" "$(status "$url")"; do
    [[ "$got" == 401 || "$got" == 403 ]] || die "$app: a tampered or missing token got $got"
  done
}

measure_once() {
  local app=$1 round=$2 dir="$WORK/$1.r$2" url="http://127.0.0.1:$PORT_APP/protected"
  rm -rf "$dir" && mkdir -p "$dir"
  start_app "$app" "$dir/app.log"
  check_app "$app"
  wait_quiet
  log "$app (round $round of $ROUNDS): $WORKERS uvicorn worker(s), $POOL tokens: warm-up $WARMUP, then $DURATION"
  wrk_warm "$WRK_THREADS" "$CONNECTIONS" "$WARMUP" "$url" "$TOKENS"
  local snap0 snap1 t0 t1 other app_cpu wrk_s json
  snap0=$(python3 "$CPU_PY" snapshot "$APP_PID")
  t0=$(date +%s.%N)
  wrk_measure "$dir/wrk.txt" "$WRK_THREADS" "$CONNECTIONS" "$DURATION" "$url" "$TOKENS"
  t1=$(date +%s.%N)
  snap1=$(python3 "$CPU_PY" snapshot "$APP_PID")
  wrk_s=$(wrk_cpu "$dir/wrk.txt")
  read -r other app_cpu < <(python3 "$CPU_PY" other "$snap0" "$snap1" "$wrk_s" \
    "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
  json=$(wrk_json "$dir/wrk.txt")
  log "$app: $(json_field "$json" rps) req/s, p99 $(json_field "$json" p99_ms) ms; other work $other% of the CPU"
  printf '{"app":"%s","round":%s,"other_cpu_pct":%s,"app_cpu_s":%s,"wrk_cpu_s":%s,"wrk":%s}\n' \
    "$app" "$round" "$other" "$app_cpu" "$wrk_s" "$json" >"$RESULTS_DIR/$app.r$round.json"
  stop_group "$APP_PID"
  APP_PID=""
  [[ "$(json_field "$json" non2xx)" == 0 ]] || die "$app: $(json_field "$json" non2xx) measured responses were not 2xx (see $dir)"
}

read -r -a apps <<<"$APPS"
printf '%s\n' "${apps[@]}" >"$RESULTS_DIR/order.txt"
WINDOW_START=$(date -u '+%H:%M:%S')
for round in $(seq 1 "$ROUNDS"); do
  for app in "${apps[@]}"; do
    measure_quietly "$RESULTS_DIR/$app.r$round.json" measure_once "$app" "$round"
  done
done

cat >"$RESULTS_DIR/meta.env" <<EOF
PIN='$PIN' WORKERS='$WORKERS' DURATION='$DURATION' WARMUP='$WARMUP' CONNECTIONS='$CONNECTIONS'
WRK_THREADS='$WRK_THREADS' POOL='$POOL' ROUNDS='$ROUNDS' QUIET_MAX='$QUIET_MAX' BENCH_QUICK='$QUICK'
PIN_SERVER_CPU='$PIN_SERVER_CPU' PIN_WRK_CPU='$PIN_WRK_CPU'
WINDOW='$WINDOW_START to $(date -u '+%H:%M:%S') UTC'
$(bench_meta "$ROOT")
BENCH_VERSIONS='$("$VENV/bin/python" --version), $("$VENV/bin/python" -c 'import importlib.metadata as m; print(", ".join(f"{p} {m.version(p)}" for p in ("fastapi", "uvicorn", "uvloop", "httptools", "pyjwt", "fastapi-clerk-auth", "clerk-verifier")))'), $(wrk --version 2>&1 | head -n1 | cut -d' ' -f1-2)'
EOF

log "results"
render_report
