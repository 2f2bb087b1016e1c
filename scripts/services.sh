#!/usr/bin/env bash
# Makes sure PostgreSQL (127.0.0.1:5432) and Redis (127.0.0.1:6379) answer for the test suite:
# starts them when installed but stopped, installs them (Debian packages) when missing.
set -euo pipefail

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else "$@"; fi; }

apt_install() {
  export DEBIAN_FRONTEND=noninteractive
  as_root apt-get update -qq
  as_root apt-get install -y -qq "$@" >/dev/null
}

pg_up() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p 5432; }

ensure_postgres() {
  if pg_up; then return; fi
  if ! command -v pg_ctlcluster >/dev/null && ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1; then
    echo "installing PostgreSQL…"
    apt_install postgresql postgresql-client
  fi
  local version
  version=$(ls /usr/lib/postgresql | sort -V | tail -n1)
  if [ -z "$(ls /etc/postgresql/"$version" 2>/dev/null)" ]; then
    as_root pg_createcluster "$version" main >/dev/null
  fi
  local cluster
  cluster=$(ls /etc/postgresql/"$version" | head -n1)
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" "$cluster" start || as_root pg_ctlcluster "$version" "$cluster" start
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
  pg_up || { echo "PostgreSQL did not start" >&2; exit 1; }
  # A fresh install asks TCP clients for a password: give the test user a known one.
  as_root su postgres -c "psql -qc \"ALTER USER postgres PASSWORD 'postgres'\"" >/dev/null 2>&1 || true
}

redis_up() { command -v redis-cli >/dev/null && [ "$(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null)" = PONG ]; }

ensure_redis() {
  if redis_up; then return; fi
  if ! command -v redis-server >/dev/null; then
    echo "installing Redis…"
    apt_install redis-server
  fi
  mkdir -p /tmp/portcullis-redis
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
    --dir /tmp/portcullis-redis --logfile /tmp/portcullis-redis/redis.log
  for _ in $(seq 1 30); do redis_up && break; sleep 0.5; done
  redis_up || { echo "Redis did not start" >&2; exit 1; }
}

ensure_postgres
ensure_redis
echo "PostgreSQL and Redis are up"
