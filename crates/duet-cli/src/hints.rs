//! The sentence a person reads when a command fails: what went wrong (the
//! error and its causes, as the libraries say them) and, for the failures
//! a person can do something about, what to do next.

use duet_core::home::HomeError;
use duet_core::keys::KeyError;
use duet_core::store::StoreError;
use duet_daemon::client::ControlError;
use duet_daemon::join::JoinError;
use duet_daemon::DaemonError;

/// What to do when no daemon runs for this home: start one now, or have
/// it run in the background from now on.
pub const START_DAEMON: &str =
    "start it with `duet daemon`, or keep it running in the background with `duet service install`";

/// The error as one sentence, with what to do when duet knows.
pub fn sentence(err: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in err.chain() {
        let said = cause.to_string();
        if text.contains(&said) {
            continue;
        }
        if !text.is_empty() {
            text.push_str(": ");
        }
        text.push_str(&said);
    }
    // The operating system's reason, in plain words: "permission
    // denied", not "Permission denied (os error 13)". Replaced wherever it
    // shows, which includes the messages that quote their cause.
    for cause in err.chain() {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            if let Some(plain) = plain_os_reason(io) {
                text = text.replace(&io.to_string(), &plain);
            }
        }
    }
    if let Some(hint) = err.chain().find_map(hint) {
        text.push_str("; ");
        text.push_str(&hint);
    }
    if let Some(first) = text.chars().next() {
        if first.is_uppercase() && !text.starts_with("I ") {
            text = first.to_lowercase().collect::<String>() + &text[first.len_utf8()..];
        }
    }
    text
}

/// An OS error as the words the system has for it, lowercased, without
/// its number ("read-only file system"); `None` for errors that are not
/// the operating system's, whose messages are duet's own.
fn plain_os_reason(io: &std::io::Error) -> Option<String> {
    let code = io.raw_os_error()?;
    let said = io.to_string();
    let words = said.strip_suffix(&format!(" (os error {code})"))?;
    let mut chars = words.chars();
    let first = chars.next()?;
    let acronym = chars.next().is_some_and(char::is_uppercase);
    Some(if acronym {
        words.to_string()
    } else {
        first.to_lowercase().collect::<String>() + &words[first.len_utf8()..]
    })
}

/// What a person can do about `error`, if duet knows.
fn hint(error: &(dyn std::error::Error + 'static)) -> Option<String> {
    if let Some(e) = error.downcast_ref::<HomeError>() {
        return match e {
            HomeError::NotInitialised(_) => Some(
                "start one with `duet init --person NAME` or pair this device with `duet join`"
                    .into(),
            ),
            HomeError::AlreadyInitialised(_) => {
                Some("use another --home to start a second one".into())
            }
            HomeError::Partial(_) => Some("move it aside and try again".into()),
            HomeError::MissingKey(path) => Some(format!(
                "restore {} from your backup of this home; do not start a new journal here",
                path.file_name().map_or_else(|| path.display().to_string(), |f| f.to_string_lossy().into_owned())
            )),
            HomeError::StoreMissing(_) => Some(
                "restore store.sqlite from your backup of this home; or, to start again, move the home aside and pair this device with `duet join`"
                    .into(),
            ),
            _ => None,
        };
    }
    if let Some(KeyError::TooOpen { path, .. }) = error.downcast_ref::<KeyError>() {
        return Some(format!("run `chmod 600 {path}`"));
    }
    if let Some(StoreError::TooNew { .. }) = error.downcast_ref::<StoreError>() {
        return Some("update duet".into());
    }
    if let Some(e) = error.downcast_ref::<ControlError>() {
        return match e {
            ControlError::NotRunning => Some(START_DAEMON.into()),
            ControlError::Version { .. } => Some("restart the daemon".into()),
            _ => None,
        };
    }
    if let Some(DaemonError::AlreadyRunning { .. }) = error.downcast_ref::<DaemonError>() {
        return Some("stop it first".into());
    }
    if let Some(e) = error.downcast_ref::<JoinError>() {
        return match e {
            JoinError::NoAddress => {
                Some("pass --addr, use --uri, or join on the same network (mDNS)".into())
            }
            JoinError::Timeout(_) => {
                Some("check the address and that `duet invite` is still waiting".into())
            }
            JoinError::Unreachable { .. } => {
                Some("check the address and that its daemon runs".into())
            }
            JoinError::WrongCode => Some("ask for a new one".into()),
            _ => None,
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_reads_as_what_went_wrong_then_what_to_do() {
        let err = anyhow::Error::from(HomeError::NotInitialised("/tmp/x".into()));
        assert_eq!(
            sentence(&err),
            "there is no journal in /tmp/x; start one with `duet init --person NAME` or pair this device with `duet join`"
        );
        let err = anyhow::Error::from(ControlError::NotRunning);
        assert_eq!(
            sentence(&err),
            "no daemon is running for this home; start it with `duet daemon`, or keep it running in the background with `duet service install`"
        );
    }

    #[test]
    fn causes_follow_without_repeating_themselves() {
        let err = anyhow::Error::from(std::io::Error::other("inner")).context("outer");
        assert_eq!(sentence(&err), "outer: inner");
        let err = anyhow::Error::from(std::io::Error::other("inner")).context("outer: inner");
        assert_eq!(sentence(&err), "outer: inner");
        let err = anyhow::Error::from(std::io::Error::other("Once"));
        assert_eq!(sentence(&err), "once");
    }

    #[test]
    fn the_systems_reason_reads_as_plain_words() {
        let denied = || std::io::Error::from_raw_os_error(13);
        let err = anyhow::Error::from(denied()).context("cannot create x.md");
        assert_eq!(sentence(&err), "cannot create x.md: permission denied");
        // A message that quotes its cause, as thiserror's do.
        let err = anyhow::Error::from(HomeError::Create {
            path: "/h".into(),
            source: std::io::Error::from_raw_os_error(30),
        });
        assert_eq!(sentence(&err), "cannot create /h: read-only file system");
    }
}
