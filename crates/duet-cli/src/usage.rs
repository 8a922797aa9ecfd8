//! Usage mistakes, said whole: what clap found (the missing argument's
//! name, a similar subcommand, the values allowed, the `--` tip), the
//! usage line, and a pointer to the help of the subcommand in hand.
//! Exit code 2, as for every usage error.

use std::process::ExitCode;

use clap::error::ErrorKind;

/// Prints `err` and gives the exit code. Help and version are not
/// mistakes: they print as clap makes them and succeed.
pub fn error(err: clap::Error, command: &clap::Command) -> ExitCode {
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
    let mut lines: Vec<&str> = rendered
        .lines()
        .filter(|l| !l.starts_with("For more information, try"))
        .collect();
    while lines.last().is_some_and(|l| l.trim().is_empty()) {
        lines.pop();
    }
    // clap's own suggestion misses swapped letters (`lgo` for `log`).
    let tip = match (
        err.kind(),
        err.get(clap::error::ContextKind::InvalidSubcommand),
    ) {
        (ErrorKind::InvalidSubcommand, Some(clap::error::ContextValue::String(typed)))
            if !rendered.contains("similar subcommand") =>
        {
            similar(typed, command)
                .map(|name| format!("\n  tip: a similar subcommand exists: '{name}'"))
        }
        _ => None,
    };
    if let (Some(tip), false) = (&tip, lines.is_empty()) {
        lines.insert(1, tip);
    }
    let text = lines.join("\n");
    let text = text.strip_prefix("error: ").unwrap_or(&text);
    eprintln!("duet: {}", crate::safe::text(text));
    eprintln!();
    eprintln!("See `{} --help`.", help_path(command));
    ExitCode::from(2)
}

/// The visible subcommand closest to `typed`: at most two edits away,
/// a swap of two letters counting as one.
fn similar<'a>(typed: &str, command: &'a clap::Command) -> Option<&'a str> {
    command
        .get_subcommands()
        .filter(|c| !c.is_hide_set())
        .map(|c| (strsim::osa_distance(typed, c.get_name()), c.get_name()))
        .filter(|(d, name)| *d <= 2 && *d < name.len())
        .min_by_key(|(d, _)| *d)
        .map(|(_, name)| name)
}

/// `duet`, or `duet show` when the command line names a subcommand (and
/// `duet devices remove` for one below it): whose help explains it.
fn help_path(command: &clap::Command) -> String {
    let mut path = vec![command.get_name().to_string()];
    let mut at = command;
    for arg in std::env::args().skip(1) {
        if arg.starts_with('-') {
            continue;
        }
        match at.find_subcommand(&arg) {
            Some(sub) => {
                path.push(sub.get_name().to_string());
                at = sub;
            }
            None => break,
        }
    }
    path.join(" ")
}
