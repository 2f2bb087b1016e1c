#!/usr/bin/env bash
# Validates docker-compose.yml with `docker compose config` (or `docker-compose config`);
# skips with a message when no compose client is installed.
set -euo pipefail
cd "$(dirname "$0")/.."
if docker compose version >/dev/null 2>&1; then
  compose=(docker compose)
elif command -v docker-compose >/dev/null 2>&1; then
  compose=(docker-compose)
else
  echo "compose-check: skipped, no docker compose or docker-compose installed"
  exit 0
fi
secrets=$(mktemp -d)
trap 'rm -rf "$secrets"' EXIT
# The file refers to its secrets by path; stand-ins let the check run on a clean checkout.
POSTGRES_PASSWORD=check PORTCULLIS_KEK_FILE="$secrets/kek" "${compose[@]}" -f docker-compose.yml config --quiet
echo "compose-check: docker-compose.yml is valid"
