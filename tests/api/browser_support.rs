//! A small browser for the hosted pages: a cookie jar, CSRF tokens read from the last page,
//! and redirects followed by hand, so tests see every hop.

use std::collections::HashMap;

use base64::Engine;
use portcullis::domain::Meta;
use portcullis::domain::clients::{ClientSpec, ClientView};
use portcullis::domain::users::DEFAULT_TENANT;
use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::TestApp;

/// Where test clients receive codes.
pub const REDIRECT: &str = "http://127.0.0.1:9000/cb";
/// Where test clients return after logout.
pub const AFTER_LOGOUT: &str = "http://127.0.0.1:9000/bye";

/// One HTTP answer as a browser sees it.
pub struct Page {
    /// Status.
    pub status: StatusCode,
    /// Headers.
    pub headers: HeaderMap,
    /// Body text.
    pub body: String,
}

impl Page {
    /// The `Location` header.
    pub fn location(&self) -> Option<String> {
        self.headers
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }

    /// The value of a hidden input.
    pub fn hidden(&self, name: &str) -> Option<String> {
        let marker = format!("name=\"{name}\" value=\"");
        let start = self.body.find(&marker)? + marker.len();
        let end = self.body[start..].find('"')?;
        Some(self.body[start..start + end].to_string())
    }

    /// Every `Set-Cookie` header.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers
            .get_all("set-cookie")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(str::to_string)
            .collect()
    }
}

/// A browser with its own cookies.
pub struct Browser<'a> {
    app: &'a TestApp,
    /// Cookies by name.
    pub cookies: HashMap<String, String>,
    csrf: Option<String>,
}

impl<'a> Browser<'a> {
    /// A fresh browser.
    pub fn new(app: &'a TestApp) -> Self {
        Browser {
            app,
            cookies: HashMap::new(),
            csrf: None,
        }
    }

    fn absorb(&mut self, headers: &HeaderMap) {
        for c in headers.get_all("set-cookie").iter().filter_map(|v| v.to_str().ok()) {
            let first = c.split(';').next().unwrap_or_default();
            if let Some((k, v)) = first.split_once('=') {
                if c.contains("Max-Age=0") {
                    self.cookies.remove(k);
                } else {
                    self.cookies.insert(k.to_string(), v.to_string());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn url(&self, path_or_url: &str) -> String {
        if path_or_url.starts_with("http") {
            path_or_url.to_string()
        } else {
            self.app.url(path_or_url)
        }
    }

    /// GETs a page (no redirects followed).
    pub async fn get(&mut self, path: &str) -> Page {
        let res = self
            .app
            .client
            .get(self.url(path))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    /// POSTs a form with the CSRF token of the last page.
    pub async fn post(&mut self, path: &str, fields: &[(&str, &str)]) -> Page {
        let mut form: Vec<(String, String)> = fields.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        if let Some(t) = &self.csrf {
            form.push(("csrf_token".into(), t.clone()));
        }
        self.post_raw(path, &form).await
    }

    /// POSTs exactly these fields.
    pub async fn post_raw(&mut self, path: &str, form: &[(String, String)]) -> Page {
        let res = self
            .app
            .client
            .post(self.url(path))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.read(res).await
    }

    async fn read(&mut self, res: reqwest::Response) -> Page {
        let status = res.status();
        let headers = res.headers().clone();
        self.absorb(&headers);
        let body = res.text().await.unwrap();
        let page = Page { status, headers, body };
        if let Some(t) = page.hidden("csrf_token") {
            self.csrf = Some(t);
        }
        page
    }

    /// Follows redirects on this server until a page or a redirect elsewhere.
    pub async fn follow(&mut self, mut page: Page) -> Page {
        for _ in 0..10 {
            match page.location() {
                Some(loc)
                    if page.status.is_redirection() && (loc.starts_with('/') || loc.starts_with(&self.app.address)) =>
                {
                    page = self.get(&loc).await;
                }
                _ => return page,
            }
        }
        panic!("too many redirects");
    }

    /// GETs a page and follows redirects on this server.
    pub async fn open(&mut self, path: &str) -> Page {
        let page = self.get(path).await;
        self.follow(page).await
    }

    /// Signs in on the page the flow showed (`page` must be the sign-in form).
    pub async fn sign_in(&mut self, page: &Page, login: &str, password: &str) -> Page {
        let mut fields = vec![("username", login), ("password", password)];
        let req = page.hidden("req");
        if let Some(r) = &req {
            fields.push(("req", r.as_str()));
        }
        self.post("/login", &fields).await
    }

    /// Answers the consent page.
    pub async fn consent(&mut self, page: &Page, decision: &str) -> Page {
        let req = page.hidden("req").expect("a consent page");
        self.post("/consent", &[("req", req.as_str()), ("decision", decision)])
            .await
    }
}

/// A PKCE pair: (verifier, S256 challenge).
pub fn pkce() -> (String, String) {
    let verifier = format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    let digest = ring::digest::digest(&ring::digest::SHA256, verifier.as_bytes());
    let challenge = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest.as_ref());
    (verifier, challenge)
}

/// Registers a public code-flow client (consent on unless `first_party`).
pub async fn code_client(app: &TestApp, first_party: bool) -> ClientView {
    let spec = ClientSpec {
        name: if first_party {
            "First-party app".into()
        } else {
            "Photo App".into()
        },
        public: true,
        grant_types: vec!["authorization_code".into(), "refresh_token".into()],
        scopes: ["openid", "profile", "email", "offline_access"]
            .map(String::from)
            .to_vec(),
        tenant: DEFAULT_TENANT.into(),
        redirect_uris: vec![REDIRECT.into()],
        post_logout_redirect_uris: vec![AFTER_LOGOUT.into()],
        require_consent: Some(!first_party),
        ..ClientSpec::default()
    };
    app.state.domain.create_client(spec, &Meta::default()).await.unwrap()
}

/// An authorization URL for `client` with PKCE `challenge`; `extra` adds or replaces parameters.
pub fn authorize_path(client: &str, challenge: &str, extra: &[(&str, &str)]) -> String {
    let defaults = [
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("scope", "openid profile email"),
        ("state", "st-123"),
        ("nonce", "n-456"),
        ("code_challenge", challenge),
        ("code_challenge_method", "S256"),
    ];
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    // `extra` replaces a default of the same name.
    for (k, v) in defaults.iter().filter(|(k, _)| !extra.iter().any(|(e, _)| e == k)) {
        q.append_pair(k, v);
    }
    for (k, v) in extra {
        q.append_pair(k, v);
    }
    format!("/oauth/authorize?{}", q.finish())
}

/// The query parameters of a redirect to the client.
pub fn query_of(location: &str) -> HashMap<String, String> {
    let url = url::Url::parse(location).unwrap();
    url.query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

/// POSTs a form to the token endpoint (no client authentication header).
pub async fn token_request(app: &TestApp, form: &[(&str, &str)]) -> (StatusCode, Value) {
    crate::helpers::json_of(
        app.client
            .post(app.url("/oauth/token"))
            .form(form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// A user's id, looked up by email in the default tenant.
pub async fn user_id(app: &TestApp, email: &str) -> String {
    app.state
        .domain
        .store
        .user_by_login(DEFAULT_TENANT, email)
        .await
        .unwrap()
        .unwrap()
        .id
}

/// Exchanges a code at the token endpoint.
pub async fn exchange(app: &TestApp, client: &str, code: &str, verifier: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("client_id", client),
        ("redirect_uri", REDIRECT),
        ("code_verifier", verifier),
    ];
    crate::helpers::json_of(
        app.client
            .post(app.url("/oauth/token"))
            .form(&form)
            .send()
            .await
            .unwrap(),
    )
    .await
}

/// Runs the whole flow for a registered user: authorize, sign in, consent when asked.
/// Returns the redirect to the client and the verifier.
pub async fn code_for(
    b: &mut Browser<'_>,
    client: &str,
    login: &str,
    password: &str,
) -> (HashMap<String, String>, String) {
    let (verifier, challenge) = pkce();
    let page = b.get(&authorize_path(client, &challenge, &[])).await;
    let mut page = b.follow(page).await;
    if page.body.contains("name=\"password\"") {
        let next = b.sign_in(&page, login, password).await;
        page = b.follow(next).await;
    }
    if page.body.contains("name=\"decision\"") {
        let next = b.consent(&page, "allow").await;
        page = b.follow(next).await;
    }
    let loc = page
        .location()
        .unwrap_or_else(|| panic!("no redirect to the client: {} {}", page.status, page.body));
    assert!(loc.starts_with(REDIRECT), "{loc}");
    (query_of(&loc), verifier)
}
