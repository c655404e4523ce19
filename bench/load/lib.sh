# shellcheck shell=bash
# The plumbing shared by the HTTP benchmarks (bench/load/run.sh, bench/gateway/run.sh): logging,
# process groups, waiting for a quiet machine, wrk runs with CPU accounting, the token minter,
# pinning. Sourced, not run:
#
#   . "$ROOT/bench/load/lib.sh"
#
# It reads (each with a default): BENCH_NAME (in error messages), QUIET_MAX, QUIET_TIMEOUT and
# QUIET_BUDGET (see wait_quiet), WRK_PIN (an array: the command prefix of every wrk run, empty
# or `taskset -c N`). On exit, whatever the exit, it stops every process group it started.

LIB_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CPU_PY="$LIB_DIR/cpu.py"
TOKENS_LUA="$LIB_DIR/tokens.lua"

log() { printf '\n==> %s\n' "$*" >&2; }
die() { printf '\n%s: error: %s\n' "${BENCH_NAME:-run.sh}" "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------------
# Process groups: every program under test starts in its own session (process group), so that
# stopping it also stops its workers (nginx's, uvicorn's, a Node cluster's).

BENCH_GROUPS=()

# start_group VAR LOGFILE COMMAND...: starts COMMAND in a new session, output to LOGFILE, and
# stores its pid (which is also its process group's id) in the variable VAR. A `taskset` prefix
# execs the command, so the pid stays the program's and its workers inherit the affinity.
start_group() {
  local var=$1 logfile=$2
  shift 2
  setsid "$@" >"$logfile" 2>&1 &
  printf -v "$var" '%s' "$!"
  BENCH_GROUPS+=("$!")
}

# stop_group PID: SIGTERM to the whole group, up to 5 s to go, then SIGKILL.
stop_group() {
  local pid=$1 kept=() p
  [[ -n "$pid" ]] || return 0
  kill -TERM -- "-$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do
    kill -0 -- "-$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in ${BENCH_GROUPS[@]+"${BENCH_GROUPS[@]}"}; do
    [[ "$p" == "$pid" ]] || kept+=("$p")
  done
  BENCH_GROUPS=(${kept[@]+"${kept[@]}"})
}

stop_all_groups() {
  local pid
  for pid in ${BENCH_GROUPS[@]+"${BENCH_GROUPS[@]}"}; do
    stop_group "$pid"
  done
}
trap stop_all_groups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# port_free PORT: dies if something already answers on 127.0.0.1:PORT.
port_free() {
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/"; then
    die "port $1 is already in use: set BASE_PORT to a free range"
  fi
}

# wait_http NAME PID URL LOGFILE [any]: waits up to 30 s until URL answers 200 (with `any`:
# answers at all), while the process PID lives; dies with the end of LOGFILE otherwise.
wait_http() {
  local name=$1 pid=$2 url=$3 logfile=$4 want=${5:-200} status
  for _ in $(seq 1 300); do
    if ! kill -0 "$pid" 2>/dev/null; then
      tail -n 30 "$logfile" >&2 || true
      die "$name exited before it was ready (log: $logfile)"
    fi
    status=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url" || true)
    if [[ "$status" == 200 || ("$want" == any && "$status" != 000 && -n "$status") ]]; then
      return 0
    fi
    sleep 0.1
  done
  tail -n 30 "$logfile" >&2 || true
  die "$name did not answer $url within 30 s (log: $logfile)"
}

# ---------------------------------------------------------------------------------------------
# A quiet machine. wait_quiet waits (up to QUIET_TIMEOUT seconds, and up to QUIET_BUDGET seconds
# over the whole run) until other work uses at most QUIET_MAX % of the machine, since anything
# else running skews the numbers; then goes on regardless (each measurement records how much
# CPU other work took during it).

QUIET_MAX=${QUIET_MAX:-10}
QUIET_TIMEOUT=${QUIET_TIMEOUT:-600}
QUIET_BUDGET=${QUIET_BUDGET:-1000000}
QUIET_WAITED=0

wait_quiet() {
  local busy waited=0
  while :; do
    busy=$(python3 "$CPU_PY" idle 1)
    if awk -v b="$busy" -v m="$QUIET_MAX" 'BEGIN { exit !(b <= m) }'; then
      return 0
    fi
    if ((waited >= QUIET_TIMEOUT || QUIET_WAITED >= QUIET_BUDGET)); then
      log "warning: the machine is still busy ($busy% CPU used by other work): measuring anyway"
      return 0
    fi
    ((waited % 30 == 0)) && log "the machine is busy ($busy% CPU used by other work): waiting for it to calm down"
    sleep 4
    waited=$((waited + 5))
    QUIET_WAITED=$((QUIET_WAITED + 5))
  done
}

# measure_quietly RESULT FUNC [ARG...]: runs `FUNC ARG...`, which measures and writes the JSON
# file RESULT (with "other_cpu_pct", the share of the machine other work used meanwhile); runs
# it again while that share was above QUIET_MAX %, up to RETRIES attempts (default 2) and, when
# RETRIES_LEFT is set, that many redos over the whole run. A measurement still disturbed after
# them is kept, with a warning (the reports flag it).
measure_quietly() {
  local result=$1 name attempt other
  shift
  name=$(basename "$result" .json)
  for attempt in $(seq 1 "${RETRIES:-2}"); do
    "$@"
    other=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["other_cpu_pct"])' "$result")
    awk -v o="$other" -v m="$QUIET_MAX" 'BEGIN { exit !(o > m) }' || return 0
    if ((attempt < ${RETRIES:-2} && ${RETRIES_LEFT:-1} > 0)); then
      [[ -z "${RETRIES_LEFT:-}" ]] || RETRIES_LEFT=$((RETRIES_LEFT - 1))
      log "$name: disturbed by other work ($other% of the CPU): measuring again"
    else
      log "warning: $name disturbed by other work ($other% of the CPU): keeping it"
      return 0
    fi
  done
}

# ---------------------------------------------------------------------------------------------
# wrk, with tokens.lua: every request carries `Authorization: Bearer <token>` from a pool.

WRK_PIN=()

# wrk_warm THREADS CONNECTIONS DURATION URL TOKENS_FILE: a run whose figures are discarded.
wrk_warm() {
  ${WRK_PIN[@]+"${WRK_PIN[@]}"} wrk -t"$1" -c"$2" -d"$3" -s "$TOKENS_LUA" "$4" -- "$5" "$1" >/dev/null
}

# wrk_measure OUT THREADS CONNECTIONS DURATION URL TOKENS_FILE: a measured run (--latency);
# wrk's output goes to OUT (its last line `WRK_JSON {...}`, see tokens.lua) and wrk's own CPU
# time (user system, from bash's `time`, to tell it apart from other work) to OUT.cpu.
wrk_measure() {
  local out=$1
  shift
  { TIMEFORMAT='%U %S'; time ${WRK_PIN[@]+"${WRK_PIN[@]}"} wrk -t"$1" -c"$2" -d"$3" --latency \
      -s "$TOKENS_LUA" "$4" -- "$5" "$1" >"$out"; } 2>"$out.cpu" \
    || { cat "$out" "$out.cpu" >&2; die "wrk failed ($out)"; }
}

# wrk_cpu OUT: the CPU seconds of the run that wrote OUT.
wrk_cpu() { awk 'NF == 2 { s = $1 + $2 } END { print s + 0 }' "$1.cpu"; }

# wrk_json OUT: the run's WRK_JSON object.
wrk_json() { grep '^WRK_JSON ' "$1" | sed 's/^WRK_JSON //' || die "wrk printed no result ($1)"; }

# json_field JSON NAME: a number of a flat JSON object.
json_field() { printf '%s' "$1" | sed "s/.*\"$2\":\\([0-9.]*\\).*/\\1/"; }

# ensure_wrk: wrk from the distribution's packages if it is missing.
ensure_wrk() {
  command -v wrk >/dev/null && return 0
  command -v apt-get >/dev/null || die "wrk is missing and there is no apt-get: install wrk"
  [[ $(id -u) == 0 ]] || die "wrk is missing: run as root (to apt-get install wrk) or install it"
  apt-get update -qq && apt-get install -y -qq wrk >/dev/null
}

# require_tools TOOL...: dies naming the first one missing.
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "$tool is missing"
  done
}

# ---------------------------------------------------------------------------------------------
# Pinning.

# cpu_list_size LIST: how many CPUs a taskset list names ("0", "0,2", "0-3").
cpu_list_size() {
  python3 -c 'import sys
n = 0
for part in sys.argv[1].split(","):
    a, _, b = part.partition("-")
    n += int(b or a) - int(a) + 1
print(n)' "$1"
}

# check_pin_cpus SERVER_CPUS WRK_CPUS: both usable, and not the same.
check_pin_cpus() {
  local cpu
  [[ "$1" != "$2" ]] || die "the server's and wrk's CPUs must differ (PIN_SERVER_CPU, PIN_WRK_CPU)"
  for cpu in "$1" "$2"; do
    taskset -c "$cpu" true 2>/dev/null || die "cannot pin to CPU $cpu (taskset -c $cpu): see PIN_SERVER_CPU, PIN_WRK_CPU"
  done
}

# ---------------------------------------------------------------------------------------------
# Tokens: bench/load/mint, a standalone cargo project over clerk-emulator.

MINT_MANIFEST="$LIB_DIR/mint/Cargo.toml"

build_mint() {
  log "building the token minter (bench/load/mint)"
  cargo build --release --manifest-path "$MINT_MANIFEST"
}

# target_dir MANIFEST: where cargo puts that project's builds (CARGO_TARGET_DIR is honoured).
target_dir() {
  cargo metadata --format-version 1 --no-deps --manifest-path "$1" 2>/dev/null \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])' \
    || die "cargo metadata failed for $1"
}

# mint_binary: the token minter's path.
mint_binary() { printf '%s/release/bench-mint\n' "$(target_dir "$MINT_MANIFEST")"; }

# release_binary PACKAGE: builds the workspace's PACKAGE (release) and the token minter, unless
# SKIP_BUILD=1, and prints the binary's path; dies if it is not there.
release_binary() {
  local package=$1 binary
  if [[ "${SKIP_BUILD:-0}" != 1 ]]; then
    log "building $package (release)"
    (cd "$ROOT" && cargo build --release -p "$package") >&2
    build_mint >&2
  fi
  binary="$(target_dir "$ROOT/Cargo.toml")/release/$package"
  [[ -x "$binary" ]] || die "$binary is missing: build it (or unset SKIP_BUILD)"
  printf '%s\n' "$binary"
}

# require_node: @clerk/backend needs Node.js 20.9 or later.
require_node() {
  node -e 'const [a,b]=process.versions.node.split(".").map(Number); process.exit(a>20||(a==20&&b>=9)?0:1)' \
    || die "node $(node --version) is too old: @clerk/backend needs >= 20.9"
}

# mint_tokens DIR N...: a fresh RSA key pair and token pools of N tokens (prefixes of the
# largest, 1-hour lifetime, distinct users); sets ISSUER, AZP and PEM (the public key).
mint_tokens() {
  local dir=$1 mint
  shift
  mint=$(mint_binary)
  [[ -x "$mint" ]] || die "$mint is missing: build it (or unset SKIP_BUILD)"
  log "minting a key pair and tokens ($*)"
  "$mint" "$dir" "$@" >&2
  # shellcheck disable=SC2034 # read by the sourcing script
  {
    ISSUER=$(cat "$dir/issuer.txt")
    AZP=$(cat "$dir/azp.txt")
    PEM=$(cat "$dir/key.pem")
  }
}

# tampered TOKEN: the token with one character of its signature changed; a verifier that
# accepts it verifies nothing.
tampered() {
  local token=$1 flipped=A
  [[ "${token: -2:1}" == A ]] && flipped=B
  printf '%s\n' "${token:0:${#token}-2}${flipped}${token: -1}"
}

# token_sub TOKEN: the token's `sub` claim.
token_sub() {
  python3 -c 'import base64, json, sys
p = sys.argv[1].split(".")[1]
print(json.loads(base64.urlsafe_b64decode(p + "=" * (-len(p) % 4)))["sub"])' "$1"
}

# bench_meta ROOT: the lines of a meta.env common to every benchmark (machine, date, commit).
bench_meta() {
  cat <<EOF
BENCH_NPROC='$(nproc)'
BENCH_CPU='$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')'
BENCH_DATE='$(date -u '+%Y-%m-%d %H:%M UTC')'
BENCH_COMMIT='$(git -C "$1" rev-parse --short HEAD 2>/dev/null || echo unknown)'
BENCH_DIRTY='$(if git -C "$1" status --porcelain 2>/dev/null | grep -q .; then echo " (uncommitted changes)"; fi)'
EOF
}
