//! The pages around the timeline: devices, status, export, and the
//! welcome page of a home that has no journal yet.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Extension, Form, Query, State as AxState};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use duet_core::journal::{input, DeviceRecord};
use duet_daemon::client::Client;
use serde::Deserialize;

use crate::html::{csrf_field, error_page, esc, now_ms, page, see_other, timestamp, when};
use crate::state::{Session, State};

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// "Alex's laptop" for a device id, as far as the list knows it.
fn name_of(devices: &[DeviceRecord], id: &str) -> String {
    match devices.iter().find(|d| d.id == id) {
        Some(d) => format!("{}'s {}", d.person, d.name),
        None => format!("device {}", short(id)),
    }
}

/// `GET /devices`.
pub async fn devices(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
) -> Response {
    let home = state.home();
    let csrf = csrf_field(&session.csrf);
    let read = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let mut replica = home.open().map_err(|e| e.to_string())?;
        let new = replica.take_new_devices().unwrap_or_default();
        let me = replica.device_id().to_text();
        let all = replica.devices().to_vec();
        let removals = replica.journal().removals();
        Ok(devices_html(&all, &new, &removals, &me, &csrf))
    })
    .await;
    match read {
        Ok(Ok(body)) => page("Devices", &session.csrf, &body),
        Ok(Err(e)) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &session.csrf, &e),
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            "reading the devices stopped unexpectedly",
        ),
    }
}

fn devices_html(
    all: &[DeviceRecord],
    new: &[DeviceRecord],
    removals: &[duet_core::journal::Removal],
    me: &str,
    csrf: &str,
) -> String {
    let mut out = String::from("<h1>Devices</h1>");
    for d in new {
        let by = d
            .added_by
            .as_deref()
            .map(|b| format!(", added by {}", name_of(all, b)))
            .unwrap_or_default();
        let _ = write!(
            out,
            "<p class=\"notice\">{}'s device “{}” ({}) joined the journal{}, {}. It can read every entry.</p>",
            esc(&d.person),
            esc(&d.name),
            esc(&short(&d.id)),
            esc(&by),
            esc(&when(d.added_at))
        );
    }
    out.push_str("<p>Every device listed here can read and write this journal.</p>\
<table id=\"devices\"><thead><tr><th>Person</th><th>Device</th><th>Added</th><th></th></tr></thead><tbody>");
    for d in all {
        let removal = removals.iter().find(|r| r.device == d.id);
        let added = match &d.added_by {
            None => "started the journal".to_string(),
            Some(by) => format!("added by {}", name_of(all, by)),
        };
        let note = if d.id == me {
            "this device".to_string()
        } else if let Some(r) = removal {
            format!("removed by {}, {}", name_of(all, &r.by), when(r.at))
        } else if d.is_mirror() {
            "a mirror: stores it sealed, reads nothing".to_string()
        } else {
            String::new()
        };
        let action = if d.id != me && removal.is_none() {
            format!(
                "<form class=\"remove\" method=\"post\" action=\"/devices/{}/remove\">{csrf}\
<button type=\"submit\">Remove</button></form>",
                esc(&d.id)
            )
        } else {
            String::new()
        };
        let _ = write!(
            out,
            "<tr class=\"device{}\" data-id=\"{}\"><td class=\"person\">{}</td><td class=\"name\">{} <small>{}</small></td>\
<td class=\"added\">{}, {}</td><td class=\"note\">{}{action}</td></tr>",
            if d.id == me { " this" } else { "" },
            esc(&d.id),
            esc(&d.person),
            esc(&d.name),
            esc(&short(&d.id)),
            esc(&added),
            esc(&when(d.added_at)),
            esc(&note)
        );
    }
    out.push_str("</tbody></table><p class=\"hint\">Removing a device (a lost laptop) gives the journal a new key: it reads nothing written from then on.</p>");
    out
}

/// `GET /status`.
pub async fn status(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
) -> Response {
    let root = state.root().to_path_buf();
    let report =
        tokio::task::spawn_blocking(move || Client::connect(&root).and_then(|mut c| c.status()))
            .await;
    let mut out = String::from("<h1>Status</h1><section id=\"status\">");
    match report {
        Ok(Ok(report)) => {
            out.push_str("<p class=\"daemon\">Sync is running.</p>");
            if report.peers.is_empty() {
                out.push_str("<p>No other devices yet; <a href=\"/invite\">invite one</a>.</p>");
            }
            out.push_str("<table><tbody>");
            for p in &report.peers {
                let how = match (p.connected, p.via.as_deref()) {
                    (true, Some("relayed")) => "connected, relayed",
                    (true, Some("direct")) => "connected, direct",
                    (true, _) => "connected",
                    (false, _) => "not connected",
                };
                let last = p.last_sync.map_or("never synced".to_string(), |t| {
                    format!("last sync {}", when(t))
                });
                let _ = write!(
                    out,
                    "<tr class=\"peer\" data-id=\"{}\"><td>{}'s {}</td><td class=\"connection\">{how}</td>\
<td class=\"last-sync\">{}</td><td>{} waiting to go</td></tr>",
                    esc(&p.device_id),
                    esc(&p.person),
                    esc(&p.name),
                    esc(&last),
                    esc(&p.to_go.sentence())
                );
            }
            out.push_str("</tbody></table>");
        }
        _ => out.push_str("<p class=\"daemon\">Sync is not running for this device.</p>"),
    }
    out.push_str(
        "</section><p><a id=\"export-json\" href=\"/export?format=json\">Export as JSON</a> · \
<a id=\"export-md\" href=\"/export?format=md\">Export as Markdown</a></p>",
    );
    page("Status", &session.csrf, &out)
}

#[derive(Deserialize)]
pub struct ExportQuery {
    format: Option<String>,
}

/// `GET /export?format=json|md`: the same file `duet export` writes.
pub async fn export(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Query(query): Query<ExportQuery>,
) -> Response {
    let markdown = match query.format.as_deref() {
        Some("md") => true,
        Some("json") | None => false,
        Some(_) => {
            return error_page(
                StatusCode::BAD_REQUEST,
                &session.csrf,
                "export as json or md",
            )
        }
    };
    let home = state.home();
    let made = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let (entries, devices) = crate::read::everything(&home).map_err(|e| e.to_string())?;
        if markdown {
            Ok(duet_core::export::markdown(&entries, timestamp))
        } else {
            duet_core::export::json(&entries, &devices, now_ms()).map_err(|e| e.to_string())
        }
    })
    .await;
    let (kind, file) = if markdown {
        (
            "text/markdown; charset=utf-8",
            "attachment; filename=\"duet-journal.md\"",
        )
    } else {
        (
            "application/json",
            "attachment; filename=\"duet-journal.json\"",
        )
    };
    match made {
        Ok(Ok(text)) => (
            [
                (header::CONTENT_TYPE, kind),
                (header::CONTENT_DISPOSITION, file),
            ],
            text,
        )
            .into_response(),
        Ok(Err(e)) => error_page(StatusCode::INTERNAL_SERVER_ERROR, &session.csrf, &e),
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            "the export stopped unexpectedly",
        ),
    }
}

/// `GET /welcome`: start a journal, or join one.
pub async fn welcome(Extension(session): Extension<Session>) -> Response {
    let body = format!(
        "<h1>Welcome to duet</h1><p>A private journal for the two of you, kept on your own devices.</p>\
<form id=\"init-form\" method=\"post\" action=\"/welcome\">{}\
<label>Your name <input name=\"person\" required></label>\
<label>This device's name <input name=\"device\" placeholder=\"laptop\"></label>\
<button type=\"submit\">Start a new journal</button></form>\
<p>Or, if your partner already keeps one: <a id=\"join-link\" href=\"/join\">join their journal</a>.</p>",
        csrf_field(&session.csrf)
    );
    page("Welcome", &session.csrf, &body)
}

#[derive(Deserialize)]
pub struct InitForm {
    #[serde(default)]
    person: String,
    #[serde(default)]
    device: String,
}

/// `POST /welcome`: a new journal, as `duet init`; then the daemon starts.
pub async fn init(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Form(form): Form<InitForm>,
) -> Response {
    let home = state.home();
    let made = tokio::task::spawn_blocking(move || -> Result<(), String> {
        let person = input::person_name(&form.person).map_err(|e| e.to_string())?;
        let device = Some(form.device.trim().to_string())
            .filter(|d| !d.is_empty())
            .unwrap_or_else(host_name);
        home.init(&person, &device, now_ms())
            .map(drop)
            .map_err(|e| e.to_string())
    })
    .await;
    match made {
        Ok(Ok(())) => match crate::engine::start_if_needed(&state).await {
            Ok(()) => see_other("/timeline"),
            Err(e) => error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &format!("the journal was started, but sync did not start: {e}"),
            ),
        },
        Ok(Err(e)) => error_page(StatusCode::BAD_REQUEST, &session.csrf, &e),
        Err(_) => error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            "starting the journal stopped unexpectedly",
        ),
    }
}

/// This machine's name, the default name of its device.
pub fn host_name() -> String {
    std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "this device".to_string())
}
