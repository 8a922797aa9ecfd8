//! `duet doctor`: checks this device's home and says, in plain sentences,
//! what is wrong and the command that fixes it.
//!
//! It checks the key files and their modes, the store file (SQLite's own
//! integrity check), whether the journal opens and what it set aside as
//! damaged, whether this home was restored or is running twice, and the
//! daemon with its addresses and each device's connection, last sync,
//! address and clock. It changes nothing, except that opening the journal
//! sets damaged items aside, as every command does; `--repair` also does
//! what can be done on this device alone (`repair`).

use std::os::unix::fs::PermissionsExt;

use duet_core::journal::CLOCK_TOLERANCE_MS;
use duet_core::keys::{DeviceKey, JournalKey, KeyError};
use duet_core::store::Store;
use duet_daemon::client::{Client, ControlError};
use duet_daemon::control::PeerStatus;
use serde::Serialize;

use crate::context::Context;
use crate::{hints, render, safe};

#[derive(clap::Args, Debug, Default)]
pub struct Args {
    /// Also fix what can be fixed on this device alone: key and home
    /// permissions, the store file's indexes.
    #[arg(long)]
    pub repair: bool,
}

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

pub fn run(ctx: &Context, args: Args) -> anyhow::Result<()> {
    let mut findings = Vec::new();
    if args.repair {
        findings.extend(repair(ctx));
    }
    findings.extend(check(ctx));
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
            Err(KeyError::TooOpen { .. }) => out.push(bad(
                format!("{name} can be read by other users of this computer"),
                "run `duet doctor --repair` (it makes the file readable by you alone)",
            )),
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
            "run `duet doctor --repair`; if that does not help, restore store.sqlite from your backup of this home, or pair a new home with `duet join` (a partner's device sends the journal again)",
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
                    _ => match item.what.as_str() {
                        "roster" => "sealed device list".to_string(),
                        "base" => "sealed first change".to_string(),
                        other => other.to_string(),
                    },
                };
                let held = replica.ledger().vector();
                let back = match (item.author, item.seq, &item.covers) {
                    (Some(author), Some(seq), _) => held.is_ok_and(|v| v.get(&author) >= seq),
                    (_, _, Some(covers)) => held.is_ok_and(|v| v.dominates(covers)),
                    // A record the journal writes again itself.
                    _ => match item.what.as_str() {
                        name @ ("roster" | "base") => {
                            replica.store().record(name).is_ok_and(|r| r.is_some())
                        }
                        _ => false,
                    },
                };
                if back {
                    out.push(good(format!(
                        "the damaged {which}, set aside {}, is whole again",
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
    if replica
        .ledger()
        .removed()
        .contains_key(&replica.device_id())
    {
        out.push(bad(
            "this device was removed from the journal: it keeps what it had and gets nothing new (`duet status` says by whom)",
            "`duet export` saves a copy of what it has; to take part again, pair it as a new device: move this home aside and run `duet join`",
        ));
    }
    match replica.store().heals() {
        Ok(heals) => {
            if let Some(copy) = heals.iter().rev().find(|h| h.copy) {
                out.push(bad(
                    format!(
                        "another copy of this device's home was writing at the same time ({}); nothing was lost, but the two copies keep taking each other's writes back",
                        render::when(copy.at)
                    ),
                    "keep one copy: on the other computer, move its duet home aside and pair it as a new device with `duet join`",
                ));
            } else if let Some(last) = heals.last() {
                out.push(good(format!(
                    "this home was restored from a backup or copied ({}); it took back what a partner's device held of it, and nothing was lost",
                    render::when(last.at)
                )));
            }
        }
        Err(e) => out.push(bad(
            format!("cannot read the store: {}", safe::line(&e.to_string())),
            "restore store.sqlite from your backup of this home",
        )),
    }
    let mirrors: Vec<String> = replica
        .devices()
        .iter()
        .filter(|d| d.is_mirror())
        .map(|d| d.id.clone())
        .collect();
    let (peers, running) = match Client::connect(home.root()).and_then(|mut c| c.status()) {
        Ok(report) => {
            out.push(good("the daemon is running"));
            if let Some(reach) = &report.reachability {
                out.push(good(format!(
                    "this device's reachability, as its mirror sees it: {}",
                    safe::line(reach)
                )));
            }
            if report.addrs.is_empty() {
                out.push(bad(
                    "the daemon listens on no address, so no device can reach it",
                    "restart `duet daemon`; if it says an address is in use, give another with `duet daemon --listen`",
                ));
            } else {
                out.push(good(format!(
                    "the daemon listens on {}",
                    report
                        .addrs
                        .iter()
                        .map(|a| safe::line(a).into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
            (report.peers, true)
        }
        Err(ControlError::NotRunning) => {
            out.push(bad(
                "the daemon is not running, so nothing syncs",
                "start it with `duet daemon` (docs/duet-daemon.service runs it at login)",
            ));
            (
                crate::devices::peers_from_store(&replica).unwrap_or_default(),
                false,
            )
        }
        Err(e) => {
            out.push(bad(
                format!("the daemon does not answer: {}", safe::line(&e.to_string())),
                "restart it: stop `duet daemon` and start it again",
            ));
            (Vec::new(), false)
        }
    };
    let mirror_connected = peers
        .iter()
        .any(|p| p.connected && mirrors.contains(&p.device_id));
    for p in &peers {
        out.extend(check_peer(p, running, mirror_connected));
    }
    out
}

/// What is known of one other device: connected, last sync, where it can
/// be reached, and its clock.
/// `mirror_connected`: this device is connected to one of the journal's
/// mirrors, through which devices behind routers reach each other.
fn check_peer(p: &PeerStatus, running: bool, mirror_connected: bool) -> Vec<Finding> {
    let mut out = Vec::new();
    let who = format!("{}'s {}", safe::line(&p.person), safe::line(&p.name));
    let last = p.last_sync.map_or("never synced".into(), |t| {
        format!("last synced {}", render::when(t))
    });
    let relayed_known = p.addrs.iter().any(|a| a.contains("/p2p-circuit"));
    if p.connected && p.via.as_deref() == Some("relayed") {
        out.push(good(format!(
            "{who} is connected through a mirror ({last}); it becomes direct when both routers allow it (docs/mirror.md)"
        )));
    } else if p.connected {
        out.push(good(format!("{who} is connected ({last})")));
    } else if running {
        let fix = if p.addrs.is_empty() {
            "this device knows no address for it: put both devices on the same network (they find each other there), or pair again with `duet join --addr`"
        } else if relayed_known && !mirror_connected {
            "it is reached through a mirror, and this device is not connected to one: check that `duet mirror` runs on its machine and that this device can reach it (`duet status` lists it)"
        } else if relayed_known {
            "the mirror holds no slot for it: start `duet daemon` on that device; until then, what it wrote reaches you through the mirror"
        } else {
            "start `duet daemon` on that device; if it is on another network, behind a router no device can dial, run a mirror on an always-on machine with a reachable address (docs/mirror.md)"
        };
        out.push(bad(format!("{who} is not connected ({last})"), fix));
    } else {
        out.push(good(format!("{who}: {last}")));
    }
    if let Some(ahead) = p.clock_ahead {
        if ahead.abs() > CLOCK_TOLERANCE_MS {
            let minutes = ahead.abs() / 60_000;
            let (amount, unit) = if minutes >= 120 {
                (minutes / 60, "hours")
            } else {
                (minutes, "minutes")
            };
            out.push(bad(
                format!(
                    "{who}'s clock is about {amount} {unit} {} this device's: entries are dated by the clock of the device they are written on",
                    if ahead > 0 { "ahead of" } else { "behind" }
                ),
                "set both computers to take the date and time from the network (automatic date and time)",
            ));
        }
    }
    out
}

/// What `--repair` can do on this device alone: make the key files and
/// the home readable by this user alone, and rebuild the store file's
/// indexes when SQLite finds them damaged. What needs a partner's device
/// (a damaged envelope or snapshot) comes back through the daemon.
fn repair(ctx: &Context) -> Vec<Finding> {
    let home = &ctx.home;
    let mut out = Vec::new();
    let tighten = |path: &std::path::Path, mode: u32| -> std::io::Result<bool> {
        let meta = std::fs::metadata(path)?;
        if meta.permissions().mode() & 0o077 == 0 {
            return Ok(false);
        }
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))?;
        Ok(true)
    };
    let targets = [
        (home.root().to_path_buf(), 0o700, "the home directory"),
        (home.device_key_path(), 0o600, "device.key"),
        (home.journal_key_path(), 0o600, "journal.key"),
        (home.store_path(), 0o600, "store.sqlite"),
    ];
    for (path, mode, name) in targets {
        match tighten(&path, mode) {
            Ok(true) => out.push(good(format!("repaired: {name} is now yours alone"))),
            Ok(false) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => out.push(bad(
                format!("cannot change who may read {name}: {e}"),
                format!(
                    "make it readable by you alone: chmod {mode:o} {}",
                    path.display()
                ),
            )),
        }
    }
    if home.store_path().exists() {
        if let Ok(store) = Store::open(&home.store_path()) {
            if let Ok(Err(_)) = store.integrity_check() {
                match store.reindex() {
                    Ok(()) => out.push(good("repaired: rebuilt the store file's indexes")),
                    Err(e) => out.push(bad(
                        format!(
                            "cannot rebuild the store file's indexes: {}",
                            safe::line(&e.to_string())
                        ),
                        "restore store.sqlite from your backup of this home",
                    )),
                }
            }
        }
    }
    out
}
