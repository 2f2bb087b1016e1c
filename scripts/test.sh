#!/usr/bin/env bash
# The test command: brings up PostgreSQL and Redis (installing them if needed), then runs the
# whole suite twice, on SQLite + in-process counters and on PostgreSQL + Redis; then the
# end-to-end checks: the documented examples against a real server, other languages' JWT
# libraries against our tokens, the real-browser test of the hosted sign-in, and schemathesis
# against the OpenAPI document. Extra arguments go to `cargo test` (e.g. a test-name filter) and skip
# the end-to-end checks; PORTCULLIS_TEST_SKIP_E2E=1 skips them too.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/services.sh

# Password only matters where PostgreSQL asks for one (a fresh install); trust auth ignores it.
export PORTCULLIS_TEST_DATABASE_URL=${PORTCULLIS_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}
export PORTCULLIS_TEST_REDIS_URL=${PORTCULLIS_TEST_REDIS_URL:-redis://127.0.0.1:6379}

echo "== backend: SQLite + in-process counters"
PORTCULLIS_TEST_BACKEND=sqlite cargo test --locked "$@"

echo "== backend: PostgreSQL + Redis"
PORTCULLIS_TEST_BACKEND=postgres cargo test --locked --test api "$@"

if [ "$#" -eq 0 ] && [ "${PORTCULLIS_TEST_SKIP_E2E:-}" != 1 ]; then
  echo "== documented examples against a running server"
  bash scripts/examples-test.sh
  echo "== PyJWT and node jose verify RS256, ES256 and EdDSA tokens"
  bash scripts/interop.sh
  echo "== real browser: hosted sign-in, SSO, logout"
  bash scripts/browser-test.sh
  echo "== API fuzzing from the OpenAPI document (schemathesis)"
  bash scripts/fuzz-api.sh
fi
