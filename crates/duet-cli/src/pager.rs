//! Long output through a pager on a terminal, as git does it: `DUET_PAGER`,
//! else `PAGER`, else `less`, with `LESS=FRX` unless the person set `LESS`
//! (quit when it fits on one screen, keep colours, leave the text on the
//! screen). An empty pager or `cat` means none. Piped output, `--json`
//! and `--no-pager` print directly.

use std::io::{IsTerminal, Write};
use std::process::{Command, Stdio};

/// Prints `text` (which ends without a newline), through the pager when
/// `page` and stdout is a terminal.
pub fn print(text: &str, page: bool) {
    if page && std::io::stdout().is_terminal() {
        if let Some(pager) = chosen() {
            if through(&pager, text) {
                return;
            }
        }
    }
    println!("{text}");
}

/// The pager command, or `None` when the person asked for none.
fn chosen() -> Option<String> {
    let pager = std::env::var("DUET_PAGER")
        .or_else(|_| std::env::var("PAGER"))
        .unwrap_or_else(|_| "less".to_string());
    let pager = pager.trim().to_string();
    (!pager.is_empty() && pager != "cat").then_some(pager)
}

/// Runs `pager` through the shell (it may carry arguments, as `PAGER`
/// often does) and writes `text` to it; false when it could not start,
/// so that the caller prints the text itself. A pager the person quits
/// early closes its end: that is not an error.
fn through(pager: &str, text: &str) -> bool {
    let mut command = Command::new("sh");
    command.arg("-c").arg(pager).stdin(Stdio::piped());
    if std::env::var_os("LESS").is_none() {
        command.env("LESS", "FRX");
    }
    if std::env::var_os("LV").is_none() {
        command.env("LV", "-c");
    }
    let Ok(mut child) = command.spawn() else {
        return false;
    };
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(text.as_bytes());
        let _ = stdin.write_all(b"\n");
    }
    // 127: the shell found no such command; the text was not shown.
    !matches!(child.wait(), Ok(status) if status.code() == Some(127))
}
