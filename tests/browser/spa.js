// A single-page app signing in with oauth4webapi entirely in the browser (the "SPA" section of
// docs/browser-apps.md): discovery, the token request and UserInfo are cross-origin calls from
// the page to portcullis, so they also prove the CORS settings. Served by rp.mjs under /spa/.
//
//   /spa/           starts the flow (PKCE S256, state, nonce kept in sessionStorage)
//   /spa/callback   validates the response (state, iss), exchanges the code, validates the ID
//                   token (nonce...), calls UserInfo, and writes the outcome as JSON into #out
import * as oauth from '/spa/oauth4webapi.js';

const out = document.getElementById('out');
const show = (result) => {
  out.textContent = JSON.stringify(result);
  document.title = result.ok ? 'spa: ok' : 'spa: failed';
};

try {
  const cfg = await (await fetch('/spa/config.json')).json();
  const issuer = new URL(cfg.issuer);
  const client = { client_id: cfg.client_id };
  const redirectUri = new URL('/spa/callback', location.origin).href;
  // The test issuer is plain http on loopback; a real deployment is https and needs no option.
  const insecure = { [oauth.allowInsecureRequests]: true };
  const as = await oauth.processDiscoveryResponse(issuer, await oauth.discoveryRequest(issuer, insecure));

  if (location.pathname === '/spa/callback') {
    const saved = JSON.parse(sessionStorage.getItem('spa') || '{}');
    sessionStorage.removeItem('spa');
    const params = oauth.validateAuthResponse(as, client, new URL(location.href), saved.state);
    const response = await oauth.authorizationCodeGrantRequest(
      as, client, oauth.None(), params, redirectUri, saved.code_verifier, insecure);
    const tokens = await oauth.processAuthorizationCodeResponse(as, client, response, {
      expectedNonce: saved.nonce,
      requireIdToken: true,
    });
    const claims = oauth.getValidatedIdTokenClaims(tokens);
    const info = await oauth.processUserInfoResponse(as, client, claims.sub,
      await oauth.userInfoRequest(as, client, tokens.access_token, insecure));
    history.replaceState(null, '', '/spa/done');
    show({ ok: true, sub: claims.sub, nonce_checked: true, email: info.email, scope: tokens.scope });
  } else {
    const code_verifier = oauth.generateRandomCodeVerifier();
    const state = oauth.generateRandomState();
    const nonce = oauth.generateRandomNonce();
    sessionStorage.setItem('spa', JSON.stringify({ code_verifier, state, nonce }));
    const url = new URL(as.authorization_endpoint);
    url.search = new URLSearchParams({
      client_id: client.client_id,
      redirect_uri: redirectUri,
      response_type: 'code',
      scope: 'openid profile email',
      code_challenge: await oauth.calculatePKCECodeChallenge(code_verifier),
      code_challenge_method: 'S256',
      state,
      nonce,
    }).toString();
    location.assign(url.href);
  }
} catch (e) {
  show({ ok: false, error: String(e), code: e?.code, cause: String(e?.cause?.message ?? e?.cause ?? '') });
}
