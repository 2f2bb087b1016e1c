#!/usr/bin/env bash
# Resource services in other languages accept our tokens: for each signing algorithm, starts
# the server (PORTCULLIS_BIN, or a debug build) on a throwaway SQLite database, logs a user in, and verifies the access
# token against the served JWKS with PyJWT (pip `pyjwt[crypto]`) and node `jose` (npm),
# installed under target/interop. A tampered token must be refused.
set -euo pipefail
cd "$(dirname "$0")/.."
TOOLS=target/interop
mkdir -p "$TOOLS"
[ -x "$TOOLS/venv/bin/python" ] || python3 -m venv "$TOOLS/venv"
"$TOOLS/venv/bin/pip" install -q 'pyjwt[crypto]'
[ -d "$TOOLS/node_modules/jose" ] || (cd "$TOOLS" && npm install --silent jose >/dev/null)
if [ -z "${PORTCULLIS_BIN:-}" ]; then
  cargo build --locked --bin portcullis >&2
  PORTCULLIS_BIN=target/debug/portcullis
fi
PASSWORD="correct horse battery"
PID=
trap 'if [ -n "$PID" ]; then kill "$PID" 2>/dev/null || true; fi' EXIT
for ALG in RS256 ES256 EdDSA; do
  D=$(mktemp -d)
  PORTCULLIS_LISTEN=127.0.0.1:0 PORTCULLIS_DATA_DIR=$D/data PORTCULLIS_KEYS_DIR=$D/keys \
    DATABASE_URL=sqlite://$D/data/portcullis.db PORTCULLIS_SIGNING_ALG=$ALG \
    "$PORTCULLIS_BIN" serve >"$D/out" 2>"$D/log" &
  PID=$!
  for _ in $(seq 100); do BASE=$(sed -n 's/^portcullis listening on \(.*\)$/\1/p' "$D/out"); [ -n "$BASE" ] && break; sleep 0.1; done
  body="{\"email\":\"interop@example.com\",\"password\":\"$PASSWORD\"}"
  curl -sf "$BASE/auth/register" -H 'content-type: application/json' -d "$body" >/dev/null
  TOKEN=$(curl -sf "$BASE/auth/login" -H 'content-type: application/json' -d "$body" |
    python3 -c 'import json, sys; print(json.load(sys.stdin)["access_token"])')
  "$TOOLS/venv/bin/python" - "$BASE" "$TOKEN" <<'PY'
import sys, jwt
base, tok = sys.argv[1], sys.argv[2]
key = jwt.PyJWKClient(base + "/.well-known/jwks.json").get_signing_key_from_jwt(tok)
jwt.decode(tok, key, algorithms=[key.algorithm_name], audience=base, issuer=base)
bad = tok[:-4] + ("AAAA" if not tok.endswith("AAAA") else "BBBB")
try:
    jwt.decode(bad, key, algorithms=[key.algorithm_name], audience=base, issuer=base)
    sys.exit("PyJWT accepted a tampered token")
except jwt.InvalidSignatureError:
    pass
print(f"PyJWT {jwt.__version__}: {key.algorithm_name} token verified, tampered one refused")
PY
  (cd "$TOOLS" && node --input-type=module -e "
import { createRemoteJWKSet, jwtVerify } from 'jose';
const [base, tok] = process.argv.slice(1);
const jwks = createRemoteJWKSet(new URL(base + '/.well-known/jwks.json'));
const { protectedHeader } = await jwtVerify(tok, jwks, { issuer: base, audience: base, typ: 'at+jwt' });
const bad = tok.slice(0, -4) + (tok.endsWith('AAAA') ? 'BBBB' : 'AAAA');
if (await jwtVerify(bad, jwks, { issuer: base, audience: base }).then(() => true, () => false)) {
  throw new Error('jose accepted a tampered token');
}
console.log('node jose: ' + protectedHeader.alg + ' token verified, tampered one refused');
" "$BASE" "$TOKEN")
  kill "$PID"; wait "$PID" 2>/dev/null || true; rm -rf "$D"
done
