//! `duet`: the command-line face of the journal. Each subcommand lives in
//! its own module and calls into `duet-core`; this file parses arguments
//! and turns errors into one sentence and a non-zero exit.

mod add;
mod cli;
mod compact;
mod completions;
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
mod pager;
mod prompt;
mod render;
mod safe;
mod service;
mod ui;
mod usage;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => return usage::error(err, &<Cli as clap::CommandFactory>::command()),
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
        Command::Show(args) => log::show(&ctx, args),
        Command::Edit(args) => entry_ops::edit(&ctx, args),
        Command::Rm { id, yes } => entry_ops::remove(&ctx, &id, yes),
        Command::React { id, emoji } => entry_ops::react(&ctx, &id, &emoji),
        Command::Reply { id, text } => entry_ops::reply(&ctx, &id, text),
        Command::Heard { id } => entry_ops::heard(&ctx, &id),
        Command::Export(args) => export::run(&ctx, args),
        Command::Prompt(args) => prompt::run(&ctx, args),
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
        Command::Service { action } => service::run_action(&ctx, action),
        Command::Ui(args) => ui::run(&ctx, args),
        Command::Completions { shell } => completions::completions(shell),
        Command::Man => completions::man(),
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
