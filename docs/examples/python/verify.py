"""Verifies a portcullis access token the way a resource service should: RS256 only,
typ at+jwt, iss, aud, exp and nbf, the key found by kid in a cached JWKS.

    pip install -r requirements.txt      # pyjwt[crypto]: plain pyjwt cannot check RS256
    ISSUER=http://127.0.0.1:8080 AUDIENCE=https://api.example.com python3 verify.py "$ACCESS_TOKEN"
"""

import json
import os
import sys

import jwt

ISSUER = os.environ.get("ISSUER", "http://127.0.0.1:8080")
AUDIENCE = os.environ.get("AUDIENCE", "https://api.example.com")

# One client per process: keys are cached for 5 minutes and an unknown kid refetches the
# JWKS. PyJWKClient has no cooldown for unknown kids; behind a public API, limit those
# refetches yourself (docs/integration.md, section 2).
jwks = jwt.PyJWKClient(f"{ISSUER}/.well-known/jwks.json", cache_keys=True, lifespan=300)


def verify(token: str) -> dict:
    """The token's claims when every check passes; raises jwt.PyJWTError otherwise (answer 401)."""
    header = jwt.get_unverified_header(token)
    if header.get("typ", "").lower() not in ("at+jwt", "application/at+jwt"):
        raise jwt.InvalidTokenError("not an access token (typ)")
    key = jwks.get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key.key,
        algorithms=["RS256"],
        issuer=ISSUER,
        audience=AUDIENCE,
        leeway=30,
        options={"require": ["exp", "iat", "nbf", "iss", "aud", "sub"]},
    )


if __name__ == "__main__":
    try:
        claims = verify(sys.argv[1] if len(sys.argv) > 1 else "")
    except jwt.PyJWTError as e:
        print(f"rejected: {type(e).__name__}: {e}", file=sys.stderr)
        sys.exit(1)
    print(json.dumps(claims))
