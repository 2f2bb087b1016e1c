#!/usr/bin/env bash
# Real-browser test of the hosted sign-in (SPEC §10): headless Chromium (Debian package) driven by
# Playwright for Python signs in through the hosted pages; a small relying party built on
# openid-client v6 (tests/browser/rp.mjs) completes the code exchange from discovery and validates
# the ID token; then single sign-on to a second client, RP-initiated logout, and the pages without
# JavaScript. Screenshots of the pages go to docs/images/ (BROWSER_TEST_SCREENSHOTS to change).
#
# Installs what it needs when missing: chromium (apt), playwright (pip, used only with the system
# Chromium: no browser download), the relying party's npm packages (npm ci from the committed
# lock file). Builds the server with `cargo build` unless PORTCULLIS_BIN names a binary.
# Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)

CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
SHOTS=${BROWSER_TEST_SCREENSHOTS:-$ROOT/docs/images}
BUILD_TIMEOUT=${BROWSER_TEST_BUILD_TIMEOUT:-2400}

log() { printf '== %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo -n "$@"; else
    echo "need root (or sudo) to run: $*" >&2; return 1
  fi
}

# --- what the test needs -------------------------------------------------------------------
apt_updated=0
apt_install() {
  if [ "$apt_updated" = 0 ]; then
    as_root env DEBIAN_FRONTEND=noninteractive timeout 300 apt-get update -q >/dev/null
    apt_updated=1
  fi
  as_root env DEBIAN_FRONTEND=noninteractive timeout 900 apt-get install -y -q --no-install-recommends "$@" >/dev/null
}

if [ ! -x "$CHROMIUM" ]; then
  log "installing chromium (apt)"
  apt_install chromium fonts-dejavu-core
fi
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  log "installing nodejs and npm (apt)"
  apt_install nodejs npm
fi
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "Node.js >= 20 is required by openid-client v6 (found $(node --version))" >&2
  exit 1
fi
PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import playwright.sync_api' 2>/dev/null; then
  log "installing playwright (pip; the system Chromium is used, no browser download)"
  timeout 600 "$PYTHON" -m pip install -q --disable-pip-version-check playwright \
    || timeout 600 "$PYTHON" -m pip install -q --disable-pip-version-check --break-system-packages playwright
fi
if [ ! -f tests/browser/node_modules/.package-lock.json ] \
  || ! cmp -s tests/browser/package-lock.json tests/browser/node_modules/.lock-copy; then
  log "installing the relying party's packages (npm ci)"
  (cd tests/browser && timeout 300 npm ci --no-audit --no-fund --loglevel=error \
    && cp package-lock.json node_modules/.lock-copy)
fi

# --- the server ----------------------------------------------------------------------------
if [ -n "${PORTCULLIS_BIN:-}" ]; then
  BIN=$PORTCULLIS_BIN
else
  log "cargo build"
  timeout "$BUILD_TIMEOUT" cargo build --locked --bin portcullis
  BIN=$ROOT/target/debug/portcullis
fi

TMP=$(mktemp -d)
PIDS=()
# shellcheck disable=SC2317  # called from the EXIT trap
cleanup() {
  local pid
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
  if [ "${KEEP_TMP:-0}" = 1 ]; then echo "kept $TMP"; else rm -rf "$TMP"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
PORT=$(free_port)
RP_PORT=$(free_port)
while [ "$RP_PORT" = "$PORT" ]; do RP_PORT=$(free_port); done
ISSUER=http://127.0.0.1:$PORT
RP=http://127.0.0.1:$RP_PORT

export PORTCULLIS_LISTEN=127.0.0.1:$PORT
export DATABASE_URL=sqlite://$TMP/p.db
export PORTCULLIS_DATA_DIR=$TMP/data
export PORTCULLIS_KEYS_DIR=$TMP/keys
export PORTCULLIS_ARGON2_MEMORY_KIB=64 PORTCULLIS_ARGON2_ITERATIONS=1
export PORTCULLIS_LOG_FORMAT=text NO_COLOR=1
# The single-page app (tests/browser/spa.js) calls the token and UserInfo endpoints from $RP.
export PORTCULLIS_CORS_ORIGINS=$RP
unset PORTCULLIS_ISSUER REDIS_URL PORTCULLIS_CONFIG PORTCULLIS_KEY_ENCRYPTION_KEY

log "starting portcullis on $ISSUER (SQLite in a temp dir)"
"$BIN" serve >"$TMP/server.log" 2>&1 &
PIDS+=($!)
wait_http() { # url seconds
  "$PYTHON" - "$1" "$2" <<'PY'
import sys, time, urllib.request
url, deadline = sys.argv[1], time.monotonic() + float(sys.argv[2])
while time.monotonic() < deadline:
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            if r.status == 200:
                sys.exit(0)
    except Exception:
        pass
    time.sleep(0.2)
sys.exit(1)
PY
}
if ! wait_http "$ISSUER/.well-known/openid-configuration" 60; then
  echo "portcullis did not answer within 60 s; its log:" >&2
  tail -n 50 "$TMP/server.log" >&2
  exit 1
fi

EMAIL=browser.user@example.test
PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -d '/+=')x9
if ! printf '%s\n' "$PASSWORD" | timeout 60 "$BIN" users create --email "$EMAIL" --password-stdin \
  --username browseruser >"$TMP/user.json"; then
  echo "portcullis users create failed" >&2
  exit 1
fi

create_client() { # name [extra flags]; prints the client_id
  local name=$1 out=$TMP/client.json
  shift
  if ! timeout 60 "$BIN" clients create --name "$name" --public \
    --grant authorization_code --grant refresh_token \
    --scope openid --scope profile --scope email \
    --redirect-uri "$RP/cb" --post-logout-redirect-uri "$RP/bye" "$@" >"$out" 2>"$TMP/client.err"; then
    echo "portcullis clients create failed (does it have the SPEC §10 flags?):" >&2
    cat "$TMP/client.err" >&2
    return 1
  fi
  "$PYTHON" -c 'import json,sys; print(json.load(open(sys.argv[1]))["client_id"])' "$out"
}
CLIENT_CONSENT=$(create_client "Example Notes")
CLIENT_FIRST_PARTY=$(create_client "Example Dashboard" --no-consent)
CLIENT_SPA=$(create_client "Example SPA" --no-consent --redirect-uri "$RP/spa/callback")

log "starting the relying party (openid-client) on $RP"
RP_ISSUER=$ISSUER RP_PORT=$RP_PORT \
  RP_CLIENTS="{\"consent\":\"$CLIENT_CONSENT\",\"first_party\":\"$CLIENT_FIRST_PARTY\",\"spa\":\"$CLIENT_SPA\"}" \
  node tests/browser/rp.mjs >"$TMP/rp.log" 2>&1 &
PIDS+=($!)
if ! wait_http "$RP/results" 30; then
  echo "the relying party did not start; its log:" >&2
  cat "$TMP/rp.log" >&2
  exit 1
fi

log "browser test"
mkdir -p "$SHOTS"
status=0
ISSUER=$ISSUER RP=$RP CHROMIUM=$CHROMIUM SHOTS=$SHOTS USER_EMAIL=$EMAIL USER_PASSWORD=$PASSWORD \
  CLIENT_CONSENT=$CLIENT_CONSENT CLIENT_FIRST_PARTY=$CLIENT_FIRST_PARTY \
  timeout 240 "$PYTHON" tests/browser/test_browser.py || status=$?
if [ "$status" != 0 ]; then
  echo "-- relying party log" >&2
  tail -n 40 "$TMP/rp.log" >&2
  echo "-- server log" >&2
  tail -n 60 "$TMP/server.log" >&2
fi
exit "$status"
