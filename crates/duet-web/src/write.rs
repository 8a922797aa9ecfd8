//! The POSTs that write: an entry (through the daemon's fast path, as
//! `duet add`), a reply, a reaction, a heard mark, a device's removal
//! (through duet-core, as the CLI's commands), and a new journal.
//! Each answers 303 back to the page it came from.

use std::sync::Arc;

use axum::extract::{Extension, Form, Path, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use duet_core::journal::{input, NewEntry};
use duet_core::replica::Replica;
use serde::Deserialize;

use crate::html::{error_page, now_ms, see_other};
use crate::state::{Session, State};

/// What went wrong with a write, as one sentence for the person.
pub struct Refused(pub StatusCode, pub String);

impl Refused {
    pub fn bad(sentence: impl std::fmt::Display) -> Self {
        Self(StatusCode::BAD_REQUEST, sentence.to_string())
    }
}

/// Runs `work` off the async threads and turns its outcome into a 303 to
/// `next`, or a page that says what went wrong.
pub async fn blocking(
    csrf: &str,
    next: Option<&str>,
    work: impl FnOnce() -> Result<(), Refused> + Send + 'static,
) -> Response {
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(())) => see_other(local(next)),
        Ok(Err(Refused(status, sentence))) => error_page(status, csrf, &sentence),
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            csrf,
            "the write stopped unexpectedly; the timeline shows whether it was saved",
        ),
    }
}

/// Where to go after a POST: the `next` field when it is a path of this
/// app (never another site), else the timeline.
fn local(next: Option<&str>) -> &str {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n,
        _ => "/timeline",
    }
}

#[derive(Deserialize)]
pub struct EntryForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    tags: Option<String>,
    #[serde(default)]
    mood: Option<String>,
    #[serde(default)]
    prompt: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /entries`.
pub async fn add(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Form(form): Form<EntryForm>,
) -> Response {
    let home = state.root().to_path_buf();
    let next = form.next.clone();
    blocking(&session.csrf, next.as_deref(), move || {
        let kind = match form.kind.as_deref().map(str::trim) {
            None | Some("") => Default::default(),
            Some(k) => k.parse().map_err(Refused::bad)?,
        };
        // Only today's question may be attached: a form cannot put other
        // words in the partner's mouth as "the question".
        let prompt = form
            .prompt
            .as_deref()
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                duet_core::prompts::PROMPTS
                    .iter()
                    .find(|q| q.text == p)
                    .map(|q| q.text.to_string())
                    .ok_or_else(|| Refused::bad("that is not one of duet's questions"))
            })
            .transpose()?;
        let tags = form
            .tags
            .unwrap_or_default()
            .split([',', ' '])
            .map(str::to_string)
            .collect::<Vec<_>>();
        let new = NewEntry {
            kind,
            tags: input::clean_tags(tags),
            mood: input::clean_mood(form.mood.as_deref()),
            prompt,
            body: form.text.trim_end().to_string(),
        };
        add_entry(&home, &new, now_ms())
    })
    .await
}

/// Through the daemon's fast path; without a daemon, through duet-core.
fn add_entry(home: &std::path::Path, new: &NewEntry, created: i64) -> Result<(), Refused> {
    use duet_daemon::client::{Client, ControlError};
    match Client::connect(home) {
        Ok(mut client) => match client.add(new, created) {
            Ok(_) => Ok(()),
            Err(ControlError::Daemon { message }) => Err(Refused::bad(message)),
            Err(_) => Err(Refused(
                StatusCode::INTERNAL_SERVER_ERROR,
                "the daemon did not confirm the entry; the timeline shows whether it was saved"
                    .into(),
            )),
        },
        Err(_) => with_replica(home, |replica| {
            let new = new.clone();
            replica
                .commit(|journal, author| journal.add_entry(author, new, created))
                .map(drop)
                .map_err(Refused::bad)
        }),
    }
}

/// Opens the replica, runs `work`, and tells the daemon to push.
fn with_replica(
    home: &std::path::Path,
    work: impl FnOnce(&mut Replica) -> Result<(), Refused>,
) -> Result<(), Refused> {
    let mut replica = duet_core::home::Home::new(home)
        .open()
        .map_err(|e| Refused(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    work(&mut replica)?;
    duet_daemon::client::poke(home);
    Ok(())
}

#[derive(Deserialize)]
pub struct TextForm {
    #[serde(default)]
    text: String,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /entry/ID/reply`.
pub async fn reply(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<TextForm>,
) -> Response {
    let home = state.root().to_path_buf();
    blocking(&session.csrf, form.next.as_deref(), move || {
        with_replica(&home, |replica| {
            let entry = replica.journal().resolve(&id).map_err(Refused::bad)?.entry;
            let body = form.text.trim_end().to_string();
            replica
                .commit(|j, a| j.reply(a, &entry, &body, now_ms()))
                .map(drop)
                .map_err(Refused::bad)
        })
    })
    .await
}

#[derive(Deserialize)]
pub struct ReactForm {
    #[serde(default)]
    emoji: Option<String>,
    #[serde(default, rename = "emoji-custom")]
    custom: Option<String>,
    #[serde(default)]
    next: Option<String>,
}

/// `POST /entry/ID/react` (an entry's or a reply's id).
pub async fn react(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<ReactForm>,
) -> Response {
    let home = state.root().to_path_buf();
    blocking(&session.csrf, form.next.as_deref(), move || {
        let chosen = form
            .custom
            .filter(|c| !c.trim().is_empty())
            .or(form.emoji)
            .unwrap_or_default();
        let emoji = input::reaction(&chosen).map_err(Refused::bad)?.to_string();
        with_replica(&home, |replica| {
            let target = replica.journal().resolve(&id).map_err(Refused::bad)?;
            let now = now_ms();
            let done = match &target.reply {
                Some(reply) => replica.commit(|j, a| {
                    Ok(((), j.react_to_reply(a, &target.entry, reply, &emoji, now)?))
                }),
                None => replica.commit(|j, a| Ok(((), j.react(a, &target.entry, &emoji, now)?))),
            };
            done.map_err(Refused::bad)
        })
    })
    .await
}

#[derive(Deserialize)]
pub struct NextForm {
    #[serde(default)]
    next: Option<String>,
}

/// `POST /entry/ID/heard`.
pub async fn heard(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
    Form(form): Form<NextForm>,
) -> Response {
    let home = state.root().to_path_buf();
    blocking(&session.csrf, form.next.as_deref(), move || {
        with_replica(&home, |replica| {
            let entry = replica.journal().resolve(&id).map_err(Refused::bad)?.entry;
            replica
                .commit(|j, a| Ok(((), j.heard(a, &entry, now_ms())?)))
                .map_err(Refused::bad)
        })
    })
    .await
}

/// `POST /devices/ID/remove`: the full id, from the devices page.
pub async fn remove_device(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Path(id): Path<String>,
) -> Response {
    let home = state.root().to_path_buf();
    blocking(&session.csrf, Some("/devices"), move || {
        with_replica(&home, |replica| {
            let device = duet_core::DeviceId::from_text(&id)
                .ok_or_else(|| Refused::bad("no device of this journal has that id"))?;
            if device == replica.device_id() {
                return Err(Refused::bad(
                    "this is the device you are on; `duet leave` takes all of your devices out",
                ));
            }
            if !replica.devices().iter().any(|d| d.id == id) {
                return Err(Refused::bad("no device of this journal has that id"));
            }
            replica
                .remove_device(&device, now_ms())
                .map(drop)
                .map_err(Refused::bad)
        })
    })
    .await
}
