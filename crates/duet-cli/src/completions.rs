//! `duet completions SHELL` and `duet man`: the shell completion script
//! and the manual page, both generated from the clap definitions in
//! `cli.rs`, so that neither can fall behind the commands they describe.

use std::io::Write;

use anyhow::Context as _;
use clap::CommandFactory;

use crate::cli::Cli;

/// Prints the completion script for `shell` on stdout.
///
/// Installing it is the shell's business: `duet completions bash >
/// ~/.local/share/bash-completion/completions/duet`, or
/// `source <(duet completions bash)` in a shell's startup file
/// (docs/cli.md lists each shell's place).
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<()> {
    let mut cmd = Cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "duet", &mut script);
    write_out(&script)
}

/// Prints the manual page (roff) on stdout: `duet man > duet.1`, or
/// `duet man | man -l -` to read it now. One page for the whole command,
/// as git's and jrnl's users expect of a small tool: the global options,
/// then a COMMANDS section with each command's synopsis, what it does and
/// its options (clap_mangen alone would point at a page per command,
/// which nobody installs).
pub fn man() -> anyhow::Result<()> {
    let cmd = Cli::command();
    let top = clap_mangen::Man::new(cmd.clone());
    let mut page = Vec::new();
    let failed = "cannot render the manual page";
    top.render_title(&mut page).context(failed)?;
    top.render_name_section(&mut page).context(failed)?;
    top.render_synopsis_section(&mut page).context(failed)?;
    top.render_description_section(&mut page).context(failed)?;
    top.render_options_section(&mut page).context(failed)?;
    page.extend_from_slice(b".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let name = format!("duet {}", sub.get_name());
        let man = clap_mangen::Man::new(sub.clone().bin_name(&name));
        // The command's synopsis under a subheading named after it, the
        // rest as paragraphs.
        page.extend_from_slice(format!(".SS \"{name}\"\n").as_bytes());
        let mut part = Vec::new();
        man.render_synopsis_section(&mut part).context(failed)?;
        man.render_description_section(&mut part).context(failed)?;
        man.render_options_section(&mut part).context(failed)?;
        let part = String::from_utf8_lossy(&part).replace(".SH SYNOPSIS\n", "");
        for line in part.lines() {
            let line = if line.starts_with(".SH ") {
                ".PP"
            } else {
                line
            };
            page.extend_from_slice(line.as_bytes());
            page.push(b'\n');
        }
    }
    top.render_version_section(&mut page).context(failed)?;
    write_out(once_preamble(&String::from_utf8_lossy(&page)).as_bytes())
}

/// Each rendering clap_mangen does starts by defining the apostrophe
/// string (`.ds Aq`); the page needs it once, at the top.
fn once_preamble(roff: &str) -> String {
    let mut seen = 0;
    let mut out = String::with_capacity(roff.len());
    for line in roff.lines() {
        if line.starts_with(".ie \\n(.g .ds Aq") || line.starts_with(".el .ds Aq") {
            seen += 1;
            if seen > 2 {
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

fn write_out(bytes: &[u8]) -> anyhow::Result<()> {
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .context("cannot write to stdout")
}
