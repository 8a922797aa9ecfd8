//! `duet export`: the journal as JSON or Markdown, for keeping or for
//! leaving. With `--recipient` the output is an age file, which the
//! standard `age` tool decrypts.

use std::fs;
use std::io::{IsTerminal, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use anyhow::{anyhow, Context as _};
use duet_core::journal::{Entry, Filter};
use serde::Serialize;

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

#[derive(Serialize)]
struct Export<'a> {
    format: &'static str,
    exported_at: i64,
    devices: Vec<duet_core::journal::DeviceRecord>,
    entries: &'a [Entry],
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
        Format::Json => {
            let mut json = serde_json::to_string_pretty(&Export {
                format: "duet-export-v1",
                exported_at: now_ms(),
                devices: journal.devices(),
                entries: &entries,
            })?;
            // A text file ends with a newline; tools (and shells' prompts
            // after `duet export --format json`) expect it.
            json.push('\n');
            json
        }
        Format::Md => markdown(&entries),
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

/// Who wrote something, as `log` says it: "Jo (imported by Sam)" for
/// words someone else wrote in a journal that was imported.
fn by(person: &str, first: Option<&str>) -> String {
    match first {
        Some(first) => format!("{first} (imported by {person})"),
        None => person.to_string(),
    }
}

fn markdown(entries: &[Entry]) -> String {
    let mut out = String::from("# Our journal\n");
    for e in entries {
        let first = e.imported.as_ref().and_then(|i| i.author.as_ref());
        out.push_str(&format!(
            "\n## {} · {} · {}\n\n",
            render::timestamp(e.created),
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
                render::timestamp(r.created)
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
