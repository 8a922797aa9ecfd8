//! Inviting a device from the browser: the daemon opens the invitation
//! (as `duet invite` asks it to), the page shows the code, the QR code of
//! the same `duet:` URI and, when a device connects, the words to compare
//! with buttons to confirm or reject. A thread follows the invitation's
//! events, which are blocking reads on the control socket.

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Extension, Form, State as AxState};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use duet_daemon::client::{Client, ControlError};
use duet_daemon::control::InviteEvent;
use serde::{Deserialize, Serialize};

use crate::html::{csrf_field, error_page, esc, page, see_other};
use crate::state::{lock, Session, State};

/// How long an invitation from the browser stays open.
const OPEN_FOR: Duration = Duration::from_secs(5 * 60);

/// What the page polls: `GET /invite/state`.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Progress {
    /// "none", "waiting", "confirm", "done" or "failed".
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub words: Option<String>,
    /// Who asks to join, while the person decides.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
}

/// The invitation in progress, if any.
#[derive(Default)]
pub struct Slot {
    pub progress: Progress,
    pub code: Option<String>,
    pub uri: Option<String>,
    /// Carries the person's answer to the invitation's thread.
    answer: Option<mpsc::SyncSender<bool>>,
}

impl Slot {
    fn open(&self) -> bool {
        matches!(self.progress.state, "waiting" | "confirm")
    }
}

/// `GET /invite`.
pub async fn get(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
) -> Response {
    let slot = lock(&state.invite);
    let csrf = csrf_field(&session.csrf);
    let mut body = String::from("<h1>Invite a device</h1>");
    match (&slot.code, &slot.uri) {
        (Some(code), Some(uri))
            if slot.open() || slot.progress.state == "done" || slot.progress.state == "failed" =>
        {
            body.push_str(&format!(
                "<section id=\"invitation\"><p>On the other device, open duet and choose “join”, then scan this code with its camera, or type the code phrase.</p>\
<p>Code: <strong id=\"code\">{}</strong></p><p><img id=\"qr\" alt=\"QR code of the invitation\" src=\"{}\"></p>\
<p class=\"hint\">It holds this link, nothing a browser opens: <code id=\"invite-uri\">{}</code></p></section>",
                esc(code),
                qr_data_uri(uri),
                esc(uri)
            ));
        }
        _ => {}
    }
    body.push_str(&format!(
        "<section id=\"confirm-box\" hidden><p><span id=\"joining\"></span> wants to join. It should show these words:</p>\
<p id=\"words\" class=\"words\"></p>\
<form id=\"answer-form\" method=\"post\" action=\"/invite/answer\">{csrf}\
<button id=\"confirm\" type=\"submit\" name=\"accept\" value=\"yes\">They match: let it join</button>\
<button id=\"reject\" type=\"submit\" name=\"accept\" value=\"no\">They do not match</button></form></section>\
<p id=\"outcome\">{}</p>",
        esc(slot.progress.outcome.as_deref().unwrap_or(""))
    ));
    if !slot.open() {
        body.push_str(&format!(
            "<form id=\"invite-form\" method=\"post\" action=\"/invite\">{csrf}\
<button id=\"invite-start\" type=\"submit\">Invite a device</button>\
<span class=\"hint\"> The invitation stays open for 5 minutes.</span></form>"
        ));
    }
    drop(slot);
    page("Invite a device", &session.csrf, &body)
}

/// The QR code of `uri` as an SVG `data:` URI.
fn qr_data_uri(uri: &str) -> String {
    match qrcode::QrCode::new(uri.as_bytes()) {
        Ok(code) => {
            let svg = code
                .render::<qrcode::render::svg::Color>()
                .min_dimensions(256, 256)
                .quiet_zone(true)
                .build();
            format!(
                "data:image/svg+xml;base64,{}",
                data_encoding::BASE64.encode(svg.as_bytes())
            )
        }
        Err(_) => String::new(),
    }
}

/// `GET /invite/state`.
pub async fn progress(AxState(state): AxState<Arc<State>>) -> Json<Progress> {
    let slot = lock(&state.invite);
    let mut progress = slot.progress.clone();
    if progress.state.is_empty() {
        progress.state = "none";
    }
    Json(progress)
}

/// `POST /invite`: opens an invitation through the daemon and waits until
/// it has its code.
pub async fn start(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
) -> Response {
    {
        let slot = lock(&state.invite);
        if slot.open() {
            return see_other("/invite");
        }
    }
    let (opened_tx, opened_rx) = mpsc::sync_channel::<Result<(), String>>(1);
    let (answer_tx, answer_rx) = mpsc::sync_channel::<bool>(1);
    {
        let mut slot = lock(&state.invite);
        *slot = Slot {
            progress: Progress {
                state: "waiting",
                ..Progress::default()
            },
            code: None,
            uri: None,
            answer: Some(answer_tx),
        };
    }
    let thread_state = state.clone();
    let spawned = std::thread::Builder::new()
        .name("duet-ui-invite".into())
        .spawn(move || follow(&thread_state, opened_tx, answer_rx));
    if spawned.is_err() {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            "cannot start the invitation",
        );
    }
    let opened =
        tokio::task::spawn_blocking(move || opened_rx.recv_timeout(Duration::from_secs(30))).await;
    match opened {
        Ok(Ok(Ok(()))) => see_other("/invite"),
        Ok(Ok(Err(reason))) => error_page(StatusCode::SERVICE_UNAVAILABLE, &session.csrf, &reason),
        _ => error_page(
            StatusCode::SERVICE_UNAVAILABLE,
            &session.csrf,
            "the daemon did not open the invitation",
        ),
    }
}

/// Follows one invitation to its end, keeping the slot up to date.
fn follow(
    state: &State,
    opened: mpsc::SyncSender<Result<(), String>>,
    answers: mpsc::Receiver<bool>,
) {
    let set = |progress: Progress| {
        let mut slot = lock(&state.invite);
        slot.progress = progress;
    };
    let fail = |reason: String| {
        set(Progress {
            state: "failed",
            outcome: Some(reason),
            ..Progress::default()
        });
    };
    let client = match Client::connect(state.root()) {
        Ok(c) => c,
        Err(ControlError::NotRunning) => {
            let reason = "sync is not running for this device, so it cannot invite".to_string();
            let _ = opened.try_send(Err(reason.clone()));
            return fail(reason);
        }
        Err(e) => {
            let _ = opened.try_send(Err(e.to_string()));
            return fail(e.to_string());
        }
    };
    let mut invitation = match client.invite(OPEN_FOR, &[]) {
        Ok(i) => i,
        Err(e) => {
            let _ = opened.try_send(Err(e.to_string()));
            return fail(e.to_string());
        }
    };
    loop {
        let event = match invitation.next_event() {
            Ok(event) => event,
            Err(e) => {
                let _ = opened.try_send(Err(e.to_string()));
                return fail(format!("the invitation ended: {e}"));
            }
        };
        match event {
            InviteEvent::Opened { code, uri, .. } => {
                {
                    let mut slot = lock(&state.invite);
                    slot.code = Some(code);
                    slot.uri = Some(uri);
                }
                let _ = opened.try_send(Ok(()));
            }
            InviteEvent::Joining {
                person,
                device,
                words,
                mirror,
                ..
            } => {
                let who = if mirror {
                    format!("A mirror “{device}” (it gets no key)")
                } else {
                    format!("{person}'s device “{device}”")
                };
                set(Progress {
                    state: "confirm",
                    words: Some(words),
                    device: Some(who),
                    outcome: None,
                });
                // The daemon holds the question for as long as pairing
                // allows; no answer in that time is a no.
                let accept = answers
                    .recv_timeout(duet_daemon::behaviour::PAIR_TIMEOUT)
                    .unwrap_or(false);
                if invitation.answer(accept).is_err() {
                    return fail("the daemon closed the invitation".to_string());
                }
                if !accept {
                    set(Progress {
                        state: "waiting",
                        ..Progress::default()
                    });
                }
            }
            InviteEvent::Joined {
                person,
                device,
                words,
                mirror,
                ..
            } => {
                let outcome = if mirror {
                    format!("The mirror “{device}” joined. It holds no key.")
                } else {
                    format!("{person}'s {device} joined.")
                };
                return set(Progress {
                    state: "done",
                    words: Some(words),
                    device: None,
                    outcome: Some(outcome),
                });
            }
            InviteEvent::Failed { reason } => {
                let _ = opened.try_send(Err(reason.clone()));
                return fail(reason);
            }
        }
    }
}

#[derive(Deserialize)]
pub struct AnswerForm {
    #[serde(default)]
    accept: String,
}

/// `POST /invite/answer` (`accept` = yes or no).
pub async fn answer(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Form(form): Form<AnswerForm>,
) -> Response {
    let accept = match form.accept.as_str() {
        "yes" => true,
        "no" => false,
        _ => return error_page(StatusCode::BAD_REQUEST, &session.csrf, "answer yes or no"),
    };
    let slot = lock(&state.invite);
    if slot.progress.state != "confirm" {
        return (StatusCode::CONFLICT, "no device is waiting for an answer\n").into_response();
    }
    if let Some(tx) = &slot.answer {
        let _ = tx.try_send(accept);
    }
    drop(slot);
    see_other("/invite")
}
