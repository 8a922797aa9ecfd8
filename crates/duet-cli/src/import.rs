//! `duet import DIR` and `duet join --bring`: the entries of an earlier
//! journal on this machine, brought into the shared one.
//!
//! Someone who ran `duet init` and wrote for a while, then joins their
//! partner, runs `duet join --bring` in that same home: pairing makes the
//! new device beside the old journal, then the old journal is moved aside,
//! whole and sealed as it was, to `<home>/retired/<date>-<journal>`, the
//! joined one takes its place, and every entry is imported. `duet import
//! DIR` brings the entries of another home on this machine and leaves
//! that home where it is. What importing writes, and how someone else's
//! words stay theirs, is in `duet_core::journal` (`import.rs`).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use duet_core::home::Home;
use duet_core::journal::{batches, Entry};
use serde::Serialize;

use crate::context::Context;
use crate::safe;

#[derive(clap::Args)]
pub struct Args {
    /// The home of the journal to bring in: another `duet` home on this
    /// machine, or one `duet join --bring` retired.
    dir: PathBuf,
}

/// What an import brought.
#[derive(Serialize)]
struct Brought {
    /// Where the journal it came from is.
    from: String,
    /// That journal's id.
    journal: String,
    /// Entries brought now.
    imported: usize,
    /// Of those, entries someone else wrote there: marked as theirs,
    /// imported by this person.
    by_others: usize,
    /// Entries that were here already (an earlier import): not brought
    /// again.
    already_here: usize,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let brought = bring(ctx, &args.dir)?;
    report(ctx, &brought)?;
    if !ctx.json && brought.imported > 0 {
        println!(
            "{} is left as it was; delete it when you no longer need it.",
            safe::line(&brought.from)
        );
    }
    Ok(())
}

/// Imports every entry of the journal in `dir` that is not deleted and
/// not here yet, in as few changes as fit, each sealed and stored like
/// any write (and sent by a running daemon, which is told at the end).
fn bring(ctx: &Context, dir: &Path) -> anyhow::Result<Brought> {
    let mut replica = ctx.open()?;
    let same = |a: &Path, b: &Path| {
        a.canonicalize().ok().is_some() && a.canonicalize().ok() == b.canonicalize().ok()
    };
    if same(dir, ctx.home.root()) {
        bail!(
            "{} is this home; name the home of the other journal",
            dir.display()
        );
    }
    let old = Home::new(dir)
        .open()
        .with_context(|| format!("cannot open the journal in {}", dir.display()))?;
    if old.journal_id() == replica.journal_id() {
        bail!(
            "{} holds this same journal; there is nothing to bring in",
            dir.display()
        );
    }
    let from = old.journal_id().to_text();
    let me = replica.author()?.person;
    let here = replica.journal().entry_ids();
    let (mut new, already): (Vec<Entry>, Vec<Entry>) = old
        .journal()
        .all_entries()
        .into_iter()
        .filter(|e| e.deleted.is_none())
        .partition(|e| !here.contains(&e.id));
    new.sort_by(|a, b| a.created.cmp(&b.created).then_with(|| a.id.cmp(&b.id)));
    for run in batches(&new) {
        replica.commit(|journal, author| Ok(((), journal.import_entries(author, &from, run)?)))?;
    }
    let by_others = new
        .iter()
        .filter(|e| {
            let first = e.imported.as_ref().and_then(|i| i.author.as_ref());
            first.map_or(&e.person, |o| &o.person) != &me
        })
        .count();
    if !new.is_empty() {
        ctx.tidy(&mut replica);
    }
    Ok(Brought {
        from: dir.display().to_string(),
        journal: from,
        imported: new.len(),
        by_others,
        already_here: already.len(),
    })
}

fn report(ctx: &Context, brought: &Brought) -> anyhow::Result<()> {
    if ctx.json {
        return ctx.print_json(brought);
    }
    let entries = |n: usize| match n {
        1 => "1 entry".to_string(),
        n => format!("{n} entries"),
    };
    if brought.imported == 0 {
        println!(
            "Nothing to bring: {} of the journal in {} {} here already.",
            entries(brought.already_here),
            safe::line(&brought.from),
            if brought.already_here == 1 {
                "is"
            } else {
                "are"
            }
        );
        return Ok(());
    }
    let mut line = format!(
        "Brought {} from the journal in {}",
        entries(brought.imported),
        safe::line(&brought.from)
    );
    if brought.by_others > 0 {
        line.push_str(&format!(
            " ({} written there by someone else or under another name: shown as theirs, imported by you)",
            brought.by_others
        ));
    }
    if brought.already_here > 0 {
        let verb = if brought.already_here == 1 {
            "was"
        } else {
            "were"
        };
        line.push_str(&format!(
            "; {} {verb} here already",
            entries(brought.already_here)
        ));
    }
    println!("{line}.");
    Ok(())
}

/// `duet join --bring`: the journal this home holds, brought along.
pub struct Bring {
    /// Where pairing makes the new device's keys and store, beside the
    /// journal this home holds, until it has joined.
    staging: PathBuf,
    /// The name this home's person writes under, used when `--person` is
    /// not given.
    pub person: String,
    /// This device's name, used when `--device` is not given.
    pub device: String,
    journal: String,
}

impl Bring {
    /// Checks, before pairing starts, that this home holds a journal that
    /// opens and that no daemon runs for it: the journal is moved aside
    /// once pairing succeeds, and a daemon holds its store open.
    pub fn prepare(ctx: &Context) -> anyhow::Result<Self> {
        if !ctx.home.is_initialised() {
            bail!("this home holds no journal to bring along; join without --bring");
        }
        if duet_daemon::client::Client::connect(ctx.home.root()).is_ok() {
            bail!("a daemon is running for this home; stop it, then run `duet join --bring` again (its journal is moved aside)");
        }
        let old = ctx.home.open()?;
        let me = old.author()?;
        let device = old
            .devices()
            .iter()
            .find(|d| d.id == me.device.to_text())
            .map(|d| d.name.clone())
            .unwrap_or_else(crate::init::host_name);
        let staging = ctx.home.root().join("joining");
        if Home::new(&staging).is_initialised() {
            bail!(
                "{} holds a journal joined by a `duet join --bring` that did not finish; move it away, then try again",
                staging.display()
            );
        }
        Ok(Self {
            staging,
            person: me.person,
            device,
            journal: old.journal_id().to_text(),
        })
    }

    /// The directory pairing writes the new device into.
    pub fn staging(&self) -> &Path {
        &self.staging
    }

    /// After pairing: moves this home's journal aside, puts the joined one
    /// in its place and imports every entry of the one moved aside.
    pub fn finish(self, ctx: &Context) -> anyhow::Result<()> {
        let retired = self.retire(ctx)?;
        let brought = bring(ctx, &retired)?;
        report(ctx, &brought)?;
        if !ctx.json {
            println!(
                "Your earlier journal is kept, sealed as it was, in {}; `duet --home {} log` reads it.",
                safe::line(&retired.display().to_string()),
                safe::line(&retired.display().to_string())
            );
        }
        Ok(())
    }

    /// Moves this home's journal to `<home>/retired/` and the joined one
    /// into the home; returns where the old one went.
    fn retire(&self, ctx: &Context) -> anyhow::Result<PathBuf> {
        let date = chrono::Local::now().format("%Y-%m-%d");
        let label = format!("{date}-{}", safe::prefix(&self.journal, 8));
        let mut dir = ctx.home.retired_dir(&label);
        for n in 2.. {
            if !dir.exists() {
                break;
            }
            dir = ctx.home.retired_dir(&format!("{label}-{n}"));
        }
        let retired = ctx.home.move_journal_to(&dir)?;
        if let Err(e) = Home::new(&self.staging).move_journal_to(ctx.home.root()) {
            // Put the old journal back rather than leave the home empty.
            retired
                .move_journal_to(ctx.home.root())
                .context("cannot put the earlier journal back either")?;
            return Err(anyhow::Error::from(e).context(format!(
                "joined, but cannot move the new device from {} into the home; the earlier journal is back in place",
                self.staging.display()
            )));
        }
        let _ = std::fs::remove_dir(&self.staging);
        Ok(retired.root().to_path_buf())
    }
}

impl Drop for Bring {
    /// A pairing that failed leaves the directory it would have written
    /// into empty: it goes (never anything in it).
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.staging);
    }
}
