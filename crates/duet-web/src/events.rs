//! Live updates. One thread looks at the store every 300 ms (its last
//! envelope position and snapshot generation: two indexed reads, no
//! decryption) and tells every `/events` subscriber when either moved,
//! whether a partner's entry arrived or this device wrote.

use std::convert::Infallible;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as AxState;
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;
use tokio::sync::broadcast::error::RecvError;

use crate::state::State;

/// How often the store is looked at.
const POLL: Duration = Duration::from_millis(300);
/// At most this many `/events` streams at once (a person has a tab or
/// two; the bound keeps a runaway page from holding every thread).
const MAX_SUBSCRIBERS: usize = 32;

/// Starts the watcher thread; it ends when the server stops.
pub fn watch(state: &Arc<State>) {
    let store_path = state.home().store_path();
    let changes = state.changes.clone();
    let watching = state.watching.clone();
    // The first look is taken here, before the server answers anyone: a
    // change right after `duet ui` starts is a change.
    let look = |store: &duet_core::store::Store| {
        store
            .last_position()
            .and_then(|p| Ok((p, store.snapshot_generation()?)))
            .ok()
    };
    let mut store = store_path
        .exists()
        .then(|| duet_core::store::Store::open(&store_path).ok())
        .flatten();
    let mut last = store.as_ref().and_then(look);
    let spawned = std::thread::Builder::new()
        .name("duet-ui-watch".into())
        .spawn(move || {
            while watching.load(Ordering::Relaxed) {
                std::thread::sleep(POLL);
                if store.is_none() && store_path.exists() {
                    store = duet_core::store::Store::open(&store_path).ok();
                }
                let Some(s) = &store else { continue };
                let now = look(s);
                if now.is_some() && now != last {
                    if last.is_some() {
                        let _ = changes.send(());
                    }
                    last = now;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::warn!("live updates are off: cannot start the watcher thread ({e})");
    }
}

/// `GET /events`: `event: journal` on every change.
pub async fn get(AxState(state): AxState<Arc<State>>) -> Response {
    if state.changes.receiver_count() >= MAX_SUBSCRIBERS {
        return (StatusCode::SERVICE_UNAVAILABLE, "too many open pages\n").into_response();
    }
    let receiver = state.changes.subscribe();
    let stopping = state.stopping.subscribe();
    Sse::new(stream(receiver, stopping))
        .keep_alive(KeepAlive::default())
        .into_response()
}

/// The events of one subscriber, until the server stops (a stream left
/// open would hold the graceful shutdown forever).
fn stream(
    receiver: tokio::sync::broadcast::Receiver<()>,
    stopping: tokio::sync::watch::Receiver<bool>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    futures::stream::unfold(
        (receiver, stopping),
        |(mut receiver, mut stopping)| async move {
            let got = tokio::select! {
                got = receiver.recv() => got,
                _ = stopping.wait_for(|s| *s) => return None,
            };
            match got {
                // Missed messages are still a change: one event covers them.
                Ok(()) | Err(RecvError::Lagged(_)) => {
                    let event = Event::default().event("journal").data("changed");
                    Some((Ok(event), (receiver, stopping)))
                }
                Err(RecvError::Closed) => None,
            }
        },
    )
}
