//! The command line's shape: every subcommand and option, in one place so
//! that `main` can parse it and the completion and man page generators can
//! describe the same thing.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::{
    add, daemon_cmd, demo, devices, doctor, entry_ops, export, import, init, invite, join, log,
    prompt, service, ui,
};

/// A private journal two people share, merged directly between their
/// devices, end-to-end encrypted.
#[derive(Parser)]
#[command(name = "duet", version, about, max_term_width = 100)]
pub struct Cli {
    /// The device's home directory (default: the platform's data dir).
    #[arg(long, global = true, env = "DUET_HOME", value_name = "DIR")]
    pub home: Option<PathBuf>,
    /// Print data as JSON (one document per command; see docs/cli.md).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Start a new journal on this device.
    Init(init::Args),
    /// Write an entry: the words that follow, piped stdin, or your editor.
    Add(add::Args),
    /// List entries, newest first.
    Log(log::Args),
    /// Show one entry whole, with replies, reactions and heard marks.
    Show(log::ShowArgs),
    /// Change one of your entries.
    Edit(entry_ops::EditArgs),
    /// Delete one of your entries (asks first on a terminal).
    Rm {
        id: String,
        /// Delete without asking (what scripts pass).
        #[arg(long, short)]
        yes: bool,
    },
    /// React to an entry with an emoji.
    React { id: String, emoji: String },
    /// Reply to an entry (TEXT, `-` for stdin, or your editor).
    Reply { id: String, text: Option<String> },
    /// Mark your partner's entry as read and heard.
    Heard { id: String },
    /// Export the journal as JSON or Markdown, optionally age-encrypted.
    Export(export::Args),
    /// A conversation starter for today; `--answer` writes your answer
    /// with it.
    Prompt(prompt::Args),
    /// Fold the stored history into one sealed snapshot to save space.
    Compact,
    /// Let another device join this journal (needs the daemon).
    Invite(invite::Args),
    /// Join a partner's journal from this (new) device.
    Join(join::Args),
    /// Bring the entries of another journal on this machine (its home
    /// DIR) into this one, with their authors, dates and responses.
    Import(import::Args),
    /// Every device that can read this journal; `devices remove ID` takes
    /// one out (a lost laptop).
    Devices {
        #[command(subcommand)]
        action: Option<devices::Action>,
    },
    /// Take all of your devices out of the shared journal; your partner
    /// keeps it, and this device keeps a readable copy of what it has.
    Leave {
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// The daemon, this device and the others: connected, last sync, waiting.
    Status,
    /// Sync now and report what moved (needs the daemon).
    Sync,
    /// Check this home and say what is wrong and what fixes it.
    Doctor(doctor::Args),
    /// The sync daemon, in the foreground.
    Daemon(daemon_cmd::Args),
    /// Run this home as a mirror (joined with `duet join --mirror`): it
    /// stores and serves the journal sealed, with no key, for devices that
    /// are away (docs/mirror.md).
    Mirror(daemon_cmd::Args),
    /// Two devices on this machine pair and sync, end to end.
    Demo(demo::Args),
    /// The daemon as a background service (systemd on Linux, launchd on
    /// macOS): `install`, `uninstall`, `status`.
    Service {
        #[command(subcommand)]
        action: service::Action,
    },
    /// The journal in your browser: a local web app on 127.0.0.1, opened
    /// with a secret address; it runs the sync daemon if none runs.
    Ui(ui::Args),
    /// Print the completion script for a shell (docs/cli.md says where
    /// each shell looks for it).
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the manual page (roff): `duet man | man -l -`.
    Man,
    /// The daemon's work on the whole journal, in a process of its own.
    #[command(hide = true)]
    WholeJob { job: String },
}

impl Command {
    /// Commands that print what they read and nothing else.
    pub fn reads_out(&self) -> bool {
        matches!(
            self,
            Command::Log(_)
                | Command::Show(_)
                | Command::Export(_)
                | Command::Devices { action: None }
                | Command::Status
                | Command::Doctor(_)
                | Command::Completions { .. }
                | Command::Man
        )
    }
}
