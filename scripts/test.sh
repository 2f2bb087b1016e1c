#!/usr/bin/env bash
# The test command: brings up PostgreSQL and Redis (installing them if needed), then runs the
# whole suite twice, on SQLite + in-process counters and on PostgreSQL + Redis.
# Extra arguments go to `cargo test` (e.g. a test-name filter).
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
