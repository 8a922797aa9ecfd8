//! `duet log` and `duet show`: reading the journal.

use duet_core::journal::{EntryKind, Filter};

use crate::context::Context;
use crate::{dates, render};

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
    /// From this date: 2026-11-01, yesterday, "last week", "3 days ago".
    #[arg(long)]
    since: Option<String>,
    /// Up to this date (a bare day includes the whole day).
    #[arg(long)]
    until: Option<String>,
    /// Only entries containing this text (case-insensitive).
    #[arg(long, short)]
    search: Option<String>,
    /// At most this many entries.
    #[arg(short = 'n', long = "limit")]
    limit: Option<usize>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let filter = Filter {
        person: args.by,
        kind: args.kind,
        tag: args.tag.map(|t| t.trim_start_matches('#').to_string()),
        since: args.since.as_deref().map(dates::since).transpose()?,
        until: args.until.as_deref().map(dates::until).transpose()?,
        search: args.search,
        limit: args.limit,
    };
    let replica = ctx.open()?;
    let entries = replica.journal().query(&filter);
    if ctx.json {
        return ctx.print_json(&entries);
    }
    if entries.is_empty() {
        if replica.journal().is_empty() {
            println!("The journal is empty. Write the first entry with `duet add`, or ask `duet prompt` for a question.");
        } else {
            println!("No entries match.");
        }
        return Ok(());
    }
    let devices = render::Devices(replica.devices());
    let blocks: Vec<String> = entries
        .iter()
        .map(|e| render::summary(e, &devices))
        .collect();
    println!("{}", blocks.join("\n\n"));
    Ok(())
}

pub fn show(ctx: &Context, id: &str) -> anyhow::Result<()> {
    let replica = ctx.open()?;
    let journal = replica.journal();
    let id = journal.resolve_id(id)?;
    let entry = journal
        .entry(&id)
        .ok_or_else(|| duet_core::journal::JournalError::NoSuchEntry(id.clone()))?;
    if entry.deleted.is_some() {
        return Err(duet_core::journal::JournalError::Deleted(id).into());
    }
    if ctx.json {
        return ctx.print_json(&entry);
    }
    print!(
        "{}",
        render::full(&entry, &render::Devices(replica.devices()))
    );
    Ok(())
}
