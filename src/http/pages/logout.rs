//! `/oauth/logout`: OIDC RP-Initiated Logout 1.0. Ends the browser session (and the client
//! sessions opened through it), then returns to a registered `post_logout_redirect_uri`.

use std::collections::HashMap;

use axum::extract::{Query, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use minijinja::context;

use super::browser::{Browser, SESSION_COOKIE, cookie, redirect};
use super::flow::targets;
use super::messages::text;
use crate::domain::clients::redirect_matches;
use crate::domain::sso::BrowserSession;

const PARAMS: [&str; 5] = [
    "id_token_hint",
    "post_logout_redirect_uri",
    "state",
    "client_id",
    "ui_locales",
];

/// `GET`/`POST /oauth/logout`.
#[utoipa::path(get, operation_id = "logout_get", path = "/oauth/logout", tag = "browser", params(("id_token_hint" = Option<String>, Query), ("post_logout_redirect_uri" = Option<String>, Query), ("state" = Option<String>, Query), ("client_id" = Option<String>, Query)), responses((status = 200, description = "HTML confirmation or signed-out page"), (status = 303, description = "to the registered post_logout_redirect_uri"), (status = 400, description = "HTML error page")))]
pub async fn logout_get(b: Browser, req: Request) -> Response {
    logout(b, req).await
}

/// The POST form of the same endpoint.
#[utoipa::path(post, operation_id = "logout_post", path = "/oauth/logout", tag = "browser", request_body(content_type = "application/x-www-form-urlencoded", content = String, description = "id_token_hint, post_logout_redirect_uri, state, client_id, confirm, csrf_token"), responses((status = 200, description = "HTML confirmation or signed-out page"), (status = 303, description = "to the registered post_logout_redirect_uri"), (status = 400, description = "HTML error page")))]
pub async fn logout_post(b: Browser, req: Request) -> Response {
    logout(b, req).await
}

async fn logout(b: Browser, req: Request) -> Response {
    let params: HashMap<String, String> = if req.method() == Method::POST {
        match b.form(req).await {
            Ok(f) => PARAMS
                .iter()
                .chain(["confirm"].iter())
                .filter_map(|k| f.get(k).map(|v| (k.to_string(), v.to_string())))
                .collect(),
            Err(res) => return res,
        }
    } else {
        match Query::<HashMap<String, String>>::try_from_uri(req.uri()) {
            Ok(Query(q)) => q,
            Err(_) => {
                return b.message(
                    StatusCode::BAD_REQUEST,
                    "error_title",
                    "the logout request is malformed",
                );
            }
        }
    };
    if params.iter().any(|(k, v)| k.contains('\0') || v.contains('\0')) {
        return b.message(
            StatusCode::BAD_REQUEST,
            "error_title",
            "the logout request must not contain a NUL character",
        );
    }
    let domain = &b.app().domain;
    let current = match b.session().await {
        Ok(s) => s,
        Err(res) => return res,
    };
    // The hint names the client and the session the RP knows about.
    let (hint_client, hint_parent) = match params.get("id_token_hint") {
        Some(t) => match domain.id_token_hint(t).await {
            Ok((client, session)) => (Some(client), session.and_then(|s| s.parent_id)),
            Err(_) => return b.message(StatusCode::BAD_REQUEST, "error_title", "the id_token_hint is not valid"),
        },
        None => (None, None),
    };
    let client_id = match (params.get("client_id"), &hint_client) {
        (Some(c), Some(h)) if c != h => {
            return b.message(
                StatusCode::BAD_REQUEST,
                "error_title",
                "client_id does not match the id_token_hint",
            );
        }
        (Some(c), _) => Some(c.clone()),
        (None, h) => h.clone(),
    };
    let back = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = match &client_id {
                Some(id) => match domain.store.client(id).await {
                    Ok(c) => c,
                    Err(e) => return b.failure(&e.to_string()),
                },
                None => None,
            };
            match client {
                Some(c) if redirect_matches(&c.post_logout_redirect_uris, uri) => Some(uri.clone()),
                _ => {
                    return b.message(
                        StatusCode::BAD_REQUEST,
                        "error_title",
                        "the post_logout_redirect_uri is not registered for this client",
                    );
                }
            }
        }
    };
    // Without a hint that names this browser's session, ask first: a logout link alone must
    // not sign anyone out (it could come from anywhere).
    let hinted = matches!((&current, &hint_parent), (Some(c), Some(p)) if &c.session.id == p);
    let confirmed = params.get("confirm").map(String::as_str) == Some("yes");
    if current.is_some() && !hinted && !confirmed {
        return confirm_page(&b, current.as_ref(), &params, back.as_deref());
    }
    if let Some(s) = &current
        && let Err(e) = domain.end_browser_session(&s.session, "logout", &b.meta).await
    {
        return b.failure(&e.to_string());
    }
    let clear = [cookie(SESSION_COOKIE, "", "Lax", Some(0))];
    match back {
        Some(uri) => {
            let url = match params.get("state") {
                Some(state) => append_state(&uri, state),
                None => uri,
            };
            redirect(StatusCode::SEE_OTHER, &url, &clear)
        }
        None => {
            let mut res = b.message(StatusCode::OK, "logout_title", text("logged_out"));
            if let Ok(v) = axum::http::HeaderValue::from_str(&clear[0]) {
                res.headers_mut().append(axum::http::header::SET_COOKIE, v);
            }
            res
        }
    }
}

fn confirm_page(
    b: &Browser,
    current: Option<&BrowserSession>,
    params: &HashMap<String, String>,
    back: Option<&str>,
) -> Response {
    let carried: Vec<(String, String)> = PARAMS
        .iter()
        .filter_map(|k| params.get(*k).map(|v| (k.to_string(), v.clone())))
        .collect();
    let user_label = current.map(|s| s.user.username.clone().unwrap_or_else(|| s.user.email.clone()));
    b.page(
        StatusCode::OK,
        "logout.html",
        context! { params => carried, user_label => user_label },
        &back.map(targets).unwrap_or_default(),
    )
}

fn append_state(uri: &str, state: &str) -> String {
    match url::Url::parse(uri) {
        Ok(mut u) => {
            u.query_pairs_mut().append_pair("state", state);
            u.to_string()
        }
        Err(_) => uri.to_string(),
    }
}
