#!/usr/bin/env bash
# Throughput benchmark: builds release, starts the server on SQLite and on PostgreSQL + Redis,
# drives it with the closed-loop load generator (benches/load.rs) and prints each figure
# beside the limit it is measured against, all in one run. Writes the tables into
# docs/benchmarks.md (between the bench markers) unless BENCH_NO_DOCS=1.
#
# Knobs: BENCH_CONNECTIONS (32), BENCH_SECONDS (10), BENCH_BACKENDS ("sqlite postgres"),
# BENCH_ALGS ("RS256 ES256 EdDSA", for client_credentials), DATABASE_ADMIN_URL
# (postgres://postgres@127.0.0.1:5432/postgres), BENCH_REDIS_URL (redis://127.0.0.1:6379).
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${BENCH_CONNECTIONS:-32}
SECONDS_EACH=${BENCH_SECONDS:-10}
BACKENDS=${BENCH_BACKENDS:-"sqlite postgres"}
ALGS=${BENCH_ALGS:-"RS256 ES256 EdDSA"}
PG_ADMIN=${DATABASE_ADMIN_URL:-postgres://postgres@127.0.0.1:5432/postgres}
REDIS=${BENCH_REDIS_URL:-redis://127.0.0.1:6379}
PASSWORD="correct horse battery staple"
USERS=64

cargo build --release --locked --bin portcullis >&2
LOAD=$(cargo bench --locked --bench load --no-run 2>&1 | grep -o 'target/release/deps/load-[0-9a-f]*' | head -1)
BIN=target/release/portcullis
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

load_avg() { cut -d' ' -f1 /proc/loadavg; }
field() { sed -n "s/.* $1=\([^ ]*\).*/\1/p"; }

# --- references, measured now on this machine ----------------------------------------------
RSA_SIGN=$(openssl speed -multi 2 -seconds 3 rsa2048 2>/dev/null | awk '/^rsa 2048/ { print $(NF-1) }')
EC_SIGN=$(openssl speed -multi 2 -seconds 3 ecdsap256 2>/dev/null | awk '/ecdsa \(nistp256\)/ { print $(NF-1) }')
ED_SIGN=$(openssl speed -multi 2 -seconds 3 ed25519 2>/dev/null | awk '/EdDSA \(Ed25519\)/ { print $(NF-1) }')
ARGON=$("$LOAD" argon2 --seconds 3 | field rps)
echo "references: RS256 sign ${RSA_SIGN}/s, ES256 sign ${EC_SIGN}/s, Ed25519 sign ${ED_SIGN}/s (openssl speed -multi 2), argon2id ${ARGON}/s (2 threads); load $(load_avg)" >&2

# --- one server --------------------------------------------------------------------------------
start_server() { # backend alg
  local backend=$1 alg=$2 dir="$WORK/$1-$2"
  mkdir -p "$dir"
  ENV=(
    PORTCULLIS_LISTEN=127.0.0.1:0
    PORTCULLIS_DATA_DIR="$dir/data" PORTCULLIS_KEYS_DIR="$dir/keys"
    PORTCULLIS_KEY_ENCRYPTION_KEY=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=
    PORTCULLIS_SIGNING_ALG="$alg"
    # Every request comes from 127.0.0.1: lift the per-IP and per-account limits.
    PORTCULLIS_RATE_LIMIT_PER_SECOND=1000000 PORTCULLIS_RATE_LIMIT_BURST=1000000
    PORTCULLIS_SIGNUPS_PER_IP=1000000/1h PORTCULLIS_LOGINS_PER_ACCOUNT=100000000/1s
  )
  if [ "$backend" = postgres ]; then
    local db="portcullis_bench_$$"
    psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" -c "CREATE DATABASE $db" >/dev/null
    ENV+=(DATABASE_URL="${PG_ADMIN%/*}/$db" REDIS_URL="$REDIS" PORTCULLIS_REDIS_PREFIX="bench:$$:$alg:")
  else
    ENV+=(DATABASE_URL="sqlite://$dir/data/portcullis.db")
  fi
  env "${ENV[@]}" "$BIN" serve >"$dir/out" 2>"$dir/log" &
  SERVER_PID=$!
  for _ in $(seq 100); do
    BASE=$(sed -n 's/^portcullis listening on \(.*\)$/\1/p' "$dir/out")
    [ -n "$BASE" ] && break
    sleep 0.1
  done
  [ -n "$BASE" ] || { cat "$dir/log" >&2; exit 1; }
  CLIENT=$(env "${ENV[@]}" "$BIN" clients create --name bench --grant client_credentials --scope read)
  CLIENT_ID=$(echo "$CLIENT" | sed -n 's/.*"client_id":"\([^"]*\)".*/\1/p')
  CLIENT_SECRET=$(echo "$CLIENT" | sed -n 's/.*"client_secret":"\([^"]*\)".*/\1/p')
}
stop_server() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=""
  if [ "$1" = postgres ]; then psql -q "$PG_ADMIN" -c "DROP DATABASE IF EXISTS portcullis_bench_$$ WITH (FORCE)" >/dev/null; fi
}
rss_mib() { awk '/VmRSS/ { printf "%.0f", $2 / 1024 }' "/proc/$SERVER_PID/status"; }

ROWS=()
measure() { # backend alg scenario label reference_name reference_value
  local out rps p50 p99 errors ratio load
  load=$(load_avg)
  out=$("$LOAD" run --base "$BASE" --scenario "$3" --connections "$CONNECTIONS" --seconds "$SECONDS_EACH" \
    --client-id "$CLIENT_ID" --client-secret "$CLIENT_SECRET" --users "$USERS" --password "$PASSWORD")
  rps=$(echo "$out" | field rps); p50=$(echo "$out" | field p50_ms); p99=$(echo "$out" | field p99_ms)
  errors=$(echo "$out" | field errors)
  ratio=$([ -n "$6" ] && awk -v a="$rps" -v b="$6" 'BEGIN { printf "%.0f %%", 100 * a / b }' || echo "—")
  ROWS+=("| $1 | $4 | $2 | **$rps/s** | $p50 ms | $p99 ms | $errors | $5 ${6:+$6/s} | $ratio | $(rss_mib) MiB | $load |")
  echo "${ROWS[-1]}" >&2
}

for backend in $BACKENDS; do
  for alg in $ALGS; do
    start_server "$backend" "$alg"
    case $alg in RS256) ref=$RSA_SIGN ;; ES256) ref=$EC_SIGN ;; *) ref=$ED_SIGN ;; esac
    measure "$backend" "$alg" cc client_credentials "$alg signing limit" "$ref"
    if [ "$alg" = RS256 ]; then
      "$LOAD" setup --base "$BASE" --users "$USERS" --password "$PASSWORD"
      measure "$backend" "$alg" refresh refresh_token "" ""
      measure "$backend" "$alg" password password "argon2id limit" "$ARGON"
      measure "$backend" "$alg" jwks "JWKS GET" "" ""
    fi
    stop_server "$backend"
  done
done

TABLE=$(
  echo "Run of $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores ($(uname -m)), $CONNECTIONS connections, ${SECONDS_EACH} s each;"
  echo "references measured in the same run: RS256 ${RSA_SIGN}/s, ES256 ${EC_SIGN}/s, Ed25519 ${ED_SIGN}/s (\`openssl speed -multi 2\`), argon2id ${ARGON}/s (2 threads, m=19456 KiB, t=2)."
  echo
  echo "| backend | grant | alg | throughput | p50 | p99 | errors | reference | ratio | RSS after | load avg |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|"
  printf '%s\n' "${ROWS[@]}"
)
echo
echo "$TABLE"
if [ "${BENCH_NO_DOCS:-0}" != 1 ]; then
  python3 - docs/benchmarks.md "$TABLE" <<'EOF'
import sys
path, table = sys.argv[1], sys.argv[2]
text = open(path).read()
begin, end = "<!-- bench:begin -->", "<!-- bench:end -->"
if begin in text and end in text:
    head, rest = text.split(begin, 1)
    text = head + begin + "\n" + table + "\n" + end + rest.split(end, 1)[1]
else:
    text += "\n" + begin + "\n" + table + "\n" + end + "\n"
open(path, "w").write(text)
EOF
fi
