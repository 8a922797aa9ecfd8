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
    // A home with no journal fails here, before an editor opens.
    if !ctx.home.is_initialised() {
        drop(ctx.open()?);
    }
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
    let (id, mut replica) = match through_daemon(ctx, &new, created)? {
        Some(id) => (id, None),
        None => {
            let mut replica = ctx.open()?;
            let id = replica.commit(|journal, author| journal.add_entry(author, new, created))?;
            (id, Some(replica))
        }
    };
    if ctx.json {
        ctx.print_json(&Added {
            id: &id,
            kind: args.kind,
            created,
        })?;
    } else {
        println!("Saved {} ({}).", short_id(&id), args.kind);
    }
    if let Some(replica) = &mut replica {
        ctx.tidy(replica);
    }
    Ok(())
}

/// The fast path: a running daemon holds the journal in memory, so it
/// writes the entry without this process loading it. `None` when no daemon
/// runs; the daemon's refusal (an empty entry, say) is this command's.
fn through_daemon(ctx: &Context, new: &NewEntry, created: i64) -> anyhow::Result<Option<String>> {
    use duet_daemon::control::{Client, ControlError, Reply, Request};
    let mut client = match Client::connect(ctx.home.root()) {
        Ok(client) => client,
        Err(ControlError::NotRunning) => return Ok(None),
        Err(_) => return Ok(None),
    };
    let request = Request::Add {
        kind: new.kind.to_string(),
        tags: new.tags.clone(),
        mood: new.mood.clone(),
        body: new.body.clone(),
        created,
    };
    match client.call(&request) {
        Ok(Reply::Added { id }) => Ok(Some(id)),
        Ok(other) => anyhow::bail!("the daemon sent an unexpected reply: {other:?}"),
        Err(ControlError::Daemon(message)) => anyhow::bail!("{message}"),
        Err(e) => Err(e.into()),
    }
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
