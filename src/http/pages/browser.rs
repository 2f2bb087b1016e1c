//! What a page request carries: cookies (the SSO session and the CSRF token), the caller's
//! metadata, and the form body of a POST.

use std::collections::HashMap;

use axum::extract::{FromRef, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;
use minijinja::Value;

use super::render;
use crate::domain::Meta;
use crate::domain::clients::{constant_time_eq, new_secret};
use crate::domain::sso::BrowserSession;
use crate::http::AppState;
use crate::http::extract::{ClientMeta, read_body};

/// The SSO cookie (SPEC §10).
pub const SESSION_COOKIE: &str = "__Host-portcullis_session";
/// The CSRF cookie; forms repeat its value in `csrf_token` (double submit).
pub const CSRF_COOKIE: &str = "__Host-portcullis_csrf";

/// A page request: cookies, CSRF token, caller metadata.
pub struct Browser {
    cookies: HashMap<String, String>,
    csrf: String,
    csrf_is_new: bool,
    /// Who is asking, for audit and limits.
    pub meta: Meta,
    app: AppState,
}

fn parse_cookies(headers: &HeaderMap) -> HashMap<String, String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

fn well_formed(token: &str) -> bool {
    (20..=100).contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl<S> FromRequestParts<S> for Browser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let app = AppState::from_ref(state);
        let ClientMeta(meta) = match ClientMeta::from_request_parts(parts, state).await {
            Ok(m) => m,
            Err(_) => ClientMeta(Meta::default()),
        };
        let cookies = parse_cookies(&parts.headers);
        let (csrf, csrf_is_new) = match cookies.get(CSRF_COOKIE).filter(|t| well_formed(t)) {
            Some(t) => (t.clone(), false),
            None => (new_secret().unwrap_or_default(), true),
        };
        Ok(Browser {
            cookies,
            csrf,
            csrf_is_new,
            meta,
            app,
        })
    }
}

/// A `Set-Cookie` value with the attributes SPEC §10 asks for. `Secure` is always set: the
/// `__Host-` prefix requires it, and browsers accept it on `http://` loopback origins.
pub fn cookie(name: &str, value: &str, same_site: &str, max_age: Option<u64>) -> String {
    let age = max_age.map(|s| format!("; Max-Age={s}")).unwrap_or_default();
    format!("{name}={value}; Path=/; HttpOnly; Secure; SameSite={same_site}{age}")
}

impl Browser {
    /// The live browser session, if the cookie names one.
    pub async fn session(&self) -> Result<Option<BrowserSession>, Response> {
        let Some(value) = self.cookies.get(SESSION_COOKIE).filter(|v| well_formed(v)) else {
            return Ok(None);
        };
        match self.app.domain.browser_session(value).await {
            Ok(s) => Ok(s),
            Err(e) => Err(self.failure(&e.to_string())),
        }
    }

    /// The state shared by the handlers.
    pub fn app(&self) -> &AppState {
        &self.app
    }

    /// Renders a page; sets the CSRF cookie when the browser had none.
    pub fn page(&self, status: StatusCode, template: &str, ctx: Value, form_targets: &[String]) -> Response {
        self.page_in(None, status, template, ctx, form_targets)
    }

    /// Renders a page in the first supported language of `ui_locales`.
    pub fn page_in(
        &self,
        ui_locales: Option<&str>,
        status: StatusCode,
        template: &str,
        ctx: Value,
        form_targets: &[String],
    ) -> Response {
        let ui = &self.app.domain.config.ui;
        let mut headers = render::page_headers(ui, form_targets);
        if self.csrf_is_new
            && let Ok(v) = HeaderValue::from_str(&cookie(CSRF_COOKIE, &self.csrf, "Strict", None))
        {
            headers.append(header::SET_COOKIE, v);
        }
        match render::render(ui, ui_locales, &self.csrf, template, ctx) {
            Ok(body) => render::html(status, headers, body),
            Err(e) => {
                tracing::error!(template, error = %e, "a page failed to render");
                render::html(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    render::page_headers(ui, &[]),
                    super::messages::text("unexpected").to_string(),
                )
            }
        }
    }

    /// A page with a title and a message (errors, confirmations).
    pub fn message(&self, status: StatusCode, title_key: &str, text: &str) -> Response {
        self.page(
            status,
            "message.html",
            minijinja::context! { title_key => title_key, text => text, is_error => status.as_u16() >= 400 },
            &[],
        )
    }

    /// The page for a failure on our side; the cause is logged, not shown.
    pub fn failure(&self, cause: &str) -> Response {
        tracing::error!(error = %cause, "a page request failed");
        self.message(
            StatusCode::INTERNAL_SERVER_ERROR,
            "error_title",
            super::messages::text("unexpected"),
        )
    }

    /// Reads a form POST and checks its CSRF token against the cookie; a missing or wrong
    /// token is 403.
    pub async fn form(&self, req: Request) -> Result<PageForm, Response> {
        if !crate::http::form::is_form(req.headers()) {
            return Err(self.message(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "error_title",
                "send the form as application/x-www-form-urlencoded",
            ));
        }
        let body = read_body(req, &())
            .await
            .map_err(|_| self.message(StatusCode::PAYLOAD_TOO_LARGE, "error_title", "the form is too large"))?;
        let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(&body)
            .map_err(|_| self.message(StatusCode::BAD_REQUEST, "error_title", "the form is malformed"))?;
        // PostgreSQL text refuses NUL and no field has a use for it; the sign-in name and the
        // passwords go on to the domain, which counts a NUL login as a failed one.
        let nul_ok = ["username", "password", "current_password", "new_password"];
        if pairs
            .iter()
            .any(|(k, v)| k.contains('\0') || (v.contains('\0') && !nul_ok.contains(&k.as_str())))
        {
            return Err(self.message(
                StatusCode::BAD_REQUEST,
                "error_title",
                "the form must not contain a NUL character",
            ));
        }
        let form = PageForm(pairs.into_iter().rev().collect());
        let sent = form.get("csrf_token").unwrap_or("");
        let expected = self.cookies.get(CSRF_COOKIE).map(String::as_str).unwrap_or("");
        if expected.is_empty() || !constant_time_eq(sent, expected) {
            return Err(self.message(
                StatusCode::FORBIDDEN,
                "error_title",
                super::messages::text("csrf_failed"),
            ));
        }
        Ok(form)
    }
}

/// Fields of a page form (the first value wins when a name repeats).
pub struct PageForm(HashMap<String, String>);

impl PageForm {
    /// A field, `None` when absent or empty.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str).filter(|v| !v.is_empty())
    }

    /// A field as owned text (empty when absent).
    pub fn text(&self, name: &str) -> String {
        self.get(name).unwrap_or_default().to_string()
    }
}

/// A redirect for a browser (303 after a POST, 302 after a GET), optionally setting cookies.
pub fn redirect(status: StatusCode, location: &str, cookies: &[String]) -> Response {
    let mut res = Response::new(axum::body::Body::empty());
    *res.status_mut() = status;
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(location) {
        h.insert(header::LOCATION, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            h.append(header::SET_COOKIE, v);
        }
    }
    res
}
