//! `duet export`: the journal as JSON or Markdown, for keeping or for
//! leaving. With `--recipient` the output is an age file, which the
//! standard `age` tool decrypts.

use std::fs;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{anyhow, Context as _};
use duet_core::journal::Filter;

use crate::context::{now_ms, Context};
use crate::render;

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum Format {
    Json,
    Md,
}

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, value_enum)]
    format: Format,
    /// Write here (created 0600; never overwritten) instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Encrypt to this age recipient (age1...); decrypt with `age -d`.
    #[arg(long)]
    recipient: Option<String>,
}

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let recipient: Option<age::x25519::Recipient> = args
        .recipient
        .as_deref()
        .map(|r| {
            r.trim()
                .parse()
                .map_err(|_| anyhow!("`{r}` is not a valid age recipient (they look like age1…)"))
        })
        .transpose()?;
    if let Some(path) = &args.output {
        anyhow::ensure!(
            !path.exists(),
            "{} already exists; choose another --output",
            path.display()
        );
    }
    let replica = ctx.open()?;
    let journal = replica.journal();
    let mut entries = journal.query(&Filter::default());
    entries.reverse();
    let text = match args.format {
        Format::Json => duet_core::export::json(&entries, &journal.devices(), now_ms())?,
        Format::Md => duet_core::export::markdown(&entries, render::timestamp),
    };
    let bytes = match &recipient {
        Some(r) => {
            let armored =
                age::encrypt_and_armor(r, text.as_bytes()).context("age encryption failed")?;
            armored.into_bytes()
        }
        None => text.into_bytes(),
    };
    match &args.output {
        Some(path) => {
            let mut file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .with_context(|| format!("cannot create {}", path.display()))?;
            file.write_all(&bytes)
                .and_then(|()| file.sync_all())
                .with_context(|| format!("cannot write {}", path.display()))?;
            if !ctx.json {
                eprintln!("Exported {} entries to {}.", entries.len(), path.display());
            }
        }
        None => {
            // On a terminal, the journal's text is shown safely; a file
            // or a pipe gets it exactly as written.
            let stdout = std::io::stdout();
            let shown = match std::str::from_utf8(&bytes) {
                Ok(text) if stdout.is_terminal() => {
                    crate::safe::text(text).into_owned().into_bytes()
                }
                _ => bytes,
            };
            stdout
                .lock()
                .write_all(&shown)
                .context("cannot write the export to stdout")?
        }
    }
    Ok(())
}
