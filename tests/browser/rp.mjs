// A minimal relying party for the browser test, built only on openid-client v6 (and jose for a
// second, independent signature check). It configures itself from the issuer's discovery
// document and serves:
//
//   GET /start?client=NAME[&prompt=...]   builds the authorization URL (PKCE S256, state, nonce)
//                                         and redirects the browser to it
//   GET /cb                               the redirect URI: validates the authorization response
//                                         (state, iss per RFC 9207), exchanges the code (PKCE),
//                                         validates the ID token (JWKS signature, iss, aud, nonce,
//                                         auth_time...), calls UserInfo; answers JSON
//   GET /logout?client=NAME               RP-initiated logout: redirects to end_session_endpoint
//                                         with id_token_hint, post_logout_redirect_uri and state
//   GET /bye                              the post-logout redirect URI: checks state; answers JSON
//   GET /results                          every outcome so far, as a JSON array
//   GET /spa/...                          a single-page app (spa.js) doing the same flow with
//                                         oauth4webapi inside the browser (client named "spa")
//
// Every outcome is also printed on stdout as one JSON line. Configuration comes from the
// environment: RP_ISSUER, RP_PORT, RP_CLIENTS (JSON object NAME -> client_id).
import fs from 'node:fs';
import http from 'node:http';
import * as client from 'openid-client';
import * as jose from 'jose';

const issuer = process.env.RP_ISSUER;
const port = Number(process.env.RP_PORT);
const clients = JSON.parse(process.env.RP_CLIENTS || '{}');
if (!issuer || !port || Object.keys(clients).length === 0) {
  console.error('RP_ISSUER, RP_PORT and RP_CLIENTS are required');
  process.exit(2);
}
const base = `http://127.0.0.1:${port}`;
const redirectUri = `${base}/cb`;
const postLogoutRedirectUri = `${base}/bye`;

// One openid-client Configuration per client, each from discovery. allowInsecureRequests only
// because the test issuer is plain http on loopback; enableNonRepudiationChecks makes the library
// verify the ID token's JWS signature against the discovered jwks_uri.
const configs = {};
for (const [name, clientId] of Object.entries(clients)) {
  if (name === 'spa') continue; // signs in inside the browser (spa.js)
  configs[name] = await client.discovery(new URL(issuer), clientId, undefined, client.None(), {
    execute: [client.allowInsecureRequests, client.enableNonRepudiationChecks],
    timeout: 10,
  });
}
const metadata = configs[Object.keys(configs)[0]].serverMetadata();
const jwks = jose.createRemoteJWKSet(new URL(metadata.jwks_uri));

const pending = new Map(); // state -> {name, verifier, nonce, started}
const logouts = new Map(); // state -> name
const lastTokens = {}; // name -> token endpoint response
const results = [];

function record(res, status, outcome) {
  results.push(outcome);
  process.stdout.write(JSON.stringify(outcome) + '\n');
  res.writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(JSON.stringify(outcome, null, 2));
}

function errorInfo(e) {
  return { name: e?.name, code: e?.code, error: e?.error, error_description: e?.error_description, message: String(e?.message ?? e), cause: e?.cause?.message ?? e?.cause?.error };
}

async function start(url, res) {
  const name = url.searchParams.get('client');
  const config = configs[name];
  if (!config) return record(res, 400, { step: 'start', ok: false, error: `unknown client ${name}` });
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const params = {
    redirect_uri: redirectUri,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
  };
  for (const extra of ['prompt', 'max_age', 'login_hint']) {
    if (url.searchParams.has(extra)) params[extra] = url.searchParams.get(extra);
  }
  pending.set(state, { name, verifier, nonce });
  const target = client.buildAuthorizationUrl(config, params);
  res.writeHead(302, { location: target.href, 'cache-control': 'no-store' });
  res.end();
}

async function callback(url, res) {
  const state = url.searchParams.get('state');
  const flow = pending.get(state);
  if (!flow) {
    return record(res, 400, { step: 'callback', ok: false, error: 'unknown or missing state', query: Object.fromEntries(url.searchParams) });
  }
  pending.delete(state);
  const config = configs[flow.name];
  const outcome = { step: 'callback', client: flow.name, ok: false, query_keys: [...url.searchParams.keys()].sort() };
  try {
    // Checks the authorization response (state; iss when the server advertises RFC 9207
    // support, which portcullis does), then the token response and the ID token: signature
    // (JWKS), iss, aud, azp, exp/iat, nonce, and that an ID token came at all.
    const tokens = await client.authorizationCodeGrant(config, url, {
      pkceCodeVerifier: flow.verifier,
      expectedState: state,
      expectedNonce: flow.nonce,
      idTokenExpected: true,
    });
    const claims = tokens.claims();
    // A second, independent check of both JWTs against the published keys.
    const idHeader = jose.decodeProtectedHeader(tokens.id_token);
    await jose.jwtVerify(tokens.id_token, jwks, { issuer: metadata.issuer, audience: config.clientMetadata().client_id });
    const at = await jose.jwtVerify(tokens.access_token, jwks, { issuer: metadata.issuer, typ: 'at+jwt' });
    const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
    lastTokens[flow.name] = tokens;
    Object.assign(outcome, {
      ok: true,
      iss_in_response: url.searchParams.get('iss'),
      id_token_alg: idHeader.alg,
      id_token_kid: idHeader.kid,
      claims,
      access_token_claims: at.payload,
      scope: tokens.scope,
      token_type: tokens.token_type,
      has_refresh_token: Boolean(tokens.refresh_token),
      userinfo,
    });
    return record(res, 200, outcome);
  } catch (e) {
    outcome.error = errorInfo(e);
    return record(res, 400, outcome);
  }
}

function logout(url, res) {
  const name = url.searchParams.get('client');
  const config = configs[name];
  const tokens = lastTokens[name];
  if (!config || !tokens) return record(res, 400, { step: 'logout', ok: false, error: `no tokens for client ${name}` });
  const state = client.randomState();
  logouts.set(state, name);
  const target = client.buildEndSessionUrl(config, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: postLogoutRedirectUri,
    state,
  });
  res.writeHead(302, { location: target.href, 'cache-control': 'no-store' });
  res.end();
}

function bye(url, res) {
  const state = url.searchParams.get('state');
  const name = logouts.get(state);
  logouts.delete(state);
  record(res, name ? 200 : 400, { step: 'post_logout', ok: Boolean(name), client: name ?? null, state_matches: Boolean(name) });
}

const here = new URL('.', import.meta.url);
const spaFiles = {
  '/spa/app.js': new URL('spa.js', here),
  '/spa/oauth4webapi.js': new URL('node_modules/oauth4webapi/build/index.js', here),
};
const spaPage = '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>spa</title></head>' +
  '<body><pre id="out">working</pre><script type="module" src="/spa/app.js"></script></body></html>';

function spa(url, res) {
  if (spaFiles[url.pathname]) {
    res.writeHead(200, { 'content-type': 'text/javascript', 'cache-control': 'no-store' });
    return res.end(fs.readFileSync(spaFiles[url.pathname]));
  }
  if (url.pathname === '/spa/config.json') {
    res.writeHead(200, { 'content-type': 'application/json' });
    return res.end(JSON.stringify({ issuer, client_id: clients.spa }));
  }
  res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
  res.end(spaPage);
}

const server = http.createServer((req, res) => {
  const url = new URL(req.url, base);
  if (url.pathname.startsWith('/spa/') && clients.spa) return spa(url, res);
  const route = {
    '/start': start,
    '/cb': callback,
    '/logout': logout,
    '/bye': bye,
    '/results': (_u, r) => {
      r.writeHead(200, { 'content-type': 'application/json' });
      r.end(JSON.stringify(results));
    },
  }[url.pathname];
  if (!route) {
    res.writeHead(404, { 'content-type': 'text/plain' });
    return res.end('not found');
  }
  Promise.resolve(route(url, res)).catch((e) => record(res, 500, { step: url.pathname, ok: false, error: errorInfo(e) }));
});
server.listen(port, '127.0.0.1', () => {
  process.stdout.write(JSON.stringify({ step: 'listening', ok: true, base, issuer: metadata.issuer }) + '\n');
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
