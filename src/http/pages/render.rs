//! Rendering: templates compiled into the binary, one strict Content-Security-Policy, and the
//! headers every page carries.

use std::sync::OnceLock;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use minijinja::{Environment, Value, context};

use super::messages;
use crate::config::UiConfig;

const TEMPLATES: &[(&str, &str)] = &[
    ("base.html", include_str!("templates/base.html")),
    ("login.html", include_str!("templates/login.html")),
    ("signup.html", include_str!("templates/signup.html")),
    ("consent.html", include_str!("templates/consent.html")),
    ("message.html", include_str!("templates/message.html")),
    ("forgot.html", include_str!("templates/forgot.html")),
    ("reset.html", include_str!("templates/reset.html")),
    ("verify.html", include_str!("templates/verify.html")),
    ("logout.html", include_str!("templates/logout.html")),
    ("account.html", include_str!("templates/account.html")),
];

/// The stylesheet every page links.
pub const STYLESHEET: &str = include_str!("assets/portcullis.css");

// Templates are fixed at build time, so the environment is built once and never changes.
static ENV: OnceLock<Environment<'static>> = OnceLock::new();

fn env() -> &'static Environment<'static> {
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in TEMPLATES {
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "a page template does not compile");
            }
        }
        env
    })
}

/// The origin (`scheme://host[:port]`) of a URL, for the CSP; `None` for other shapes.
pub fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    match u.origin() {
        url::Origin::Tuple(..) => Some(u.origin().ascii_serialization()),
        url::Origin::Opaque(_) => Some(format!("{}:", u.scheme())),
    }
}

/// The policy: nothing but our own styles, images and form targets; no script at all; never
/// framed. `form_targets` are origins a form's answer may redirect to (a client's redirect
/// URI), since browsers apply `form-action` to redirects too.
pub fn content_security_policy(ui: &UiConfig, form_targets: &[String]) -> String {
    let extra = |url: &Option<String>| {
        url.as_deref()
            .and_then(origin)
            .map(|o| format!(" {o}"))
            .unwrap_or_default()
    };
    let targets: String = form_targets.iter().map(|o| format!(" {o}")).collect();
    format!(
        "default-src 'none'; style-src 'self'{css}; img-src 'self' data:{logo}; form-action 'self'{targets}; \
         frame-ancestors 'none'; base-uri 'none'",
        css = extra(&ui.css_url),
        logo = extra(&ui.logo_url),
    )
}

/// Headers of every page: CSP, no framing, no sniffing, no caching, no referrer (page URLs
/// carry request ids and tokens).
pub fn page_headers(ui: &UiConfig, form_targets: &[String]) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(ui, form_targets)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h
}

/// Renders a template with the page-wide values (branding, strings, CSRF token) and `ctx`.
pub fn render(ui: &UiConfig, locales: Option<&str>, csrf: &str, name: &str, ctx: Value) -> Result<String, String> {
    let (lang, table) = messages::catalog(locales);
    let t: std::collections::BTreeMap<&str, &str> = table.iter().copied().collect();
    let page = context! {
        ui => context! {
            name => ui.name.clone(),
            logo_url => ui.logo_url.clone(),
            css_url => ui.css_url.clone(),
            signup_enabled => ui.signup_enabled,
        },
        t => t,
        lang => lang,
        csrf_token => csrf,
        ..ctx
    };
    env()
        .get_template(name)
        .and_then(|tpl| tpl.render(page))
        .map_err(|e| e.to_string())
}

/// An HTML response with the page headers.
pub fn html(status: StatusCode, headers: HeaderMap, body: String) -> Response {
    (status, headers, body).into_response()
}

/// The generated stylesheet that carries the configured primary colour (inline styles are
/// forbidden by the CSP).
pub fn theme_css(ui: &UiConfig) -> String {
    format!(":root {{ --primary: {}; }}\n", ui.primary_color)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_compiles() {
        for (name, _) in TEMPLATES {
            assert!(env().get_template(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn origins_for_the_policy() {
        assert_eq!(
            origin("https://app.example.com:8443/cb?x=1").as_deref(),
            Some("https://app.example.com:8443")
        );
        assert_eq!(
            origin("http://127.0.0.1:9000/cb").as_deref(),
            Some("http://127.0.0.1:9000")
        );
        assert_eq!(origin("com.example.app:/cb").as_deref(), Some("com.example.app:"));
        assert_eq!(origin("not a url"), None);
    }
}
