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
    ctx.check_writable()?;
    let help = format!(
        "Write your {} above the line. An empty entry is not saved.",
        args.kind
    );
    let retry = format!("duet add --kind {} -", args.kind);
    let draft = editor::text_from(args.text, "", &[], &help, &retry)?;
    let created = now_ms();
    let tags = clean_tags(args.tags);
    let mood = args
        .mood
        .map(|m| m.trim().to_string())
        .filter(|m| !m.is_empty());
    let (id, mut replica) = draft.save(&retry, |body| {
        let new = NewEntry {
            kind: args.kind,
            tags,
            mood,
            body: body.trim_end().to_string(),
        };
        Ok(match through_daemon(ctx, &new, created)? {
            Some(id) => (id, None),
            None => {
                let mut replica = ctx.open()?;
                let id =
                    replica.commit(|journal, author| journal.add_entry(author, new, created))?;
                (id, Some(replica))
            }
        })
    })?;
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

/// The fast path: a running daemon writes the entry without any process
/// loading the journal. `None` when no daemon answers; the daemon's
/// refusal (an empty entry, say) is this command's.
fn through_daemon(ctx: &Context, new: &NewEntry, created: i64) -> anyhow::Result<Option<String>> {
    use duet_daemon::client::{Client, ControlError};
    let Ok(mut client) = Client::connect(ctx.home.root()) else {
        return Ok(None);
    };
    match client.add(new, created) {
        Ok(id) => Ok(Some(id)),
        Err(ControlError::Daemon { message }) => anyhow::bail!("{message}"),
        Err(e) => Err(anyhow::Error::from(e).context(
            "the daemon did not confirm the entry; `duet log` shows whether it was saved",
        )),
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
