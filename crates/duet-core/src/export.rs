//! The journal as a file a person keeps: JSON (`duet-export-v1`) or
//! Markdown. Shared by `duet export` and the web app's download, so that
//! both give the same file. Dates are formatted by the caller, which
//! knows the person's time zone (this crate keeps no clock of its own).

use serde::Serialize;

use crate::journal::{DeviceRecord, Entry};

/// The JSON export's shape.
#[derive(Serialize)]
struct Export<'a> {
    format: &'static str,
    exported_at: i64,
    devices: &'a [DeviceRecord],
    entries: &'a [Entry],
}

/// The JSON export of `entries` (oldest first) and `devices`, ending with
/// a newline as a text file does.
pub fn json(
    entries: &[Entry],
    devices: &[DeviceRecord],
    exported_at: i64,
) -> Result<String, serde_json::Error> {
    let mut json = serde_json::to_string_pretty(&Export {
        format: "duet-export-v1",
        exported_at,
        devices,
        entries,
    })?;
    // A text file ends with a newline; tools (and shells' prompts after
    // `duet export --format json`) expect it.
    json.push('\n');
    Ok(json)
}

/// Who wrote something, as `log` says it: "Jo (imported by Sam)" for
/// words someone else wrote in a journal that was imported.
fn by(person: &str, first: Option<&str>) -> String {
    match first {
        Some(first) => format!("{first} (imported by {person})"),
        None => person.to_string(),
    }
}

/// The Markdown export of `entries` (oldest first); `timestamp` turns a
/// time in milliseconds into the date and time shown.
pub fn markdown(entries: &[Entry], timestamp: impl Fn(i64) -> String) -> String {
    let mut out = String::from("# Our journal\n");
    for e in entries {
        let first = e.imported.as_ref().and_then(|i| i.author.as_ref());
        out.push_str(&format!(
            "\n## {} · {} · {}\n\n",
            timestamp(e.created),
            by(&e.person, first.map(|o| o.person.as_str())),
            e.kind
        ));
        if let Some(q) = &e.prompt {
            out.push_str(&format!("*Q: {q}*\n\n"));
        }
        if !e.tags.is_empty() || e.mood.is_some() {
            let mut meta: Vec<String> = e.tags.iter().map(|t| format!("#{t}")).collect();
            if let Some(m) = &e.mood {
                meta.push(format!("mood: {m}"));
            }
            out.push_str(&format!("*{}*\n\n", meta.join(" ")));
        }
        out.push_str(&e.body);
        out.push('\n');
        for other in &e.conflicts {
            out.push_str("\n> Another version, written at the same time on another device:\n>\n");
            for line in other.lines() {
                out.push_str(&format!("> {line}\n"));
            }
        }
        for r in &e.replies {
            out.push_str(&format!(
                "\n**{}** replied ({}):\n\n",
                by(&r.person, r.imported.as_ref().map(|o| o.person.as_str())),
                timestamp(r.created)
            ));
            for line in r.body.lines() {
                out.push_str(&format!("> {line}\n"));
            }
        }
        let reactions: Vec<String> = e
            .reactions
            .iter()
            .map(|r| format!("{} {}", r.emoji, r.person))
            .collect();
        if !reactions.is_empty() {
            out.push_str(&format!("\nReactions: {}\n", reactions.join(", ")));
        }
        if !e.heard.is_empty() {
            let who: Vec<&str> = e.heard.iter().map(|h| h.person.as_str()).collect();
            out.push_str(&format!("\nHeard by {}.\n", who.join(", ")));
        }
    }
    out
}
