//! What a device's daemon and a mirror do alike with their peers: dial
//! the members they know an address of, keep what the sync engine
//! learned of a peer (its vector, clock and addresses), and keep the gate
//! in step with the membership.

use std::time::Instant;

use duet_core::journal::DeviceRecord;
use duet_core::ledger::Ledger;
use duet_core::sync::{Engine, Event};
use duet_core::DeviceId;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::{Multiaddr, PeerId, Swarm};

use crate::behaviour::Behaviour;
use crate::gate::Members;
use crate::identity;
use crate::redial::Redial;

/// Dials each current member that is not connected, at its remembered
/// addresses, with `redial`'s backoff (`force`: now, whatever it says). A
/// removed device has nobody left to call.
pub(crate) fn dial_members(
    swarm: &mut Swarm<Behaviour>,
    ledger: &Ledger,
    devices: &[DeviceRecord],
    redial: &mut Redial,
    force: bool,
) {
    let now = Instant::now();
    let me = ledger.device_id();
    if ledger.removed().contains_key(&me) {
        return;
    }
    let members: Vec<DeviceId> = ledger
        .members()
        .iter()
        .copied()
        .filter(|d| *d != me && ledger.is_current_member(d))
        .collect();
    for device in members {
        let Some(peer) = identity::peer_id(&device) else {
            continue;
        };
        if swarm.is_connected(&peer) || !redial.due(peer, now, force) {
            continue;
        }
        let addrs: Vec<Multiaddr> = ledger
            .store()
            .peer(&device)
            .map(|r| r.addrs.iter().filter_map(|a| a.parse().ok()).collect())
            .unwrap_or_default();
        if addrs.is_empty() {
            continue;
        }
        let opts = DialOpts::peer_id(peer).addresses(addrs).build();
        if let Err(e) = swarm.dial(opts) {
            let peer = identity::named(&peer, devices);
            tracing::debug!(%peer, error = %e, "dial failed");
        }
    }
}

/// Keeps in the store what an engine event says of a peer: its vector at
/// a sync, its clock, where it listens, where it reached other devices.
/// Returns the events that are about something else.
pub(crate) fn record(ledger: &Ledger, event: Event<PeerId>, now_ms: i64) -> Option<Event<PeerId>> {
    let store = ledger.store();
    match event {
        Event::Vector { peer, vector } => {
            if let Some(device) = identity::device_id(&peer) {
                let _ = store.record_sync(&device, now_ms, &vector);
            }
        }
        Event::Holds {
            peer,
            covers,
            changes,
        } => {
            if let Some(device) = identity::device_id(&peer) {
                let _ = store.record_holds(&device, now_ms, &covers, &changes);
            }
        }
        Event::Clock { peer, ahead_ms } => {
            if let Some(device) = identity::device_id(&peer) {
                let _ = store.record_clock(&device, ahead_ms);
            }
        }
        Event::Addresses { peer, addrs } => {
            let device = identity::device_id(&peer)?;
            let addrs: Vec<String> = addrs
                .into_iter()
                .filter_map(|a| Multiaddr::try_from(a).ok())
                .map(|a| a.to_string())
                .collect();
            if !addrs.is_empty() {
                let _ = store.remember_addrs(&device, &addrs);
            }
        }
        Event::PeerAddresses { from, addrs } => {
            for (device, addr) in addrs {
                if let Ok(addr) = addr.parse::<Multiaddr>() {
                    if let Err(e) = store.learn_addrs(&device, &[addr.to_string()]) {
                        tracing::debug!(peer = %from, error = %e, "cannot keep a reported address");
                    }
                }
            }
        }
        other => return Some(other),
    }
    None
}

/// Tells the gate the membership when it changed since `size` (the
/// membership's size as last told): members, and removed devices, whose
/// connections are closed at once.
pub(crate) fn update_gate(
    gate: &Members,
    ledger: &Ledger,
    devices: &[DeviceRecord],
    engine: &mut Engine<PeerId>,
    swarm: &mut Swarm<Behaviour>,
    size: &mut usize,
) {
    let members = ledger.members();
    let removed = ledger.removed();
    let now = members.len() + removed.len() * (members.len() + 1);
    if now == *size {
        return;
    }
    *size = now;
    let me = ledger.device_id();
    let peers: Vec<PeerId> = members
        .iter()
        .filter(|d| **d != me && !removed.contains_key(d))
        .filter_map(identity::peer_id)
        .collect();
    let gone: Vec<PeerId> = removed.keys().filter_map(identity::peer_id).collect();
    gate.set(peers);
    gate.set_removed(gone.clone());
    for peer in gone {
        if engine.is_connected(&peer) {
            let name = identity::named(&peer, devices);
            tracing::info!(peer = %name, "a connected device was removed from the journal; closing its connection");
            engine.disconnected(&peer);
            let _ = swarm.disconnect_peer_id(peer);
        }
    }
}

/// Strangers may no longer connect (no invitation is open, or a mirror's
/// pairing window ended); those connected are sent away.
pub(crate) fn close_pairing(gate: &Members, swarm: &mut Swarm<Behaviour>) {
    gate.set_pairing_open(false);
    let strangers: Vec<PeerId> = swarm
        .connected_peers()
        .filter(|p| !gate.is_member(p))
        .copied()
        .collect();
    for peer in strangers {
        let _ = swarm.disconnect_peer_id(peer);
    }
}
