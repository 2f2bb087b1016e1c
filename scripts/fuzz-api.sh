#!/usr/bin/env bash
# API fuzzing from the OpenAPI document: starts a server on SQLite, creates an admin and its
# token, and runs schemathesis twice (anonymous, then as the admin), bounded in time. Fails on
# any 5xx, any response outside the documented schema, status or content type, or when fewer
# than MIN_CASES cases ran.
#
# `positive_data_acceptance` is left out: it expects every schema-valid body to succeed, but a
# schema cannot say which reset tokens, refresh tokens or passwords are valid ones. The
# coverage phase is left out too: schemathesis 4.32 fails inside it (a KeyError of its own).
#
# Knobs: FUZZ_SECONDS (per run, default 80), FUZZ_EXAMPLES (per operation, default 30),
# MIN_CASES (default 1000), SCHEMATHESIS (the command; installed into target/ when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

FUZZ_SECONDS=${FUZZ_SECONDS:-80}
FUZZ_EXAMPLES=${FUZZ_EXAMPLES:-30}
MIN_CASES=${MIN_CASES:-1000}

if [ -z "${SCHEMATHESIS:-}" ]; then
    if command -v schemathesis >/dev/null 2>&1; then
        SCHEMATHESIS=schemathesis
    else
        if [ ! -x target/fuzz-venv/bin/schemathesis ]; then
            echo "== installing schemathesis into target/fuzz-venv"
            python3 -m venv target/fuzz-venv
            target/fuzz-venv/bin/pip install --quiet schemathesis
        fi
        SCHEMATHESIS=$PWD/target/fuzz-venv/bin/schemathesis
    fi
fi

cargo build --quiet --locked --bin portcullis
BIN=$PWD/target/debug/portcullis

WORK=$(mktemp -d)
SERVER_PID=
cleanup() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT

PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
BASE=http://127.0.0.1:$PORT
export PORTCULLIS_LISTEN=127.0.0.1:$PORT
export DATABASE_URL=sqlite://$WORK/portcullis.db
export PORTCULLIS_DATA_DIR=$WORK/data
export PORTCULLIS_KEYS_DIR=$WORK/keys
export PORTCULLIS_LOG_FORMAT=json
# Light hashing and a generous per-IP limit: the run tests behaviour, not throughput.
export PORTCULLIS_ARGON2_MEMORY_KIB=64
export PORTCULLIS_ARGON2_ITERATIONS=1
export PORTCULLIS_RATE_LIMIT_PER_SECOND=100000
export PORTCULLIS_RATE_LIMIT_BURST=100000
export PORTCULLIS_FAILED_LOGINS_PER_IP=100000/1m
export PORTCULLIS_SIGNUPS_PER_IP=100000/1m
unset REDIS_URL PORTCULLIS_CONFIG PORTCULLIS_ISSUER PORTCULLIS_SMTP_URL PORTCULLIS_MAIL_OUTBOX_DIR

ADMIN_EMAIL=fuzz-admin@example.com
ADMIN_PASSWORD=fuzz-admin-password-1
echo "$ADMIN_PASSWORD" | "$BIN" users create --email "$ADMIN_EMAIL" --role admin --password-stdin >/dev/null

"$BIN" serve >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
for _ in $(seq 1 100); do
    curl -fsS "$BASE/health/ready" >/dev/null 2>&1 && break
    sleep 0.2
done
curl -fsS "$BASE/health/ready" >/dev/null

TOKEN=$(curl -fsS "$BASE/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$ADMIN_EMAIL\",\"password\":\"$ADMIN_PASSWORD\"}" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')

# Only the admin token authenticates: schemathesis would otherwise sign up a user of its own
# through /auth/register and send that user's token instead.
printf '[auth]\nauto-signup = false\n' >"$WORK/schemathesis.toml"

run() {
    local name=$1
    shift
    echo "== schemathesis: $name"
    # From the scratch folder, so schemathesis' own cache stays out of the checkout.
    (cd "$WORK" && "$SCHEMATHESIS" --config-file "$WORK/schemathesis.toml" run "$BASE/openapi.json" \
        --checks all --exclude-checks "${EXCLUDE_CHECKS:-positive_data_acceptance}" \
        --phases examples,fuzzing \
        --max-examples "$FUZZ_EXAMPLES" --max-time "$FUZZ_SECONDS" --workers 2 \
        --suppress-health-check filter_too_much,too_slow \
        --request-timeout 10 --seed 1 "$@") 2>&1 | tee "$WORK/$name.out"
    local status=${PIPESTATUS[0]}
    grep -Eo '[0-9]+ generated' "$WORK/$name.out" | tail -1 | grep -Eo '[0-9]+' >"$WORK/$name.cases" || echo 0 >"$WORK/$name.cases"
    return "$status"
}

failed=0
# The JSON API with every check. The hosted pages (tag browser) are HTML for browsers: they
# ignore unknown query parameters on purpose (links carry tracking parameters), so they get
# a run of their own without the negative-data check.
run anonymous --exclude-tag browser || failed=1
run admin --exclude-tag browser --header "Authorization: Bearer $TOKEN" || failed=1
FUZZ_SECONDS=$((FUZZ_SECONDS / 2)) EXCLUDE_CHECKS=positive_data_acceptance,negative_data_rejection \
    run pages --include-tag browser || failed=1

cases=$(($(cat "$WORK/anonymous.cases") + $(cat "$WORK/admin.cases") + $(cat "$WORK/pages.cases")))
echo "== $cases cases generated"
if grep -q '"level":"ERROR"' "$WORK/server.log"; then
    echo "the server logged errors:"
    grep '"level":"ERROR"' "$WORK/server.log" | head -20
    failed=1
fi
if [ "$cases" -lt "$MIN_CASES" ]; then
    echo "fewer than $MIN_CASES cases ran"
    failed=1
fi
exit $failed
