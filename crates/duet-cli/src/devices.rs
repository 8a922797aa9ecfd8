//! `duet devices`, `duet status` and `duet sync`: who can read the
//! journal, and how the daemon is doing.

use duet_core::journal::DeviceRecord;
use duet_core::VersionVector;
use duet_daemon::client::{Client, ControlError};
use duet_daemon::control::{PeerStatus, StatusReport};
use serde_json::json;

use crate::context::Context;
use crate::render;
use crate::safe;

fn describe_adder(devices: &[DeviceRecord], d: &DeviceRecord) -> String {
    match &d.added_by {
        None => "started the journal".to_string(),
        Some(by) => match devices.iter().find(|x| &x.id == by) {
            Some(x) => format!(
                "added by {}'s {}",
                safe::line(&x.person),
                safe::line(&x.name)
            ),
            None => format!("added by {}", safe::prefix(by, 8)),
        },
    }
}

#[derive(clap::Subcommand)]
pub enum Action {
    /// Take a device out of the journal (a lost or stolen laptop): it
    /// reads nothing written from now on, and what it writes is refused.
    Remove {
        /// The device's id, or the start of it (as `duet devices` shows).
        id: String,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
}

/// "Alex's laptop (abcd1234)" for a device id, as far as the list knows it.
fn describe(devices: &[DeviceRecord], id: &str) -> String {
    match devices.iter().find(|d| d.id == id) {
        Some(d) => label(&d.person, &d.name, &d.id),
        None => label("", "", id),
    }
}

/// "Alex's laptop (abcd1234)", as `duet devices` names a device; "device
/// abcd1234" when its person is not known.
fn label(person: &str, name: &str, id: &str) -> String {
    if person.is_empty() {
        return format!("device {}", safe::prefix(id, 8));
    }
    format!(
        "{}'s {} ({})",
        safe::line(person),
        safe::line(name),
        safe::prefix(id, 8)
    )
}

pub fn devices(ctx: &Context) -> anyhow::Result<()> {
    let replica = ctx.open()?;
    let me = replica.device_id().to_text();
    let all = replica.devices().to_vec();
    // A person's decision first; records that only followed it after.
    let mut removals = replica.journal().removals();
    removals.sort_by_key(|r| r.follows);
    let is_removed = |id: &str| removals.iter().any(|r| r.device == id);
    let devices: Vec<DeviceRecord> = all.iter().filter(|d| !is_removed(&d.id)).cloned().collect();
    if ctx.json {
        let list: Vec<_> = all
            .iter()
            .map(|d| {
                let removal = removals.iter().find(|r| r.device == d.id);
                json!({
                    "id": d.id, "person": d.person, "name": d.name,
                    "added_by": d.added_by, "added_at": d.added_at, "this_device": d.id == me,
                    "mirror": d.is_mirror(),
                    "removed": removal.map(|r| json!({ "by": r.by, "at": r.at })),
                })
            })
            .collect();
        return ctx.print_json(&list);
    }
    println!("Devices that can read and write this journal:");
    for d in &devices {
        let this = if d.id == me {
            "  (this device)"
        } else if d.is_mirror() {
            "  (a mirror: stores it sealed, reads nothing)"
        } else {
            ""
        };
        println!(
            "  {:<10} {:<16} {}  {}, {}{this}",
            safe::line(&d.person),
            safe::line(&d.name),
            safe::prefix(&d.id, 8),
            describe_adder(&all, d),
            render::when(d.added_at)
        );
    }
    let removed: Vec<&DeviceRecord> = all.iter().filter(|d| is_removed(&d.id)).collect();
    if !removed.is_empty() {
        println!("Removed (they read nothing written since):");
        for d in removed {
            let this = if d.id == me { "  (this device)" } else { "" };
            if let Some(r) = removals.iter().find(|r| r.device == d.id) {
                println!(
                    "  {:<10} {:<16} {}  removed by {}, {}{this}",
                    safe::line(&d.person),
                    safe::line(&d.name),
                    safe::prefix(&d.id, 8),
                    describe(&all, &r.by),
                    render::when(r.at)
                );
            }
        }
    }
    Ok(())
}

/// The one device of the journal whose id starts with `prefix`.
fn find_device(devices: &[DeviceRecord], prefix: &str) -> anyhow::Result<DeviceRecord> {
    let prefix = prefix.trim().to_ascii_lowercase();
    anyhow::ensure!(
        prefix.len() >= 4,
        "give at least the first 4 characters of the device's id (`duet devices` lists them)"
    );
    let found: Vec<&DeviceRecord> = devices
        .iter()
        .filter(|d| d.id.starts_with(&prefix))
        .collect();
    match found.as_slice() {
        [one] => Ok((*one).clone()),
        [] => anyhow::bail!(
            "no device of this journal has an id starting with {prefix}; `duet devices` lists them"
        ),
        _ => {
            anyhow::bail!("more than one device has an id starting with {prefix}; give more of it")
        }
    }
}

/// Asks on the terminal; without one, refuses and says to use `--yes`.
fn confirm(question: &str) -> anyhow::Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "there is no terminal to ask on; run it again with --yes to go ahead without asking"
        );
    }
    crate::context::ask_yes_no(question)
}

pub fn remove(ctx: &Context, id: &str, yes: bool) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    ctx.check_writable()?;
    let all = replica.devices().to_vec();
    let device = find_device(&all, id)?;
    let me = replica.device_id().to_text();
    if !ctx.json {
        println!(
            "{}'s device \"{}\" ({}), {}, {}.",
            safe::line(&device.person),
            safe::line(&device.name),
            safe::prefix(&device.id, 8),
            describe_adder(&all, &device),
            render::when(device.added_at)
        );
    }
    if device.id == me {
        anyhow::bail!("this is the device you are on; to take all of your devices out of the journal, use `duet leave`");
    }
    if !yes && !confirm(
        "Remove it? It will read nothing written from now on, and what it writes will be refused.",
    )? {
        println!("Nothing was removed.");
        return Ok(());
    }
    let id = duet_core::DeviceId::from_text(&device.id)
        .ok_or_else(|| anyhow::anyhow!("the device's id is malformed"))?;
    let removal = replica.remove_device(&id, crate::context::now_ms())?;
    if ctx.json {
        ctx.print_json(
            &json!({ "removed": device.id, "cut": removal.cut, "epoch": removal.epoch }),
        )?;
    } else {
        println!(
            "Removed {}'s \"{}\". The journal has a new key, which the devices that stay receive; it cannot read anything written from now on.",
            safe::line(&device.person),
            safe::line(&device.name)
        );
    }
    ctx.tidy(&mut replica);
    Ok(())
}

pub fn leave(ctx: &Context, yes: bool) -> anyhow::Result<()> {
    let mut replica = ctx.open()?;
    ctx.check_writable()?;
    let me = replica.device_id();
    let person = replica
        .devices()
        .iter()
        .find(|d| d.id == me.to_text())
        .map(|d| d.person.clone())
        .ok_or_else(|| anyhow::anyhow!("this device is not in the journal's device list"))?;
    let removed = replica.ledger().removed().clone();
    let mine: Vec<duet_core::DeviceId> = replica
        .devices()
        .iter()
        .filter(|d| d.person == person)
        .filter_map(|d| duet_core::DeviceId::from_text(&d.id))
        .filter(|d| !removed.contains_key(d))
        .collect();
    if !ctx.json {
        println!(
            "This takes all of {}'s devices ({}) out of the shared journal. Your partner keeps the journal; this device keeps a readable copy of everything written until now (`duet export` saves it), and reads nothing new.",
            safe::line(&person),
            mine.len()
        );
    }
    if !yes && !confirm("Leave the shared journal?")? {
        println!("Nothing changed.");
        return Ok(());
    }
    // The others first, this device last: each removal is sealed to the
    // devices that stay, and this one still reads until it leaves.
    let now = crate::context::now_ms();
    for device in mine.iter().filter(|d| **d != me) {
        replica.remove_device(device, now)?;
    }
    replica.remove_device(&me, now)?;
    if ctx.json {
        ctx.print_json(&json!({ "left": mine.iter().map(|d| d.to_text()).collect::<Vec<_>>() }))?;
    } else {
        println!("You left the shared journal. Run `duet daemon` once more while your partner's device is online, so it learns that you left.");
    }
    ctx.tidy(&mut replica);
    Ok(())
}

/// Status from the store alone, when no daemon runs.
fn offline_status(ctx: &Context) -> anyhow::Result<StatusReport> {
    let replica = ctx.open()?;
    let me = replica.device_id();
    Ok(StatusReport {
        device_id: me.to_text(),
        addrs: Vec::new(),
        peers: peers_from_store(&replica)?,
        reachability: None,
    })
}

/// What the store remembers of every other device (none connected).
pub fn peers_from_store(replica: &duet_core::replica::Replica) -> anyhow::Result<Vec<PeerStatus>> {
    let me = replica.device_id();
    let mut peers = Vec::new();
    for d in replica.devices().to_vec() {
        if d.id == me.to_text() {
            continue;
        }
        let Some(id) = duet_core::DeviceId::from_text(&d.id) else {
            continue;
        };
        if replica.ledger().removed().contains_key(&id) {
            continue;
        }
        let record = replica.store().peer(&id)?;
        let theirs = record.vector.clone().unwrap_or_else(VersionVector::new);
        peers.push(PeerStatus {
            device_id: d.id,
            person: d.person,
            name: d.name,
            connected: false,
            last_sync: record.last_sync,
            waiting: replica.waiting_for(&theirs)?,
            to_go: replica.member().tally_waiting(&theirs)?,
            clock_ahead: record.clock_ahead,
            addrs: record.addrs.clone(),
            via: None,
        });
    }
    Ok(peers)
}

pub fn status(ctx: &Context) -> anyhow::Result<()> {
    if ctx.home.is_mirror() {
        return mirror_status(ctx);
    }
    let (running, report) = match Client::connect(ctx.home.root()) {
        Ok(mut client) => (true, client.status()?),
        Err(ControlError::NotRunning) => (false, offline_status(ctx)?),
        Err(e) => return Err(e.into()),
    };
    let heals = duet_core::store::Store::open(&ctx.home.store_path())
        .and_then(|store| store.heals())
        .unwrap_or_default();
    if ctx.json {
        let heals: Vec<_> = heals
            .iter()
            .map(|h| json!({ "at": h.at, "resealed": h.resealed, "copy": h.copy }))
            .collect();
        return ctx.print_json(
            &json!({ "daemon_running": running, "status": report, "restores": heals }),
        );
    }
    if running {
        println!("daemon:    running");
    } else {
        println!("daemon:    not running ({})", crate::hints::START_DAEMON);
    }
    let devices = ctx.open().map(|r| r.devices().to_vec()).unwrap_or_default();
    println!("device:    {}", describe(&devices, &report.device_id));
    for addr in &report.addrs {
        println!("listening: {}", safe::line(addr));
    }
    if let Some(reach) = &report.reachability {
        println!("reachable: {}", safe::line(reach));
    }
    if report.peers.is_empty() {
        println!("No other devices yet; add one with `duet invite`.");
    }
    for p in &report.peers {
        let last = p.last_sync.map_or("never synced".to_string(), |t| {
            format!("last sync {}", render::when(t))
        });
        println!(
            "  {:<10} {:<16} {}  {:<13} {last}, {} waiting to go",
            safe::line(&p.person),
            safe::line(&p.name),
            safe::prefix(&p.device_id, 8),
            match (p.connected, p.via.as_deref()) {
                (true, Some("relayed")) => "relayed",
                (true, Some("direct")) => "direct",
                (true, _) => "connected",
                (false, _) => "not connected",
            },
            p.to_go.sentence()
        );
    }
    if let Some(text) = removed_sentence(ctx) {
        println!("\n{text}");
    }
    if let Some(copy) = heals.iter().rev().find(|h| h.copy) {
        println!(
            "\nAnother copy of this device's home was writing at the same time ({}).\n\
             Nothing was lost: each copy takes back what the other wrote. But keep one:\n\
             on the other computer, move its duet home aside and run `duet join` there\n\
             to pair it as a new device.",
            render::when(copy.at)
        );
    } else if let Some(last) = heals.last() {
        println!(
            "\nThis home was restored from a backup, or copied ({}): a partner's device\n\
             held entries this one did not, and took them back{}. Nothing was lost.",
            render::when(last.at),
            match last.resealed {
                0 => String::new(),
                1 => "; 1 change written here since was sent again".to_string(),
                n => format!("; {n} changes written here since were sent again"),
            }
        );
    }
    Ok(())
}

pub fn sync(ctx: &Context) -> anyhow::Result<()> {
    let devices = ctx.open()?.devices().to_vec();
    let peers = Client::connect(ctx.home.root())?.sync()?;
    if ctx.json {
        return ctx.print_json(&json!({ "peers": peers }));
    }
    if peers.is_empty() {
        println!("No other device is connected; the daemon keeps trying to reach them.");
    }
    for p in peers {
        let who = match p.person.as_str() {
            "" => describe(&devices, &p.device_id),
            person => label(person, &p.name, &p.device_id),
        };
        let (got, gave) = (&p.received_tally, &p.sent_tally);
        if !p.ok {
            println!("{who}: no answer yet; the daemon keeps trying.");
        } else if got.is_empty() && gave.is_empty() {
            println!("{who}: already in step, nothing to send or receive.");
        } else {
            println!(
                "{who}: received {}, sent {}.",
                got.sentence(),
                gave.sentence()
            );
        }
    }
    Ok(())
}

/// When this device was removed from the journal: by whom, when, and what
/// it can still do. `None` while it is a member.
pub fn removed_sentence(ctx: &Context) -> Option<String> {
    let replica = ctx.open().ok()?;
    let me = replica.device_id();
    if !replica.ledger().removed().contains_key(&me) {
        return None;
    }
    let (by, at) = replica.store().removed_by(&me).ok().flatten()?;
    let by = if by == me.to_text() {
        "this device itself (it left)".to_string()
    } else {
        describe(replica.devices(), &by)
    };
    Some(format!(
        "This device was removed from the journal by {by}, {}.\n\
         It keeps everything it had, readable, and gets nothing new.\n\
         `duet export` saves a copy of what it has; `duet join` pairs it again as a new device.",
        render::when(at)
    ))
}

/// `duet status` on a mirror: it knows devices by id only.
fn mirror_status(ctx: &Context) -> anyhow::Result<()> {
    let report = match Client::connect(ctx.home.root()) {
        Ok(mut client) => Some(client.status()?),
        Err(ControlError::NotRunning) => None,
        Err(e) => return Err(e.into()),
    };
    if ctx.json {
        return ctx.print_json(
            &json!({ "mirror": true, "daemon_running": report.is_some(), "status": report }),
        );
    }
    let Some(report) = report else {
        println!("mirror:    not running (start it with `duet mirror`)");
        return Ok(());
    };
    println!("mirror:    running; it holds the journal sealed, with no key");
    println!("device:    {}", safe::prefix(&report.device_id, 8));
    for addr in &report.addrs {
        println!("listening: {}", safe::line(addr));
    }
    for p in &report.peers {
        let last = p.last_sync.map_or("never synced".to_string(), |t| {
            format!("last sync {}", render::when(t))
        });
        // It holds no key, so what waits is sealed changes to it.
        println!(
            "  {}  {:<13} {last}, {} sealed changes waiting to go",
            safe::prefix(&p.device_id, 8),
            if p.connected {
                "connected"
            } else {
                "not connected"
            },
            p.waiting
        );
    }
    Ok(())
}
