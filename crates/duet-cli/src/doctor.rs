//! `duet doctor`: checks this device's home and says, in plain sentences,
//! what is wrong and the command that fixes it.
//!
//! It checks the key files and their modes, the store file (SQLite's own
//! integrity check), whether the journal opens and what it set aside as
//! damaged, and the daemon with each device's connection and last sync.
//! It changes nothing, except that opening the journal sets damaged items
//! aside, as every command does.

use duet_core::keys::{DeviceKey, JournalKey};
use duet_core::store::Store;
use duet_daemon::client::{Client, ControlError};
use serde::Serialize;

use crate::context::Context;
use crate::{hints, render, safe};

#[derive(Serialize)]
struct Finding {
    ok: bool,
    what: String,
    /// The command or step that fixes it, when something is wrong.
    fix: Option<String>,
}

fn good(what: impl Into<String>) -> Finding {
    Finding {
        ok: true,
        what: what.into(),
        fix: None,
    }
}

fn bad(what: impl Into<String>, fix: impl Into<String>) -> Finding {
    Finding {
        ok: false,
        what: what.into(),
        fix: Some(fix.into()),
    }
}

pub fn run(ctx: &Context) -> anyhow::Result<()> {
    let findings = check(ctx);
    let problems = findings.iter().filter(|f| !f.ok).count();
    if ctx.json {
        ctx.print_json(&serde_json::json!({ "problems": problems, "findings": findings }))?;
    } else {
        for f in &findings {
            let mark = if f.ok { "ok " } else { "!! " };
            println!("{mark} {}", f.what);
            if let Some(fix) = &f.fix {
                println!("    fix: {fix}");
            }
        }
        if problems == 0 {
            println!("Nothing is wrong with this home.");
        }
    }
    anyhow::ensure!(
        problems == 0,
        "{problems} problem(s) found; each says what fixes it"
    );
    Ok(())
}

fn check(ctx: &Context) -> Vec<Finding> {
    let home = &ctx.home;
    let mut out = Vec::new();
    let root = home.root().display().to_string();
    if !home.root().exists() {
        out.push(bad(
            format!("there is no home at {root}"),
            "start a journal with `duet init --person NAME`, or pair this device with `duet join`",
        ));
        return out;
    }
    let device = DeviceKey::read(&home.device_key_path()).map(drop);
    let journal = JournalKey::read(&home.journal_key_path()).map(drop);
    for (name, read) in [("device.key", device), ("journal.key", journal)] {
        match read {
            Ok(()) => out.push(good(format!("{name} is there and only you can read it"))),
            Err(e) => {
                let sentence = hints::sentence(&anyhow::Error::from(e));
                out.push(bad(
                    safe::line(&sentence).into_owned(),
                    format!(
                        "restore {name} from your backup of this home, or follow the hint above"
                    ),
                ));
            }
        }
    }
    if !home.store_path().exists() {
        out.push(bad(
            "the store (store.sqlite) is missing",
            "restore store.sqlite from your backup of this home",
        ));
        return out;
    }
    match Store::open(&home.store_path()).and_then(|s| s.integrity_check()) {
        Ok(Ok(())) => out.push(good("the store file is sound")),
        Ok(Err(what)) => out.push(bad(
            format!("the store file is damaged: {}", safe::line(&what)),
            "restore store.sqlite from your backup of this home; a partner's device can also send the journal again to a new home (`duet join`)",
        )),
        Err(e) => out.push(bad(
            format!("the store cannot be read: {}", safe::line(&e.to_string())),
            "restore store.sqlite from your backup of this home",
        )),
    }
    let replica = match ctx.open() {
        Ok(replica) => replica,
        Err(e) => {
            let sentence = hints::sentence(&e);
            out.push(bad(
                format!("the journal does not open: {}", safe::line(&sentence)),
                "follow the hint in that sentence",
            ));
            return out;
        }
    };
    out.push(good(format!(
        "the journal opens: {} entries",
        replica.journal().len()
    )));
    match replica.store().quarantined() {
        Ok(items) if items.is_empty() => out.push(good("nothing in the store was damaged")),
        Ok(items) => {
            for item in items {
                let which = match (item.author, item.seq) {
                    (Some(author), Some(seq)) => {
                        format!("envelope {seq} of device {}", author.short())
                    }
                    _ => item.what.clone(),
                };
                let back = match (item.author, item.seq) {
                    (Some(author), Some(seq)) => replica
                        .ledger()
                        .vector()
                        .is_ok_and(|v| v.get(&author) >= seq),
                    _ => false,
                };
                if back {
                    out.push(good(format!(
                        "the damaged {which}, set aside {}, came back from a partner's device",
                        render::when(item.at)
                    )));
                } else {
                    out.push(bad(
                        format!("the damaged {which} was set aside {}", render::when(item.at)),
                        "run `duet daemon` while a partner's device is online: it sends a good copy",
                    ));
                }
            }
        }
        Err(e) => out.push(bad(
            format!("cannot read what was set aside: {e}"),
            "restore store.sqlite from your backup of this home",
        )),
    }
    match Client::connect(home.root()).and_then(|mut c| c.status()) {
        Ok(report) => {
            out.push(good("the daemon is running"));
            for p in report.peers {
                let who = format!("{}'s {}", safe::line(&p.person), safe::line(&p.name));
                let last = p.last_sync.map_or("never synced".into(), |t| {
                    format!("last synced {}", render::when(t))
                });
                if p.connected {
                    out.push(good(format!("{who} is connected ({last})")));
                } else {
                    out.push(bad(
                        format!("{who} is not connected ({last})"),
                        "start `duet daemon` on that device; on another network, give its address with `duet join --addr` or wait for mirrors (issue 12)",
                    ));
                }
            }
        }
        Err(ControlError::NotRunning) => out.push(bad(
            "the daemon is not running, so nothing syncs",
            "start it with `duet daemon` (docs/duet-daemon.service runs it at login)",
        )),
        Err(e) => out.push(bad(
            format!("the daemon does not answer: {}", safe::line(&e.to_string())),
            "restart it: stop `duet daemon` and start it again",
        )),
    }
    out
}
