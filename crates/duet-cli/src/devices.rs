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

pub fn devices(ctx: &Context) -> anyhow::Result<()> {
    let replica = ctx.open()?;
    let me = replica.device_id().to_text();
    let devices = replica.devices().to_vec();
    if ctx.json {
        let list: Vec<_> = devices
            .iter()
            .map(|d| {
                json!({
                    "id": d.id, "person": d.person, "name": d.name,
                    "added_by": d.added_by, "added_at": d.added_at, "this_device": d.id == me,
                })
            })
            .collect();
        return ctx.print_json(&list);
    }
    println!("Devices that can read and write this journal:");
    for d in &devices {
        let this = if d.id == me { "  (this device)" } else { "" };
        println!(
            "  {:<10} {:<16} {}  {}, {}{this}",
            safe::line(&d.person),
            safe::line(&d.name),
            safe::prefix(&d.id, 8),
            describe_adder(&devices, d),
            render::when(d.added_at)
        );
    }
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
        let record = replica.store().peer(&id)?;
        let theirs = record.vector.clone().unwrap_or_else(VersionVector::new);
        peers.push(PeerStatus {
            device_id: d.id,
            person: d.person,
            name: d.name,
            connected: false,
            last_sync: record.last_sync,
            waiting: replica.waiting_for(&theirs)?,
            clock_ahead: record.clock_ahead,
            addrs: record.addrs.clone(),
        });
    }
    Ok(peers)
}

pub fn status(ctx: &Context) -> anyhow::Result<()> {
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
    println!(
        "daemon:    {}",
        if running {
            "running"
        } else {
            "not running (start it with `duet daemon`)"
        }
    );
    println!("device:    {}", safe::prefix(&report.device_id, 8));
    for addr in &report.addrs {
        println!("listening: {}", safe::line(addr));
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
            if p.connected {
                "connected"
            } else {
                "not connected"
            },
            p.waiting
        );
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
    drop(ctx.open()?);
    let peers = Client::connect(ctx.home.root())?.sync()?;
    if ctx.json {
        return ctx.print_json(&json!({ "peers": peers }));
    }
    if peers.is_empty() {
        println!("No other device is connected; the daemon keeps trying to reach them.");
    }
    for p in peers {
        println!(
            "{}: {} received, {} sent{}",
            safe::prefix(&p.device_id, 8),
            p.received,
            p.sent,
            if p.ok { "" } else { " (no answer)" }
        );
    }
    Ok(())
}
