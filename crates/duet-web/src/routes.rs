//! Which handler answers which request, behind the guard.

use std::sync::Arc;

use axum::extract::{Request, State as AxState};
use axum::http::{header, Method};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;

use crate::html::see_other;
use crate::state::State;
use crate::{events, guard, invite, join, pages, timeline, write};

pub fn router(state: Arc<State>) -> Router {
    Router::new()
        .route("/timeline", get(timeline::get))
        .route("/entries", post(write::add))
        .route("/entry/{id}/reply", post(write::reply))
        .route("/entry/{id}/react", post(write::react))
        .route("/entry/{id}/heard", post(write::heard))
        .route("/events", get(events::get))
        .route("/devices", get(pages::devices))
        .route("/devices/{id}/remove", post(write::remove_device))
        .route("/status", get(pages::status))
        .route("/export", get(pages::export))
        .route("/welcome", get(pages::welcome).post(pages::init))
        .route("/invite", get(invite::get).post(invite::start))
        .route("/invite/state", get(invite::progress))
        .route("/invite/answer", post(invite::answer))
        .route("/join", get(join::get).post(join::start))
        .route("/join/state", get(join::progress))
        .route("/join/scan", post(join::scan))
        .route("/static/app.js", get(app_js))
        .route("/static/app.css", get(app_css))
        .layer(middleware::from_fn_with_state(state.clone(), welcome_first))
        .layer(middleware::from_fn_with_state(state.clone(), guard::check))
        .layer(axum::extract::DefaultBodyLimit::max(guard::MAX_FRAME))
        .with_state(state)
}

/// A home with no journal yet shows the welcome page (start one, or
/// join one) in place of every page that needs a journal.
async fn welcome_first(
    AxState(state): AxState<Arc<State>>,
    request: Request,
    next: Next,
) -> Response {
    let path = request.uri().path();
    let open = path == "/welcome" || path.starts_with("/join") || path.starts_with("/static/");
    if !open && request.method() == Method::GET && !state.home().is_initialised() {
        return see_other("/welcome");
    }
    next.run(request).await
}

async fn app_js() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("../static/app.js"),
    )
        .into_response()
}

async fn app_css() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("../static/app.css"),
    )
        .into_response()
}
