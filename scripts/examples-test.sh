#!/usr/bin/env bash
# Checks the documentation's integration snippets against a real server:
#   1. every snippet marked `<!-- snippet: FILE -->` in the docs equals FILE, and every file
#      under docs/examples is shown somewhere;
#   2. starts portcullis (SQLite in a temporary folder, a free port), creates a client with an
#      API audience and a user with the CLI, and gets tokens;
#   3. runs the Python (PyJWT), Node.js (jose) and Rust (jsonwebtoken) examples: each must
#      accept the API token and refuse a token for another audience and a tampered one;
#   4. runs every shell block of docs/quickstart.md from its step 4 on, as written, against
#      that server (its address in place of 127.0.0.1:8080);
#   5. validates docker-compose.yml (scripts/compose-check.sh; skipped without a compose client).
# Installs pyjwt[crypto] (into target/examples-venv) and jose (npm ci in docs/examples/node)
# when missing. Needs cargo, python3 (with venv), node/npm, curl and jq.
#
#   scripts/examples-test.sh                   # the whole check
#   scripts/examples-test.sh --sync-snippets   # copy docs/examples files into the docs' blocks
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
sync=0
[ "${1:-}" = "--sync-snippets" ] && sync=1
for tool in cargo python3 node npm curl jq; do
  command -v "$tool" >/dev/null || { echo "examples-test: $tool is required" >&2; exit 1; }
done
started=$(date +%s)
work=$(mktemp -d)
server_pids=()
cleanup() {
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  if [ -n "${KEEP_WORK:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
fail() { echo "examples-test: $*" >&2; exit 1; }

echo "== snippets in the docs match docs/examples"
SYNC=$sync python3 - <<'PY'
import os, pathlib, re, sys
sync = os.environ["SYNC"] == "1"
root = pathlib.Path(".")
examples = {str(p) for p in root.glob("docs/examples/*/*") if p.suffix in (".py", ".mjs", ".rs")}
shown, errors = set(), []
for md in [root / "README.md", *sorted(root.glob("docs/*.md"))]:
    lines = md.read_text().split("\n")
    for i, line in enumerate(lines):
        m = re.fullmatch(r"<!-- snippet: (\S+) -->", line.strip())
        if not m:
            continue
        name = m.group(1)
        path = root / name
        if not path.is_file():
            errors.append(f"{md}:{i + 1}: {name} does not exist")
            continue
        if i + 1 >= len(lines) or not lines[i + 1].startswith("```"):
            errors.append(f"{md}:{i + 1}: a code block must follow the snippet marker")
            continue
        end = next((j for j in range(i + 2, len(lines)) if lines[j] == "```"), None)
        want = path.read_text().rstrip("\n")
        if end is not None and sync:
            lines[i + 2 : end] = want.split("\n")
        elif end is None or "\n".join(lines[i + 2 : end]) != want:
            errors.append(f"{md}:{i + 1}: the block differs from {name}; run scripts/examples-test.sh --sync-snippets")
        shown.add(name)
    if sync and any(l.startswith("<!-- snippet:") for l in lines):
        md.write_text("\n".join(lines))
for missing in sorted(examples - shown):
    errors.append(f"{missing} is not shown in any document")
if errors:
    sys.exit("\n".join(errors))
print(f"{len(shown)} example files, each shown verbatim")
PY
[ "$sync" = 1 ] && exit 0

echo "== build"
cargo build --quiet --bin portcullis --example verify_token
bin=$root/target/debug/portcullis
rust_example=$root/target/debug/examples/verify_token

echo "== example dependencies"
py=python3
if ! python3 -c 'import jwt; from jwt.algorithms import has_crypto; assert has_crypto' 2>/dev/null; then
  venv=$root/target/examples-venv
  if [ ! -x "$venv/bin/python" ]; then python3 -m venv "$venv"; fi
  if ! "$venv/bin/python" -c 'import jwt; from jwt.algorithms import has_crypto; assert has_crypto' 2>/dev/null; then
    "$venv/bin/pip" install --quiet -r docs/examples/python/requirements.txt
  fi
  py=$venv/bin/python
fi
if [ ! -f docs/examples/node/node_modules/jose/package.json ]; then
  (cd docs/examples/node && npm ci --no-audit --no-fund --loglevel=error)
fi

echo "== server"
# Only the settings below: nothing from the caller's environment (DATABASE_URL…) leaks in.
# Each server gets its own folder under $work; start_server sets $issuer and $data.
server_pids=()
start_server() {
  data=$work/$1
  mkdir -p "$data"
  : >"$data/server.out"
  pc_env=(env -i PATH="$PATH" HOME="${HOME:-/tmp}" RUST_LOG=warn
    PORTCULLIS_LISTEN=127.0.0.1:0 PORTCULLIS_DATA_DIR="$data/data" PORTCULLIS_KEYS_DIR="$data/keys")
  # env execs the server, so $! is the server itself and the trap stops it.
  "${pc_env[@]}" "$bin" serve >"$data/server.out" 2>"$data/server.err" &
  server_pids+=($!)
  issuer=
  for _ in $(seq 1 300); do
    issuer=$(sed -n 's/^issuer: *//p' "$data/server.out")
    [ -n "$issuer" ] && return 0
    kill -0 "${server_pids[-1]}" 2>/dev/null || { cat "$data/server.err" >&2; fail "the server did not start"; }
    sleep 0.1
  done
  fail "the server printed no issuer"
}
pc() { "${pc_env[@]}" "$bin" "$@"; }
start_server examples
echo "issuer $issuer"

json() { "$py" -c 'import json, sys; print(json.load(sys.stdin)[sys.argv[1]])' "$1"; }
audience=https://api.example.com
client=$(pc clients create --name orders-api-caller --grant client_credentials --scope orders:read --audience "$audience")
client_id=$(json client_id <<<"$client")
client_secret=$(json client_secret <<<"$client")
api_token=$(curl -sf "$issuer/oauth/token" -u "$client_id:$client_secret" \
  -d grant_type=client_credentials -d scope=orders:read | json access_token)
echo 'an example password' | pc users create --email examples@example.com --password-stdin >/dev/null
# A token for portcullis's own endpoints: its aud is the issuer, so an API must refuse it.
login_token=$(curl -sf "$issuer/auth/login" -H 'content-type: application/json' \
  -d '{"email":"examples@example.com","password":"an example password"}' | json access_token)
tampered=$("$py" -c '
import sys
h, p, s = sys.argv[1].split(".")
i = len(s) // 2
print(".".join([h, p, s[:i] + ("A" if s[i] != "A" else "B") + s[i + 1:]]))' "$api_token")

check() {
  local name=$1
  shift
  local out
  if ! out=$(ISSUER=$issuer AUDIENCE=$audience "$@" "$api_token" 2>&1); then
    fail "$name refused a valid token: $out"
  fi
  [ "$(json sub <<<"$out")" = "$client_id" ] || fail "$name printed no claims with sub $client_id: $out"
  if out=$(ISSUER=$issuer AUDIENCE=$audience "$@" "$login_token" 2>&1); then
    fail "$name accepted a token for another audience: $out"
  fi
  if out=$(ISSUER=$issuer AUDIENCE=$audience "$@" "$tampered" 2>&1); then
    fail "$name accepted a token with a broken signature: $out"
  fi
  if out=$(ISSUER=${issuer/127.0.0.1/localhost} AUDIENCE=$audience "$@" "$api_token" 2>&1); then
    fail "$name accepted a token from another issuer: $out"
  fi
  echo "$name: ok"
}
echo "== examples"
check python "$py" docs/examples/python/verify.py
check node node docs/examples/node/verify.mjs
check rust "$rust_example"

# Runs the ```sh blocks of FILE between the lines holding FROM and TO, as written, in one
# shell that stops at the first failing command, against a fresh server (its address in place
# of 127.0.0.1:8080; the built binary on PATH in place of `cargo install`). Output in $out.
run_blocks() {
  local file=$1 from=$2 to=$3 name
  name=$(basename "$file" .md)
  start_server "docs-$name"
  python3 - "$file" "$from" "$to" "$issuer" >"$data/blocks.sh" <<'PY'
import re, sys
path, start, end, issuer = sys.argv[1:]
text = open(path).read()
text = text[text.index(start) : text.index(end)]
print("set -euo pipefail")
for block in re.findall(r"^```sh\n(.*?)^```$", text, flags=re.S | re.M):
    print(block.replace("http://127.0.0.1:8080", issuer))
print('echo "API_TOKEN=${API_TOKEN:-}"')
PY
  out=$data/blocks.out
  if ! (
    export PATH="$root/target/debug:$PATH" PORTCULLIS_DATA_DIR="$data/data" PORTCULLIS_KEYS_DIR="$data/keys"
    unset DATABASE_URL REDIS_URL PORTCULLIS_CONFIG
    bash "$data/blocks.sh"
  ) >"$out" 2>&1; then
    cat "$out" >&2
    fail "a command of $file failed (output above)"
  fi
  # Sign-up and /users/me both print Jane's profile.
  [ "$(grep -o '"email":"jane@example.com"' "$out" | wc -l)" -ge 2 ] || fail "$file: /users/me printed no profile"
  grep -q '^API_TOKEN=eyJ' "$out" || fail "$file: no access token for the API audience"
}

echo "== docs/quickstart.md, from step 4 (the server stands in for steps 2 and 3)"
run_blocks docs/quickstart.md "## 4." "## Next"
grep -q 'rejected' "$out" || fail "quickstart: the login token was not refused"
echo "quickstart: ok"

echo "== README.md, the commands after the server starts"
run_blocks README.md "In a second terminal" "### Production"
echo "README: ok"

echo "== compose"
scripts/compose-check.sh

echo "examples-test: passed in $(($(date +%s) - started))s"
