//! `duet add`: write an entry.

use duet_core::journal::{EntryKind, NewEntry};
use serde::Serialize;

use crate::context::{now_ms, Context};
use crate::editor;
use crate::render::short_id;

#[derive(clap::Args)]
pub struct Args {
    /// The entry's text; `-` reads stdin; absent opens $VISUAL or $EDITOR.
    text: Option<String>,
    /// note, feeling, need, gratitude, dream, memory or laugh.
    #[arg(long, short, default_value = "note")]
    kind: EntryKind,
    /// A tag (repeat for more).
    #[arg(long = "tag", short)]
    tags: Vec<String>,
    /// How you feel, in a word or two.
    #[arg(long)]
    mood: Option<String>,
}

#[derive(Serialize)]
struct Added<'a> {
    id: &'a str,
    kind: EntryKind,
    created: i64,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    let help = format!(
        "Write your {} above. Lines starting with # are left out.\nAn empty entry is not saved.",
        args.kind
    );
    let body = editor::text_from(args.text, "", &help)?;
    let created = now_ms();
    let new = NewEntry {
        kind: args.kind,
        tags: clean_tags(args.tags),
        mood: args
            .mood
            .map(|m| m.trim().to_string())
            .filter(|m| !m.is_empty()),
        body: body.trim_end().to_string(),
    };
    let id = replica.commit(|journal, author| journal.add_entry(author, new, created))?;
    if ctx.json {
        ctx.print_json(&Added {
            id: &id,
            kind: args.kind,
            created,
        })?;
    } else {
        println!("Saved {} ({}).", short_id(&id), args.kind);
    }
    ctx.tidy(&mut replica);
    Ok(())
}

/// Tags without `#`, blanks or repeats, in the order given.
pub fn clean_tags(tags: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().trim_start_matches('#').trim().to_string();
        if !tag.is_empty() && !out.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            out.push(tag);
        }
    }
    out
}
