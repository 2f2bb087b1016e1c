//! The authorization endpoint (RFC 6749 §4.1, RFC 7636, OIDC Core §3.1.2): validating a
//! request, deciding whether the user must sign in or consent, and issuing codes.

use std::collections::HashMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::clients::{allows, new_secret, redirect_matches, sha256_hex};
use super::oauth::GrantType;
use super::sso::BrowserSession;
use super::tokens::parse_scope;
use super::{Domain, DomainError, DomainResult, Meta};
use crate::storage::authorization::{AuthRequestRecord, CodeRecord};
use crate::storage::clients::ClientRecord;

/// How long a code may wait for its exchange.
const CODE_TTL_MS: i64 = 60_000;
/// How long a pending request waits for sign-in and consent.
const REQUEST_TTL_MS: i64 = 30 * 60_000;

/// A validated authorization request, kept while the user signs in and consents.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AuthorizeRequest {
    /// The client.
    pub client_id: String,
    /// Where the answer goes (registered).
    pub redirect_uri: String,
    /// Requested scopes (within the client's).
    pub scopes: Vec<String>,
    /// Opaque client value, returned unchanged.
    pub state: Option<String>,
    /// OIDC nonce, echoed in the ID token.
    pub nonce: Option<String>,
    /// PKCE S256 challenge.
    pub code_challenge: Option<String>,
    /// `prompt=none`.
    pub prompt_none: bool,
    /// `prompt=login`.
    pub prompt_login: bool,
    /// `prompt=consent`.
    pub prompt_consent: bool,
    /// Maximum age of the sign-in, seconds.
    pub max_age: Option<i64>,
    /// Suggested login name.
    pub login_hint: Option<String>,
    /// Preferred page languages.
    pub ui_locales: Option<String>,
}

/// Why an authorization request failed.
#[derive(Debug)]
pub enum AuthorizeError {
    /// The client or redirect URI cannot be trusted: show an error page, never redirect.
    Page {
        /// OAuth error code.
        error: &'static str,
        /// What was wrong.
        description: String,
    },
    /// Tell the client, at its redirect URI (the URL carries `error`, `state` and `iss`).
    Redirect(String),
    /// The server failed.
    Internal(DomainError),
}

impl From<DomainError> for AuthorizeError {
    fn from(e: DomainError) -> Self {
        AuthorizeError::Internal(e)
    }
}

/// What the browser should do next.
#[derive(Debug, Clone)]
pub enum AuthorizeNext {
    /// Go back to the client (with a code, or an error).
    Redirect(String),
    /// Show the sign-in page for this pending request.
    SignIn(String),
    /// Show the consent page for this pending request.
    Consent(String),
}

/// A pending request as the pages show it.
#[derive(Debug, Clone)]
pub struct PendingRequest {
    /// Request id.
    pub id: String,
    /// The request.
    pub request: AuthorizeRequest,
    /// The client's display name.
    pub client_name: String,
    /// The client's tenant (whose users may sign in).
    pub tenant: String,
    /// The browser session that signed in for this request.
    pub login_sso_id: Option<String>,
}

type Params = HashMap<String, String>;

fn page(error: &'static str, description: impl Into<String>) -> AuthorizeError {
    AuthorizeError::Page {
        error,
        description: description.into(),
    }
}

/// `BASE64URL(SHA-256(verifier))` (RFC 7636 §4.2).
pub fn s256(verifier: &str) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref())
}

/// A PKCE verifier or challenge: 43–128 unreserved characters (RFC 7636 §4.1).
pub fn valid_pkce_value(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

fn bounded(params: &Params, name: &str, max: usize) -> Result<Option<String>, String> {
    match params.get(name) {
        Some(v) if v.chars().count() > max => Err(format!("{name} is longer than {max} characters")),
        Some(v) if v.chars().any(char::is_control) => Err(format!("{name} has control characters")),
        Some(v) => Ok(Some(v.clone())),
        None => Ok(None),
    }
}

impl Domain {
    /// The URL that sends the browser back to the client with `params` plus `state` and
    /// `iss` (RFC 9207).
    pub fn client_redirect(&self, redirect_uri: &str, params: &[(&str, &str)], state: Option<&str>) -> String {
        let Ok(mut url) = url::Url::parse(redirect_uri) else {
            return redirect_uri.to_string();
        };
        {
            let mut q = url.query_pairs_mut();
            for (k, v) in params {
                q.append_pair(k, v);
            }
            if let Some(s) = state {
                q.append_pair("state", s);
            }
            q.append_pair("iss", &self.issuer);
        }
        url.to_string()
    }

    fn error_redirect(&self, req: &AuthorizeRequest, error: &str, description: &str) -> AuthorizeError {
        AuthorizeError::Redirect(self.client_redirect(
            &req.redirect_uri,
            &[("error", error), ("error_description", description)],
            req.state.as_deref(),
        ))
    }

    /// Validates an authorization request. The client and redirect URI are checked first:
    /// until both are trusted, errors are shown, never redirected (RFC 6749 §4.1.2.1).
    pub async fn parse_authorize_request(
        &self,
        params: &Params,
    ) -> Result<(ClientRecord, AuthorizeRequest), AuthorizeError> {
        let client_id = params
            .get("client_id")
            .ok_or_else(|| page("invalid_request", "the request has no client_id"))?;
        let client = self
            .store
            .client(client_id)
            .await
            .map_err(DomainError::from)?
            .ok_or_else(|| {
                page(
                    "invalid_client",
                    "This application is not registered here (unknown client_id).",
                )
            })?;
        let redirect_uri = params
            .get("redirect_uri")
            .ok_or_else(|| page("invalid_request", "the request has no redirect_uri"))?;
        if !redirect_matches(&client.redirect_uris, redirect_uri) {
            return Err(page(
                "invalid_request",
                "the redirect_uri is not registered for this client",
            ));
        }
        // From here on the client can be told at its own redirect URI.
        let mut req = AuthorizeRequest {
            client_id: client.id.clone(),
            redirect_uri: redirect_uri.clone(),
            scopes: Vec::new(),
            state: None,
            nonce: None,
            code_challenge: None,
            prompt_none: false,
            prompt_login: false,
            prompt_consent: false,
            max_age: None,
            login_hint: None,
            ui_locales: None,
        };
        let invalid = |req: &AuthorizeRequest, why: &str| self.error_redirect(req, "invalid_request", why);
        match bounded(params, "state", 2048) {
            Ok(state) => req.state = state,
            Err(why) => return Err(invalid(&req, &why)),
        }
        for name in ["request", "request_uri", "registration"] {
            if params.contains_key(name) {
                let code = match name {
                    "request" => "request_not_supported",
                    "request_uri" => "request_uri_not_supported",
                    _ => "registration_not_supported",
                };
                return Err(self.error_redirect(&req, code, &format!("the {name} parameter is not supported")));
            }
        }
        match params.get("response_type").map(String::as_str) {
            Some("code") => {}
            None => return Err(invalid(&req, "the request has no response_type")),
            Some(_) => {
                return Err(self.error_redirect(
                    &req,
                    "unsupported_response_type",
                    "only response_type=code is supported",
                ));
            }
        }
        if params.get("response_mode").is_some_and(|m| m != "query") {
            return Err(invalid(&req, "only response_mode=query is supported"));
        }
        if !allows(&client, GrantType::AuthorizationCode) {
            return Err(self.error_redirect(
                &req,
                "unauthorized_client",
                "this client may not use the authorization code flow",
            ));
        }
        let requested = parse_scope(params.get("scope").map(String::as_str))
            .map_err(|e| self.error_redirect(&req, "invalid_scope", &e.description))?;
        req.scopes = match requested {
            Some(s) => {
                if let Some(bad) = s.iter().find(|s| !client.scopes.contains(s)) {
                    return Err(self.error_redirect(
                        &req,
                        "invalid_scope",
                        &format!("scope {bad} is not allowed for this client"),
                    ));
                }
                s
            }
            None => client.scopes.clone(),
        };
        let fields = [("nonce", 512), ("login_hint", 256), ("ui_locales", 128)];
        for (name, max) in fields {
            let v = bounded(params, name, max).map_err(|why| invalid(&req, &why))?;
            match name {
                "nonce" => req.nonce = v,
                "login_hint" => req.login_hint = v,
                _ => req.ui_locales = v,
            }
        }
        match (
            params.get("code_challenge"),
            params.get("code_challenge_method").map(String::as_str),
        ) {
            (Some(c), Some("S256")) if valid_pkce_value(c) => req.code_challenge = Some(c.clone()),
            (Some(_), Some("S256")) => return Err(invalid(&req, "code_challenge is malformed")),
            (Some(_), None | Some("plain")) | (None, Some("plain")) => {
                return Err(invalid(&req, "code_challenge_method must be S256"));
            }
            (_, Some(_)) => return Err(invalid(&req, "code_challenge_method must be S256")),
            (None, None) if client.require_pkce || client.public => {
                return Err(invalid(&req, "this client must use PKCE (code_challenge with S256)"));
            }
            (None, None) => {}
        }
        if let Some(prompt) = params.get("prompt") {
            for p in prompt.split(' ').filter(|p| !p.is_empty()) {
                match p {
                    "none" => req.prompt_none = true,
                    "login" => req.prompt_login = true,
                    "consent" => req.prompt_consent = true,
                    // One account per browser session: there is nothing to select.
                    "select_account" => {}
                    other => return Err(invalid(&req, &format!("prompt value {other} is not supported"))),
                }
            }
            if req.prompt_none && prompt.split(' ').filter(|p| !p.is_empty()).count() > 1 {
                return Err(invalid(&req, "prompt=none cannot be combined with other values"));
            }
        }
        if let Some(m) = params.get("max_age") {
            match m.parse::<i64>() {
                Ok(v) if v >= 0 => req.max_age = Some(v),
                _ => return Err(invalid(&req, "max_age must be a whole number of seconds")),
            }
        }
        Ok((client, req))
    }

    /// Handles `/oauth/authorize`: validates, then signs in, asks for consent, or answers.
    pub async fn authorize(
        &self,
        params: &Params,
        browser: Option<&BrowserSession>,
    ) -> Result<AuthorizeNext, AuthorizeError> {
        let (client, req) = self.parse_authorize_request(params).await?;
        self.advance(&client, req, None, browser).await
    }

    /// Continues a pending request after sign-in.
    pub async fn resume_authorization(
        &self,
        request_id: &str,
        browser: Option<&BrowserSession>,
    ) -> Result<AuthorizeNext, AuthorizeError> {
        let pending = self.pending_authorization(request_id).await?;
        let client = self.pending_client(&pending).await?;
        self.advance(
            &client,
            pending.request,
            Some((pending.id, pending.login_sso_id)),
            browser,
        )
        .await
    }

    /// A pending request, or an error page when it is unknown or expired.
    pub async fn pending_authorization(&self, request_id: &str) -> Result<PendingRequest, AuthorizeError> {
        // Ids are 43 base64url characters; anything else cannot name a request.
        if request_id.len() != 43
            || !request_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(page(
                "invalid_request",
                "this sign-in request is not valid; start again from the application",
            ));
        }
        let now = self.clock.now_ms();
        let record = self
            .store
            .auth_request(request_id, now)
            .await
            .map_err(DomainError::from)?
            .ok_or_else(|| {
                page(
                    "invalid_request",
                    "this sign-in request has expired; start again from the application",
                )
            })?;
        let request: AuthorizeRequest =
            serde_json::from_str(&record.params).map_err(|e| DomainError::Internal(e.to_string()))?;
        let client = self
            .store
            .client(&record.client_id)
            .await
            .map_err(DomainError::from)?
            .ok_or_else(|| page("invalid_client", "no such client"))?;
        Ok(PendingRequest {
            id: record.id,
            request,
            client_name: client.name,
            tenant: client.tenant_id,
            login_sso_id: record.login_sso_id,
        })
    }

    async fn pending_client(&self, pending: &PendingRequest) -> Result<ClientRecord, AuthorizeError> {
        self.store
            .client(&pending.request.client_id)
            .await
            .map_err(DomainError::from)?
            .ok_or_else(|| page("invalid_client", "no such client"))
    }

    /// Notes that the user signed in for a pending request (so `prompt=login` and `max_age`
    /// are satisfied by this sign-in).
    pub async fn note_sign_in(&self, request_id: &str, sso_id: &str) -> DomainResult<()> {
        self.store.mark_auth_request_login(request_id, sso_id).await?;
        Ok(())
    }

    /// Decides the next step for a validated request. `pending` is the stored request (id
    /// and the session that signed in for it), when there is one.
    async fn advance(
        &self,
        client: &ClientRecord,
        req: AuthorizeRequest,
        pending: Option<(String, Option<String>)>,
        browser: Option<&BrowserSession>,
    ) -> Result<AuthorizeNext, AuthorizeError> {
        let now_secs = self.clock.now_secs();
        let fresh = |b: &BrowserSession| pending.as_ref().and_then(|p| p.1.as_deref()) == Some(b.session.id.as_str());
        // A session of another tenant cannot sign in to this client; `prompt=login` and an
        // exceeded `max_age` ask again unless the sign-in happened for this very request.
        let signed_in = browser.filter(|b| {
            b.user.tenant_id == client.tenant_id
                && (fresh(b) || !(req.prompt_login || req.max_age.is_some_and(|m| b.session.auth_time + m < now_secs)))
        });
        let Some(browser) = signed_in else {
            if req.prompt_none {
                return Err(self.error_redirect(&req, "login_required", "the user is not signed in"));
            }
            return Ok(AuthorizeNext::SignIn(self.keep_pending(&req, pending).await?));
        };
        // First-party clients never ask, so they skip the consent lookup.
        let needs_consent = req.prompt_consent || {
            client.require_consent && {
                let consented = self
                    .store
                    .consented_scopes(&browser.user.id, &client.id)
                    .await
                    .map_err(DomainError::from)?;
                !req.scopes.iter().all(|s| consented.contains(s))
            }
        };
        if needs_consent {
            if req.prompt_none {
                return Err(self.error_redirect(&req, "consent_required", "the user has not consented"));
            }
            return Ok(AuthorizeNext::Consent(self.keep_pending(&req, pending).await?));
        }
        if let Some((id, _)) = &pending {
            self.store.delete_auth_request(id).await.map_err(DomainError::from)?;
        }
        Ok(AuthorizeNext::Redirect(self.issue_code(client, &req, browser).await?))
    }

    async fn keep_pending(
        &self,
        req: &AuthorizeRequest,
        pending: Option<(String, Option<String>)>,
    ) -> DomainResult<String> {
        if let Some((id, _)) = pending {
            return Ok(id);
        }
        let now = self.clock.now_ms();
        let record = AuthRequestRecord {
            id: new_secret()?,
            client_id: req.client_id.clone(),
            params: serde_json::to_string(req).map_err(|e| DomainError::Internal(e.to_string()))?,
            login_sso_id: None,
            created_at: now,
            expires_at: now + REQUEST_TTL_MS,
        };
        self.store.insert_auth_request(&record).await?;
        Ok(record.id)
    }

    /// The user's answer on the consent page: a code on `allow`, `access_denied` otherwise.
    pub async fn decide_consent(
        &self,
        request_id: &str,
        browser: &BrowserSession,
        allow: bool,
        meta: &Meta,
    ) -> Result<String, AuthorizeError> {
        let pending = self.pending_authorization(request_id).await?;
        let client = self.pending_client(&pending).await?;
        let req = pending.request;
        if browser.user.tenant_id != client.tenant_id {
            return Err(page("invalid_request", "sign in with an account of this application"));
        }
        // One answer per request: a second submission finds it gone.
        if !self
            .store
            .delete_auth_request(&pending.id)
            .await
            .map_err(DomainError::from)?
        {
            return Err(page("invalid_request", "this request was already answered"));
        }
        let now = self.clock.now_ms();
        let who = Meta {
            actor_id: Some(browser.user.id.clone()),
            ..meta.clone()
        };
        if !allow {
            let event = who
                .event(&client.tenant_id, "consent.denied", Some(&browser.user.id), now)
                .with_detail(json!({ "client_id": client.id, "scope": req.scopes.join(" ") }));
            if let Err(e) = self.store.record(&event).await {
                tracing::warn!(error = %e, "could not record a denied consent");
            }
            return Err(self.error_redirect(&req, "access_denied", "the user denied the request"));
        }
        let mut scopes = self
            .store
            .consented_scopes(&browser.user.id, &client.id)
            .await
            .map_err(DomainError::from)?;
        for s in &req.scopes {
            if !scopes.contains(s) {
                scopes.push(s.clone());
            }
        }
        let event = who
            .event(&client.tenant_id, "consent.granted", Some(&browser.user.id), now)
            .with_detail(json!({ "client_id": client.id, "scope": scopes.join(" ") }));
        self.store
            .save_consent(&browser.user.id, &client.id, &scopes, now, &event)
            .await
            .map_err(DomainError::from)?;
        Ok(self.issue_code(&client, &req, browser).await?)
    }

    /// Stores a new code for the request and returns the redirect that carries it.
    async fn issue_code(
        &self,
        client: &ClientRecord,
        req: &AuthorizeRequest,
        browser: &BrowserSession,
    ) -> DomainResult<String> {
        let now = self.clock.now_ms();
        let code = new_secret()?;
        let record = CodeRecord {
            code_hash: sha256_hex(&code),
            client_id: client.id.clone(),
            user_id: browser.user.id.clone(),
            sso_session_id: browser.session.id.clone(),
            redirect_uri: req.redirect_uri.clone(),
            code_challenge: req.code_challenge.clone(),
            scope: req.scopes.join(" "),
            nonce: req.nonce.clone(),
            auth_time: browser.session.auth_time,
            amr: browser.session.amr.join(" "),
            created_at: now,
            expires_at: now + CODE_TTL_MS,
            used_at: None,
            session_id: None,
        };
        self.store.insert_code(&record).await?;
        Ok(self.client_redirect(&req.redirect_uri, &[("code", &code)], req.state.as_deref()))
    }
}
