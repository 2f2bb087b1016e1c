//! Turning the authorization flow's next step into a browser response.

use axum::http::StatusCode;
use axum::response::Response;

use super::browser::{Browser, redirect};
use crate::domain::authorize::{AuthorizeError, AuthorizeNext};

/// Sends the browser where the flow goes next; `status` is 302 after a GET, 303 after a POST.
pub fn next_step(
    b: &Browser,
    status: StatusCode,
    next: Result<AuthorizeNext, AuthorizeError>,
    cookies: &[String],
) -> Response {
    match next {
        Ok(AuthorizeNext::Redirect(url)) => redirect(status, &url, cookies),
        Ok(AuthorizeNext::SignIn(id)) => redirect(status, &format!("/login?req={}", encode(&id)), cookies),
        Ok(AuthorizeNext::Consent(id)) => redirect(status, &format!("/consent?req={}", encode(&id)), cookies),
        Err(e) => flow_error(b, e),
    }
}

/// An authorization error: a page when the client cannot be trusted, else the redirect.
pub fn flow_error(b: &Browser, e: AuthorizeError) -> Response {
    match e {
        AuthorizeError::Page { error, description } => {
            tracing::info!(error, "authorization request refused with an error page");
            b.message(StatusCode::BAD_REQUEST, "error_title", &description)
        }
        AuthorizeError::Redirect(url) => redirect(StatusCode::SEE_OTHER, &url, &[]),
        AuthorizeError::Internal(e) => b.failure(&e.to_string()),
    }
}

/// Percent-encodes a query value.
pub fn encode(v: &str) -> String {
    url::form_urlencoded::byte_serialize(v.as_bytes()).collect()
}

/// The origin a page's form may end up redirecting to (the client's redirect URI).
pub fn targets(redirect_uri: &str) -> Vec<String> {
    super::render::origin(redirect_uri).into_iter().collect()
}
