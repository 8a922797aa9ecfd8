//! Building HTML safely: everything that came from the journal, a peer or
//! the request goes through [`esc`]; the page frame carries the CSRF
//! token and the navigation every page has.

use std::fmt::Write as _;

use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{Local, TimeZone};

/// Text made safe to put in HTML, in an element or a quoted attribute.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            // Control characters a peer may have put in a name or a body
            // are shown as a replacement, never acted on.
            c if c.is_control() && c != '\n' && c != '\t' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A whole page: head, navigation, and `body`.
pub fn page(title: &str, csrf: &str, body: &str) -> Response {
    let mut out = String::with_capacity(body.len() + 1024);
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
<meta name=\"csrf\" content=\"{csrf}\"><title>{title} · duet</title>\
<link rel=\"stylesheet\" href=\"/static/app.css\"><script src=\"/static/app.js\" defer></script>\
</head><body><nav><span class=\"brand\">duet</span>\
<a id=\"nav-timeline\" href=\"/timeline\">Timeline</a>\
<a id=\"nav-invite\" href=\"/invite\">Invite a device</a>\
<a id=\"nav-devices\" href=\"/devices\">Devices</a>\
<a id=\"nav-status\" href=\"/status\">Status</a></nav><main>{body}</main></body></html>",
        csrf = esc(csrf),
        title = esc(title),
    );
    html(out)
}

/// An HTML response.
pub fn html(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], text).into_response()
}

/// The hidden CSRF field every form carries.
pub fn csrf_field(csrf: &str) -> String {
    format!(
        "<input type=\"hidden\" name=\"csrf\" value=\"{}\">",
        esc(csrf)
    )
}

/// A page that says what went wrong, in one sentence.
pub fn error_page(status: StatusCode, csrf: &str, sentence: &str) -> Response {
    let body = format!(
        "<p class=\"error\" id=\"error\">{}</p><p><a href=\"/timeline\">Back to the timeline</a></p>",
        esc(sentence)
    );
    let mut response = page("Something went wrong", csrf, &body);
    *response.status_mut() = status;
    response
}

/// A 303 to `to`.
pub fn see_other(to: &str) -> Response {
    (StatusCode::SEE_OTHER, [(header::LOCATION, to.to_string())]).into_response()
}

/// "today 21:03", "yesterday 09:12", "Mon 23 Nov 18:40", "12 Mar 2025",
/// as `duet log` says it.
pub fn when(ms: i64) -> String {
    when_seen_on(ms, Local::now().date_naive())
}

/// [`when`], on the day `today` (the CLI passes its own clock, which tests
/// can fix). "today 21:03", "yesterday 09:12", "Mon 23 Nov 18:40",
/// "12 Mar 2025".
pub fn when_seen_on(ms: i64, today: chrono::NaiveDate) -> String {
    let Some(t) = Local.timestamp_millis_opt(ms).single() else {
        return "at an unknown time".to_string();
    };
    let day = t.date_naive();
    if day == today {
        format!("today {}", t.format("%H:%M"))
    } else if Some(day) == today.pred_opt() {
        format!("yesterday {}", t.format("%H:%M"))
    } else if (today - day).num_days().abs() < 180 {
        t.format("%a %-d %b %H:%M").to_string()
    } else {
        t.format("%-d %b %Y").to_string()
    }
}

/// "2026-11-01 21:30", for exports.
pub fn timestamp(ms: i64) -> String {
    Local
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

/// Now, in milliseconds since the Unix epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn markup_in_text_is_shown_not_run() {
        assert_eq!(
            esc("<script>alert('x')</script> & \"q\""),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
        assert_eq!(esc("a\u{1b}[2Jb"), "a\u{FFFD}[2Jb");
    }
}
