//! `GET /timeline`: the writing form, today's prompt, search, and a page
//! of entries with their replies, reactions and heard marks.

use std::fmt::Write as _;
use std::sync::Arc;

use axum::extract::{Extension, Query as AxQuery, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use chrono::Datelike;
use duet_core::journal::{Entry, EntryKind, Origin};

use crate::html::{csrf_field, error_page, esc, html, now_ms, page, when};
use crate::read::{self, Query, Timeline};
use crate::state::{lock, Session, State};

/// The reactions offered as buttons.
pub const REACTIONS: [&str; 4] = ["❤️", "😂", "🙏", "🤗"];

pub async fn get(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    AxQuery(query): AxQuery<Query>,
) -> Response {
    let home = state.home();
    let asked = query.clone();
    let read = tokio::task::spawn_blocking(move || read::timeline_page(&home, &asked)).await;
    let timeline = match read {
        Ok(Ok(t)) => t,
        Ok(Err(e)) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                &format!("cannot read the journal: {e}"),
            )
        }
        Err(_) => {
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                &session.csrf,
                "reading the journal stopped unexpectedly",
            )
        }
    };
    let fragment = query.fragment.as_deref() == Some("1");
    // "New" is since the person last looked at the whole page; the live
    // refresh keeps the same mark, and a fresh page moves it.
    let since = {
        let mut last = lock(&state.last_look);
        let since = *last;
        if !fragment {
            let now = now_ms();
            *last = Some(now);
            let home = state.home();
            tokio::task::spawn_blocking(move || crate::state::keep_last_look(&home, now));
        }
        since
    };
    let entries = entries_html(&timeline, &session.csrf, since, &query);
    if fragment {
        return html(entries);
    }
    page(
        "Timeline",
        &session.csrf,
        &format!(
            "{}{}<section id=\"timeline\">{entries}</section>",
            write_form(&session.csrf),
            search_form(&query)
        ),
    )
}

fn write_form(csrf: &str) -> String {
    let prompt =
        duet_core::prompts::for_date_ce(chrono::Local::now().date_naive().num_days_from_ce());
    let mut kinds = String::new();
    for k in EntryKind::ALL {
        let _ = write!(kinds, "<option value=\"{k}\">{k}</option>");
    }
    format!(
        "<section id=\"prompt\"><p class=\"prompt-text\">{text}</p>\
<button type=\"button\" id=\"use-prompt\" data-prompt=\"{text}\" data-kind=\"{kind}\">Answer this</button></section>\
<form id=\"write\" method=\"post\" action=\"/entries\">{csrf}\
<input type=\"hidden\" name=\"prompt\" value=\"\">\
<p class=\"answering\" hidden></p>\
<textarea name=\"text\" rows=\"5\" required placeholder=\"Write to your partner…\"></textarea>\
<div class=\"row\"><label>Kind <select name=\"kind\">{kinds}</select></label>\
<label>Tags <input name=\"tags\" placeholder=\"home, trip\"></label>\
<label>Mood <input name=\"mood\" placeholder=\"calm\"></label>\
<button type=\"submit\">Save</button></div></form>",
        text = esc(prompt.text),
        kind = esc(prompt.kind),
        csrf = csrf_field(csrf),
    )
}

fn search_form(query: &Query) -> String {
    let chosen = query.kind();
    let mut kinds = String::from("<option value=\"\">any kind</option>");
    for k in EntryKind::ALL {
        let selected = if chosen == Some(k) { " selected" } else { "" };
        let _ = write!(kinds, "<option value=\"{k}\"{selected}>{k}</option>");
    }
    format!(
        "<form id=\"search\" method=\"get\" action=\"/timeline\">\
<input name=\"search\" type=\"search\" placeholder=\"Search\" value=\"{}\">\
<select name=\"kind\">{kinds}</select><button type=\"submit\">Search</button></form>",
        esc(query.search.as_deref().unwrap_or(""))
    )
}

/// The inside of `#timeline`.
fn entries_html(t: &Timeline, csrf: &str, since: Option<i64>, query: &Query) -> String {
    let mut out = String::new();
    if t.entries.is_empty() {
        out.push_str(if t.empty {
            "<p class=\"empty\">The journal is empty. Write the first entry above.</p>"
        } else {
            "<p class=\"empty\">No entries match.</p>"
        });
    }
    for e in &t.entries {
        let new = since.is_some_and(|s| e.listed_at() > s) && e.person != t.me;
        entry(&mut out, e, t, csrf, new);
    }
    if let Some(next) = &t.next {
        let more = serde_urlencoded::to_string([
            ("search", query.search.as_deref().unwrap_or("")),
            ("kind", query.kind.as_deref().unwrap_or("")),
            ("tag", query.tag.as_deref().unwrap_or("")),
            ("by", query.by.as_deref().unwrap_or("")),
            ("before", next.as_str()),
        ])
        .unwrap_or_default();
        let _ = write!(
            out,
            "<p><a id=\"more\" href=\"/timeline?{}\">Older entries</a></p>",
            esc(&more)
        );
    }
    out
}

/// Who wrote something: "Jo (imported by Sam)" for imported words.
fn author(person: &str, first: Option<&Origin>) -> String {
    match first {
        Some(o) => format!("{} (imported by {person})", o.person),
        None => person.to_string(),
    }
}

fn device_name(t: &Timeline, id: &str) -> String {
    match t.devices.iter().find(|d| d.id == id) {
        Some(d) => format!("{}'s {}", d.person, d.name),
        None => format!("device {}", id.chars().take(8).collect::<String>()),
    }
}

fn entry(out: &mut String, e: &Entry, t: &Timeline, csrf: &str, new: bool) {
    let id = esc(&e.id);
    let _ = write!(
        out,
        "<article class=\"entry{}\" data-id=\"{id}\"><header>\
<span class=\"person\">{}</span> · <span class=\"kind\">{}</span> · <time class=\"when\">{}</time>",
        if new { " new" } else { "" },
        esc(&author(
            &e.person,
            e.imported.as_ref().and_then(|i| i.author.as_ref())
        )),
        e.kind,
        esc(&when(e.listed_at())),
    );
    let tags: Vec<String> = e.tags.iter().map(|t| format!("#{}", esc(t))).collect();
    let _ = write!(out, " <span class=\"tags\">{}</span>", tags.join(" "));
    let mood = e.mood.as_deref().map(|m| format!("mood: {}", esc(m)));
    let _ = write!(
        out,
        " <span class=\"mood\">{}</span>",
        mood.unwrap_or_default()
    );
    if let Some(edited) = e.edited {
        let on = e
            .edited_by
            .as_deref()
            .map(|d| format!(" on {}", esc(&device_name(t, d))))
            .unwrap_or_default();
        let _ = write!(
            out,
            " <span class=\"edited\">(edited {}{on})</span>",
            esc(&when(edited))
        );
    }
    if e.waiting {
        out.push_str(
            " <span class=\"waiting\">(waiting for an earlier change to arrive again)</span>",
        );
    }
    out.push_str("</header>");
    if let Some(q) = &e.prompt {
        let _ = write!(out, "<p class=\"question\">Q: {}</p>", esc(q));
    }
    let _ = write!(out, "<div class=\"body\">{}</div>", esc(&e.body));
    if !e.conflicts.is_empty() {
        let _ = write!(
            out,
            "<div class=\"conflict\"><p>⚠ {} versions: edited on two devices at once; `duet edit` keeps the one you save.</p>",
            e.conflicts.len() + 1
        );
        for other in &e.conflicts {
            let _ = write!(out, "<div class=\"other-version\">{}</div>", esc(other));
        }
        out.push_str("</div>");
    }
    responses(out, e);
    forms(out, e, t, csrf);
    out.push_str("</article>");
}

fn responses(out: &mut String, e: &Entry) {
    let mut reactions: Vec<String> = e
        .reactions
        .iter()
        .map(|r| format!("{} {}", esc(&r.emoji), esc(&r.person)))
        .collect();
    if let Some(imported) = &e.imported {
        reactions.extend(imported.reactions.iter().map(|r| {
            format!(
                "{} {} (imported by {})",
                esc(&r.emoji),
                esc(&r.person),
                esc(&e.person)
            )
        }));
    }
    let _ = write!(
        out,
        "<div class=\"reactions\">{}</div>",
        reactions.join(" · ")
    );
    let mut heard: Vec<String> = e.heard.iter().map(|h| esc(&h.person)).collect();
    if let Some(imported) = &e.imported {
        heard.extend(imported.heard.iter().map(|h| esc(&h.person)));
    }
    let heard = match heard.len() {
        0 => String::new(),
        _ => format!("{} heard this", heard.join(" and ")),
    };
    let _ = write!(
        out,
        "<div class=\"heard\">{heard}</div><section class=\"replies\">"
    );
    for r in &e.replies {
        let edited = r
            .edited
            .map(|at| format!(" (edited {})", esc(&when(at))))
            .unwrap_or_default();
        let reactions: Vec<String> = r
            .reactions
            .iter()
            .map(|x| format!("{} {}", esc(&x.emoji), esc(&x.person)))
            .collect();
        let _ = write!(
            out,
            "<article class=\"reply\" data-id=\"{}\"><span class=\"person\">{}</span> \
<time class=\"when\">{}</time>{edited}<div class=\"body\">{}</div>\
<div class=\"reactions\">{}</div></article>",
            esc(&r.id),
            esc(&author(&r.person, r.imported.as_ref())),
            esc(&when(r.created)),
            esc(&r.body),
            reactions.join(" · ")
        );
    }
    out.push_str("</section>");
}

fn forms(out: &mut String, e: &Entry, t: &Timeline, csrf: &str) {
    let id = esc(&e.id);
    let csrf = csrf_field(csrf);
    let _ = write!(
        out,
        "<form class=\"reply\" method=\"post\" action=\"/entry/{id}/reply\">{csrf}\
<textarea name=\"text\" rows=\"2\" required placeholder=\"Reply…\"></textarea>\
<button type=\"submit\">Reply</button></form>\
<form class=\"react\" method=\"post\" action=\"/entry/{id}/react\">{csrf}"
    );
    for emoji in REACTIONS {
        let _ = write!(
            out,
            "<button type=\"submit\" name=\"emoji\" value=\"{emoji}\">{emoji}</button>"
        );
    }
    // Another emoji or a short word; Enter sends it (it wins over the
    // button the browser submits with).
    out.push_str(
        "<input name=\"emoji-custom\" size=\"4\" maxlength=\"16\" aria-label=\"Another reaction\" placeholder=\"…\"></form>",
    );
    let heard_already = e.heard.iter().any(|h| h.person == t.me);
    if e.person != t.me && !heard_already {
        let _ = write!(
            out,
            "<form class=\"heard\" method=\"post\" action=\"/entry/{id}/heard\">{csrf}\
<button type=\"submit\">I heard this</button></form>"
        );
    }
}
