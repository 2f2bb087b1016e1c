// Verifies a portcullis access token the way a resource service should: RS256 only,
// typ at+jwt, iss, aud, exp and nbf, the key found by kid in a cached JWKS.
//
//   npm ci        # installs jose from package.json / package-lock.json
//   ISSUER=http://127.0.0.1:8080 AUDIENCE=https://api.example.com node verify.mjs "$ACCESS_TOKEN"
import { argv, env, exit } from "node:process";
import { fileURLToPath } from "node:url";
import { createRemoteJWKSet, jwtVerify } from "jose";

const ISSUER = env.ISSUER ?? "http://127.0.0.1:8080";
const AUDIENCE = env.AUDIENCE ?? "https://api.example.com";

// One JWKS cache per process: refetched after max-age; an unknown kid refetches at most
// once per 30 s, so made-up kids cannot make this service hammer the JWKS endpoint.
const jwks = createRemoteJWKSet(new URL(`${ISSUER}/.well-known/jwks.json`), {
  cacheMaxAge: 300_000,
  cooldownDuration: 30_000,
});

/** The token's claims when every check passes; throws otherwise (answer 401). */
export async function verify(token) {
  const { payload } = await jwtVerify(token, jwks, {
    issuer: ISSUER,
    audience: AUDIENCE,
    algorithms: ["RS256"],
    typ: "at+jwt",
    clockTolerance: 30,
    requiredClaims: ["exp", "iat", "nbf", "sub"],
  });
  return payload; // payload.sub, payload.scope, payload.roles, payload.tenant
}

if (argv[1] === fileURLToPath(import.meta.url)) {
  try {
    console.log(JSON.stringify(await verify(argv[2] ?? "")));
  } catch (e) {
    console.error(`rejected: ${e.code ?? e.name}: ${e.message}`);
    exit(1);
  }
}
