//! `duet`: the command-line face of the journal. Each subcommand lives in
//! its own module and calls into `duet-core`; this file parses arguments
//! and turns errors into one sentence and a non-zero exit.

mod add;
mod compact;
mod context;
mod daemon_cmd;
mod dates;
mod demo;
mod devices;
mod doctor;
mod editor;
mod entry_ops;
mod export;
mod hints;
mod import;
mod init;
mod invite;
mod join;
mod log;
mod prompt;
mod render;
mod safe;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// A private journal two people share, merged directly between their
/// devices, end-to-end encrypted.
#[derive(Parser)]
#[command(name = "duet", version, about, max_term_width = 100)]
struct Cli {
    /// The device's home directory (default: the platform's data dir).
    #[arg(long, global = true, env = "DUET_HOME", value_name = "DIR")]
    home: Option<PathBuf>,
    /// Print data as JSON (one document per command; see docs/cli.md).
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start a new journal on this device.
    Init(init::Args),
    /// Write an entry (TEXT, `-` for stdin, or your editor when absent).
    Add(add::Args),
    /// List entries, newest first.
    Log(log::Args),
    /// Show one entry whole, with replies, reactions and heard marks.
    Show { id: String },
    /// Change one of your entries.
    Edit(entry_ops::EditArgs),
    /// Delete one of your entries.
    Rm { id: String },
    /// React to an entry with an emoji.
    React { id: String, emoji: String },
    /// Reply to an entry (TEXT, `-` for stdin, or your editor).
    Reply { id: String, text: Option<String> },
    /// Mark your partner's entry as read and heard.
    Heard { id: String },
    /// Export the journal as JSON or Markdown, optionally age-encrypted.
    Export(export::Args),
    /// A conversation starter for today.
    Prompt,
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
    /// The daemon's work on the whole journal, in a process of its own.
    #[command(hide = true)]
    WholeJob { job: String },
}

impl Command {
    /// Commands that print what they read and nothing else.
    fn reads_out(&self) -> bool {
        matches!(
            self,
            Command::Log(_)
                | Command::Show { .. }
                | Command::Export(_)
                | Command::Prompt
                | Command::Devices { action: None }
                | Command::Status
                | Command::Doctor(_)
        )
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage_error(err),
    };
    if cli.command.reads_out() {
        // `duet log | head -1`: when the reader goes away, end quietly, as
        // git and every Unix tool does (Rust ignores SIGPIPE, which makes a
        // print to a closed pipe panic). Only for commands that print what
        // they read: the daemon and pairing keep sockets whose peers may
        // close, and must see that as an error, not die of it.
        sigpipe::reset();
    }
    let ctx = context::Context::new(cli.home, cli.json);
    let result = match cli.command {
        Command::Init(args) => init::run(&ctx, args),
        Command::Add(args) => add::run(&ctx, args),
        Command::Log(args) => log::run(&ctx, args),
        Command::Show { id } => log::show(&ctx, &id),
        Command::Edit(args) => entry_ops::edit(&ctx, args),
        Command::Rm { id } => entry_ops::remove(&ctx, &id),
        Command::React { id, emoji } => entry_ops::react(&ctx, &id, &emoji),
        Command::Reply { id, text } => entry_ops::reply(&ctx, &id, text),
        Command::Heard { id } => entry_ops::heard(&ctx, &id),
        Command::Export(args) => export::run(&ctx, args),
        Command::Prompt => prompt::run(&ctx),
        Command::Compact => compact::run(&ctx),
        Command::Invite(args) => invite::run(&ctx, args),
        Command::Join(args) => join::run(&ctx, args),
        Command::Import(args) => import::run(&ctx, args),
        Command::Devices { action: None } => devices::devices(&ctx),
        Command::Devices {
            action: Some(devices::Action::Remove { id, yes }),
        } => devices::remove(&ctx, &id, yes),
        Command::Leave { yes } => devices::leave(&ctx, yes),
        Command::Status => devices::status(&ctx),
        Command::Sync => devices::sync(&ctx),
        Command::Doctor(args) => doctor::run(&ctx, args),
        Command::Daemon(args) => daemon_cmd::run(&ctx, args),
        Command::Mirror(args) => daemon_cmd::mirror(&ctx, args),
        Command::Demo(args) => demo::run(args),
        Command::WholeJob { job } => {
            duet_daemon::whole::serve(&ctx.home, &job).map_err(anyhow::Error::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("duet: {}", safe::line(&hints::sentence(&err)));
            ExitCode::FAILURE
        }
    }
}

/// Help and version print as clap makes them; a usage mistake becomes one
/// line, like every other failure.
fn usage_error(err: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
            let _ = err.print();
            return ExitCode::SUCCESS;
        }
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = err.print();
            return ExitCode::from(2);
        }
        _ => {}
    }
    let rendered = err.render().to_string();
    let first = rendered
        .lines()
        .next()
        .unwrap_or("the command line is not valid")
        .trim_start_matches("error: ");
    eprintln!("duet: {} (see `duet --help`)", safe::line(first));
    ExitCode::from(2)
}
