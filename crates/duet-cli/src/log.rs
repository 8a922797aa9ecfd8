//! `duet log` and `duet show`: reading the journal.

use duet_core::journal::{EntryKind, Filter};

use crate::context::{now, Context};
use crate::{dates, pager, render};

#[derive(clap::Args)]
pub struct Args {
    /// Only entries by this person.
    #[arg(long)]
    by: Option<String>,
    /// Only entries of this kind.
    #[arg(long, short)]
    kind: Option<EntryKind>,
    /// Only entries with this tag.
    #[arg(long, short)]
    tag: Option<String>,
    /// From the start of this day: 2026-11-01, today, yesterday, monday,
    /// "this week", "last month", "3 days ago".
    #[arg(long, value_name = "DATE")]
    since: Option<String>,
    /// Up to the end of this day (or up to a moment: "2026-11-01 14:30").
    #[arg(long, value_name = "DATE")]
    until: Option<String>,
    /// Only entries containing this text (case-insensitive).
    #[arg(long, short)]
    search: Option<String>,
    /// At most this many entries (the newest).
    #[arg(short = 'n', long = "limit", value_name = "N")]
    limit: Option<usize>,
    /// One line per entry: id, date, person, kind and the first words.
    #[arg(long)]
    oneline: bool,
    /// Oldest first.
    #[arg(long)]
    reverse: bool,
    /// Print straight to the terminal, not through a pager.
    #[arg(long)]
    no_pager: bool,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let now = now();
    let filter = Filter {
        person: args.by,
        kind: args.kind,
        tag: args.tag.map(|t| t.trim_start_matches('#').to_string()),
        since: args
            .since
            .as_deref()
            .map(|d| dates::since(d, now))
            .transpose()?,
        until: args
            .until
            .as_deref()
            .map(|d| dates::until(d, now))
            .transpose()?,
        search: args.search,
        limit: args.limit,
    };
    // A page costs a page when the sealed read index is current; the
    // whole journal is read (and the index brought current) otherwise.
    let (mut entries, journal_empty, devices) = match ctx.indexed_page(&filter) {
        Some(page) => (page.entries, page.journal_empty, page.devices),
        None => {
            let replica = ctx.open()?;
            let entries = replica.journal().query(&filter);
            let empty = replica.journal().is_empty();
            (entries, empty, replica.devices().to_vec())
        }
    };
    if args.reverse {
        entries.reverse();
    }
    if ctx.json {
        return ctx.print_json(&entries);
    }
    if entries.is_empty() {
        if journal_empty {
            println!("The journal is empty. Write the first entry with `duet add`, or ask `duet prompt` for a question.");
        } else {
            println!("No entries match.");
        }
        return Ok(());
    }
    let devices = render::Devices(&devices);
    let text = if args.oneline {
        let lines: Vec<String> = entries.iter().map(render::oneline).collect();
        lines.join("\n")
    } else {
        let blocks: Vec<String> = entries
            .iter()
            .map(|e| render::summary(e, &devices))
            .collect();
        blocks.join("\n\n")
    };
    pager::print(&text, !args.no_pager);
    Ok(())
}

#[derive(clap::Args)]
pub struct ShowArgs {
    /// The entry's id, or a reply's (any 4 or more of its first characters).
    id: String,
    /// Print straight to the terminal, not through a pager.
    #[arg(long)]
    no_pager: bool,
}

pub fn show(ctx: &Context, args: ShowArgs) -> anyhow::Result<()> {
    let replica = ctx.open()?;
    let journal = replica.journal();
    // A reply's id shows the entry it answers, with the whole thread.
    let id = journal.resolve(&args.id)?.entry;
    let entry = journal
        .entry(&id)
        .ok_or_else(|| duet_core::journal::JournalError::NoSuchEntry(id.clone()))?;
    if entry.deleted.is_some() {
        return Err(duet_core::journal::JournalError::Deleted(id).into());
    }
    if ctx.json {
        return ctx.print_json(&entry);
    }
    let text = render::full(&entry, &render::Devices(replica.devices()));
    pager::print(text.trim_end_matches('\n'), !args.no_pager);
    Ok(())
}
