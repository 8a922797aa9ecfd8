//! Every request passes here first. The app is reachable only from this
//! machine (it listens on 127.0.0.1), and even there only from the
//! browser that opened the secret URL: a page of another site, another
//! user of the machine, or a DNS name rebound to 127.0.0.1 is refused.
//!
//! - `Host` must name 127.0.0.1 or localhost at this port (DNS rebinding).
//! - `Origin`, when sent, must be this app's (cross-site requests).
//! - `GET /?t=SECRET` opens a session (an HttpOnly, SameSite=Strict
//!   cookie); every other request needs that cookie.
//! - Every POST carries the session's CSRF token.
//! - Bodies are bounded; every response carries a strict CSP.

use std::sync::Arc;

use axum::body::{to_bytes, Body};
use axum::extract::{Request, State as AxState};
use axum::http::header::{self, HeaderMap, HeaderName, HeaderValue};
use axum::http::{Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::state::{same, Session, State};

/// The name of the session cookie.
pub const COOKIE: &str = "duet_session";
/// The header a script sends the CSRF token in.
pub const CSRF_HEADER: &str = "x-duet-csrf";
/// Largest form body: an entry is at most 256 KiB, which URL encoding
/// can triple.
const MAX_FORM: usize = 1024 * 1024;
/// Largest camera frame `/join/scan` takes.
pub const MAX_FRAME: usize = 4 * 1024 * 1024;

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; media-src 'self' blob: mediastream:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// The refusal every failed check gets: the same for each, so that a
/// prober learns nothing about which check it failed.
pub fn refuse() -> Response {
    (StatusCode::FORBIDDEN, "open duet ui again\n").into_response()
}

pub async fn check(AxState(state): AxState<Arc<State>>, request: Request, next: Next) -> Response {
    let mut response = match admit(&state, request).await {
        Ok(request) => next.run(request).await,
        Err(refusal) => refusal,
    };
    secure_headers(response.headers_mut());
    response
}

async fn admit(state: &State, request: Request) -> Result<Request, Response> {
    let headers = request.headers();
    let port = state.port;
    let host_ok = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .is_some_and(|h| h == format!("127.0.0.1:{port}") || h == format!("localhost:{port}"));
    if !host_ok {
        return Err(refuse());
    }
    if let Some(origin) = headers.get(header::ORIGIN) {
        let ok = origin.to_str().is_ok_and(|o| {
            o == format!("http://127.0.0.1:{port}") || o == format!("http://localhost:{port}")
        });
        if !ok {
            return Err(refuse());
        }
    }
    if request.uri().path() == "/" {
        return Err(open_session(state, &request));
    }
    let session = cookie(headers, COOKIE)
        .and_then(|id| state.session(id))
        .ok_or_else(refuse)?;
    let request = if request.method() == Method::POST {
        check_csrf(request, &session).await?
    } else {
        request
    };
    let mut request = request;
    request.extensions_mut().insert(session);
    Ok(request)
}

/// `GET /?t=SECRET`: the right secret opens a session and goes to the
/// timeline; anything else is refused.
fn open_session(state: &State, request: &Request) -> Response {
    let given = request.uri().query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "t")
            .map(|(_, v)| v)
    });
    if request.method() != Method::GET || !given.is_some_and(|t| state.is_secret(&t)) {
        return refuse();
    }
    let id = state.open_session();
    let cookie = format!("{COOKIE}={id}; HttpOnly; SameSite=Strict; Path=/");
    let mut response = (StatusCode::SEE_OTHER, [(header::LOCATION, "/timeline")]).into_response();
    if let Ok(value) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, value);
    }
    response
}

/// A POST's CSRF token, from the header or the form body; the body is
/// read (bounded) and put back for the handler.
async fn check_csrf(request: Request, session: &Session) -> Result<Request, Response> {
    let token_ok = |t: &str| same(t.as_bytes(), session.csrf.as_bytes());
    let in_header = request
        .headers()
        .get(CSRF_HEADER)
        .and_then(|v| v.to_str().ok())
        .is_some_and(token_ok);
    let limit = if request.uri().path() == "/join/scan" {
        MAX_FRAME
    } else {
        MAX_FORM
    };
    let (parts, body) = request.into_parts();
    let bytes = to_bytes(body, limit)
        .await
        .map_err(|_| (StatusCode::PAYLOAD_TOO_LARGE, "too large\n").into_response())?;
    if !in_header {
        let is_form = parts
            .headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
        let in_form = is_form
            && serde_urlencoded::from_bytes::<Vec<(String, String)>>(&bytes)
                .ok()
                .and_then(|fields| fields.into_iter().find(|(k, _)| k == "csrf"))
                .is_some_and(|(_, v)| token_ok(&v));
        if !in_form {
            return Err(refuse());
        }
    }
    Ok(Request::from_parts(parts, Body::from(bytes)))
}

/// The value of cookie `name` in the request's `Cookie` headers.
fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

fn secure_headers(headers: &mut HeaderMap) {
    let set = |headers: &mut HeaderMap, name: HeaderName, value: &'static str| {
        headers.insert(name, HeaderValue::from_static(value));
    };
    set(headers, header::CONTENT_SECURITY_POLICY, CSP);
    set(headers, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set(headers, header::REFERRER_POLICY, "same-origin");
    set(headers, header::CACHE_CONTROL, "no-store");
    set(headers, header::X_FRAME_OPTIONS, "DENY");
}
