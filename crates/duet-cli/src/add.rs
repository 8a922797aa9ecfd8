//! `duet add`: write an entry, from words on the command line, piped
//! stdin, or the editor.

use duet_core::journal::{EntryKind, NewEntry};
use serde::Serialize;

use crate::context::{now, now_ms, Context};
use crate::render::short_id;
use crate::{dates, editor};

#[derive(clap::Args)]
pub struct Args {
    /// The entry's words (`duet add We laughed all evening`); `-` reads
    /// stdin. Without words, piped stdin is read, else $VISUAL or $EDITOR
    /// opens (which keeps private words out of your shell's history).
    #[arg(value_name = "TEXT")]
    text: Vec<String>,
    /// note, feeling, need, gratitude, dream, memory or laugh.
    #[arg(long, short)]
    kind: Option<EntryKind>,
    /// A tag (repeat for more).
    #[arg(long = "tag", short)]
    tags: Vec<String>,
    /// How you feel, in a word or two.
    #[arg(long)]
    mood: Option<String>,
    /// When it happened, to write up an earlier day: yesterday, monday,
    /// 2026-11-01, "2026-11-01 21:30" (default: now).
    #[arg(long, value_name = "DATE")]
    date: Option<String>,
}

#[derive(Serialize)]
struct Added<'a> {
    id: &'a str,
    kind: EntryKind,
    created: i64,
}

impl Args {
    /// True when words were given on the command line.
    pub fn has_text(&self) -> bool {
        !self.text.is_empty()
    }
}

/// `duet add`.
pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    write(ctx, args, None)
}

/// Writes an entry from `args`; `prompt` is the question it answers
/// (`duet prompt --answer`), whose kind it takes unless `--kind` says.
pub fn write(
    ctx: &Context,
    args: Args,
    prompt: Option<&crate::prompt::Prompt>,
) -> anyhow::Result<()> {
    // A home with no journal fails here, before an editor opens.
    if !ctx.home.is_initialised() {
        drop(ctx.open()?);
    }
    // A date that cannot be read is refused before anything is written.
    let created = match &args.date {
        Some(date) => dates::entry_date(date, now())?,
        None => now_ms(),
    };
    ctx.check_writable()?;
    let kind = args
        .kind
        .or_else(|| prompt.and_then(|p| p.kind.parse().ok()))
        .unwrap_or_default();
    let help = match prompt {
        Some(p) => format!(
            "Today's question: {}\nWrite your answer above the line. An empty entry is not saved.",
            p.text
        ),
        None => format!("Write your {kind} above the line. An empty entry is not saved."),
    };
    let retry = match prompt {
        Some(_) => "duet prompt --answer -".to_string(),
        None => format!("duet add --kind {kind} -"),
    };
    let text = (!args.text.is_empty()).then(|| args.text.join(" "));
    let draft = editor::text_from(text, "", &[], &help, &retry)?;
    let tags = clean_tags(args.tags);
    let mood = duet_core::journal::input::clean_mood(args.mood.as_deref());
    let (id, mut replica) = draft.save(&retry, |body| {
        let new = NewEntry {
            kind,
            tags,
            mood,
            prompt: prompt.map(|p| p.text.to_string()),
            body: body.trim_end().to_string(),
        };
        if let Some(id) = through_daemon(ctx, &new, created)? {
            return Ok((id, None));
        }
        if let Some(id) = through_writer(ctx, &new, created)? {
            duet_daemon::client::poke(ctx.home.root());
            return Ok((id, None));
        }
        let mut replica = ctx.open()?;
        let id = replica.commit(|journal, author| journal.add_entry(author, new, created))?;
        Ok((id, Some(replica)))
    })?;
    if ctx.json {
        ctx.print_json(&Added {
            id: &id,
            kind,
            created,
        })?;
    } else if args.date.is_some() {
        println!(
            "Saved {} ({kind}), dated {}.",
            short_id(&id),
            crate::render::timestamp(created)
        );
    } else {
        println!("Saved {} ({kind}).", short_id(&id));
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

/// Without a daemon, the same path: a writer that starts from the sealed
/// frontier the last replica or writer kept (`Index::start`), so nothing
/// loads the journal. `None` when that frontier is behind the store, a
/// notice is owed (the whole journal's path tells it), or the tail of
/// envelopes is long enough that the whole journal's path should compact.
fn through_writer(ctx: &Context, new: &NewEntry, created: i64) -> anyhow::Result<Option<String>> {
    if std::env::var_os("DUET_NO_INDEX").is_some() {
        return Ok(None);
    }
    let Ok(Some(mut writer)) = ctx.home.open_writer_if_current() else {
        return Ok(None);
    };
    let compact_after = std::env::var("DUET_COMPACT_AFTER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(duet_core::replica::DEFAULT_COMPACT_AFTER);
    let store = writer.store();
    let notices = writer.index().notices(store).unwrap_or_default();
    let busy = store
        .envelope_count()
        .map_or(true, |n| n + 1 >= compact_after)
        || crate::context::owes_notice(store, writer.devices(), &notices).unwrap_or(true);
    if busy {
        return Ok(None);
    }
    let new = new.clone();
    Ok(Some(writer.commit(|journal, author| {
        journal.add_entry(author, new, created)
    })?))
}

/// Tags without `#`, blanks or repeats, in the order given.
pub fn clean_tags(tags: Vec<String>) -> Vec<String> {
    duet_core::journal::input::clean_tags(tags)
}
