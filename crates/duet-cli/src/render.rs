//! How entries read in a terminal: who wrote it, when, what kind, tags,
//! then the words, then what the partner did with them.

use duet_core::journal::{DeviceRecord, Entry, Origin};

use crate::safe;

/// Characters of an id shown in lists; any unique prefix of 4+ works.
pub const SHORT_ID: usize = 7;

/// The first characters of an id, safe to print (a peer chooses its ids).
pub fn short_id(id: &str) -> String {
    safe::prefix(id, SHORT_ID)
}

/// How duet says when something happened, the same in the CLI as in
/// `duet ui`, on the CLI's clock (which tests can fix).
pub fn when(ms: i64) -> String {
    duet_web::html::when_seen_on(ms, crate::context::now().date_naive())
}

pub use duet_web::html::timestamp;

/// Devices by id, to say which device wrote or edited an entry.
pub struct Devices<'a>(pub &'a [DeviceRecord]);

impl Devices<'_> {
    /// "Alex's laptop", or the device's short id if it is not in the list.
    pub fn name(&self, id: &str) -> String {
        match self.0.iter().find(|d| d.id == id) {
            Some(d) => format!("{}'s {}", safe::line(&d.person), safe::line(&d.name)),
            None => format!("device {}", safe::prefix(id, 8)),
        }
    }
}

/// Who wrote something: the person whose device signed it, or, for what
/// that person imported from another journal where someone else wrote it,
/// "Jo (imported by Sam)": the importer's word, never shown as Jo's own.
pub fn author(person: &str, first: Option<&Origin>) -> String {
    written_by(person, first.map(|o| o.person.as_str()))
}

/// [`author`], from the name of who first wrote it.
fn written_by(person: &str, first: Option<&str>) -> String {
    match first {
        Some(first) => format!("{} (imported by {})", safe::line(first), safe::line(person)),
        None => safe::line(person).into_owned(),
    }
}

/// The heading line: id, person, kind, time, tags, mood, and when and
/// on which device it was last edited.
pub fn heading(e: &Entry, devices: &Devices<'_>) -> String {
    let mut line = format!(
        "{}  {} · {} · {}",
        short_id(&e.id),
        author(
            &e.person,
            e.imported.as_ref().and_then(|i| i.author.as_ref())
        ),
        e.kind,
        when(e.listed_at())
    );
    if e.waiting {
        line.push_str("  (waiting for an earlier change to arrive again)");
    }
    if e.arrived.is_some() {
        line.push_str(&format!(
            " (dated {}, ahead of this device's clock)",
            timestamp(e.created)
        ));
    }
    for tag in &e.tags {
        line.push_str(&format!("  #{}", safe::line(tag)));
    }
    if let Some(mood) = &e.mood {
        line.push_str(&format!("  mood: {}", safe::line(mood)));
    }
    if let Some(edited) = e.edited {
        match &e.edited_by {
            Some(by) => line.push_str(&format!(
                "  (edited {} on {})",
                when(edited),
                devices.name(by)
            )),
            None => line.push_str(&format!("  (edited {})", when(edited))),
        }
    }
    line
}

/// An entry's text, indented, with control characters made visible.
fn indent(text: &str) -> String {
    safe::text(text)
        .lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// What the partner did: reactions, replies, heard marks, on one line.
fn responses(e: &Entry) -> Option<String> {
    let mut parts = Vec::new();
    for r in &e.reactions {
        parts.push(format!(
            "{} {}",
            safe::line(&r.emoji),
            safe::line(&r.person)
        ));
    }
    // What others did in the journal it was imported from, in its words.
    if let Some(imported) = &e.imported {
        for r in &imported.reactions {
            let who = written_by(&e.person, Some(&r.person));
            parts.push(format!("{} {who}", safe::line(&r.emoji)));
        }
    }
    match e.replies.len() {
        0 => {}
        1 => parts.push("1 reply".to_string()),
        n => parts.push(format!("{n} replies")),
    }
    let imported_heard = e.imported.iter().flat_map(|i| &i.heard);
    if !e.heard.is_empty() || imported_heard.clone().next().is_some() {
        let mut who: Vec<String> = e
            .heard
            .iter()
            .map(|h| safe::line(&h.person).into_owned())
            .collect();
        who.extend(imported_heard.map(|h| written_by(&e.person, Some(&h.person))));
        parts.push(format!("heard by {}", who.join(", ")));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}

/// The question an answer answers, on a line of its own above it.
fn question(e: &Entry) -> String {
    match &e.prompt {
        Some(q) => format!("    Q: {}\n", safe::line(q)),
        None => String::new(),
    }
}

/// An entry as `log` lists it.
pub fn summary(e: &Entry, devices: &Devices<'_>) -> String {
    let mut out = heading(e, devices);
    out.push('\n');
    out.push_str(&question(e));
    out.push_str(&indent(&e.body));
    if !e.conflicts.is_empty() {
        out.push_str(&format!(
            "\n    ⚠ {} versions: edited on two devices at once; `duet show {}` shows both",
            e.conflicts.len() + 1,
            short_id(&e.id)
        ));
    }
    if let Some(r) = responses(e) {
        out.push_str(&format!("\n    — {r}"));
    }
    out
}

/// Characters of an entry's words `log --oneline` shows.
const ONELINE_WORDS: usize = 60;

/// An entry on one line, for `log --oneline`: id, date, person, kind and
/// the start of its first line of words.
pub fn oneline(e: &Entry) -> String {
    let mut lines = e.body.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let mut words: String = first.chars().take(ONELINE_WORDS).collect();
    if first.chars().count() > ONELINE_WORDS || lines.next().is_some() {
        words.push('…');
    }
    format!(
        "{}  {}  {} · {}  {}",
        short_id(&e.id),
        timestamp(e.listed_at()),
        safe::line(&e.person),
        e.kind,
        safe::line(&words)
    )
}

/// An entry as `show` prints it, everything included.
pub fn full(e: &Entry, devices: &Devices<'_>) -> String {
    let mut out = format!("{}\n", heading(e, devices));
    out.push_str(&format!(
        "id {}  written {} on {}",
        safe::line(&e.id),
        timestamp(e.created),
        devices.name(&e.device)
    ));
    if let Some(arrived) = e.arrived {
        out.push_str(&format!("  arrived here {}", timestamp(arrived)));
    }
    if let Some(imported) = &e.imported {
        out.push_str(&format!(
            "\nimported by {} from journal {}",
            safe::line(&e.person),
            safe::prefix(&imported.journal, 8)
        ));
        if let Some(origin) = &imported.author {
            out.push_str(&format!(
                ", where {} wrote it on device {}",
                safe::line(&origin.person),
                safe::prefix(&origin.device, 8)
            ));
        }
    }

    out.push_str("\n\n");
    out.push_str(&question(e));
    out.push_str(&indent(&e.body));
    out.push('\n');
    for (i, other) in e.conflicts.iter().enumerate() {
        out.push_str(&format!(
            "\n  ⚠ another version ({} of {}), written at the same time on another device:\n\n",
            i + 2,
            e.conflicts.len() + 1
        ));
        out.push_str(&indent(other));
        out.push('\n');
    }
    if !e.conflicts.is_empty() {
        out.push_str(&format!(
            "\n  `duet edit {}` keeps the version you save and ends the conflict.\n",
            short_id(&e.id)
        ));
    }
    for reply in &e.replies {
        let edited = reply
            .edited
            .map(|t| format!(" (edited {})", when(t)))
            .unwrap_or_default();
        out.push_str(&format!(
            "\n  ↳ {} replied {}{edited} · {}:\n{}\n",
            author(&reply.person, reply.imported.as_ref()),
            when(reply.created),
            short_id(&reply.id),
            indent(&reply.body)
        ));
        let reactions: Vec<String> = reply
            .reactions
            .iter()
            .map(|r| format!("{} {}", safe::line(&r.emoji), safe::line(&r.person)))
            .collect();
        if !reactions.is_empty() {
            out.push_str(&format!("    — {}\n", reactions.join(" · ")));
        }
    }
    if let Some(r) = responses(e) {
        out.push_str(&format!("\n  — {r}\n"));
    }
    out
}
