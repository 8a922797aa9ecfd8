//! `duet sync` waiting for its answers: one hello to each connected
//! device, answered when every hello is settled or after a deadline.

use std::collections::HashMap;
use std::time::Instant;

use duet_core::journal::Tally;
use duet_core::sync::Exchange;
use libp2p::request_response::OutboundRequestId;
use libp2p::PeerId;
use tokio::sync::oneshot;

use duet_core::journal::DeviceRecord;

use crate::control::SyncedPeer;
use crate::identity;

/// One `duet sync`.
pub struct Waiter {
    waiting: HashMap<OutboundRequestId, PeerId>,
    peers: HashMap<PeerId, SyncedPeer>,
    deadline: Instant,
    reply: oneshot::Sender<Vec<SyncedPeer>>,
}

impl Waiter {
    pub fn new(deadline: Instant, reply: oneshot::Sender<Vec<SyncedPeer>>) -> Self {
        Self {
            waiting: HashMap::new(),
            peers: HashMap::new(),
            deadline,
            reply,
        }
    }

    /// A hello sent to `peer` (a device of `devices`) as request `id`.
    pub fn asked(&mut self, id: OutboundRequestId, peer: PeerId, devices: &[DeviceRecord]) {
        self.waiting.insert(id, peer);
        let device_id = identity::device_id(&peer)
            .map(|d| d.to_text())
            .unwrap_or_default();
        let record = devices.iter().find(|d| d.id == device_id);
        self.peers.insert(
            peer,
            SyncedPeer {
                person: record.map(|d| d.person.clone()).unwrap_or_default(),
                name: record.map(|d| d.name.clone()).unwrap_or_default(),
                device_id,
                ..SyncedPeer::default()
            },
        );
    }

    fn answer(self) {
        let _ = self.reply.send(self.peers.into_values().collect());
    }
}

/// What one answered hello moved: changes, and what they are to a
/// person (counted only while a `duet sync` waits for it).
#[derive(Clone, Copy, Debug, Default)]
pub struct Moved {
    pub exchange: Exchange,
    pub received: Tally,
    pub sent: Tally,
}

#[derive(Default)]
pub struct Waiters {
    pending: Vec<Waiter>,
}

impl Waiters {
    /// Waits for `waiter`'s hellos, or answers at once if it sent none.
    pub fn add(&mut self, waiter: Waiter) {
        if waiter.waiting.is_empty() {
            waiter.answer();
        } else {
            self.pending.push(waiter);
        }
    }

    /// True while a `duet sync` waits for request `id`'s answer.
    pub fn wants(&self, id: OutboundRequestId) -> bool {
        self.pending.iter().any(|w| w.waiting.contains_key(&id))
    }

    /// Request `id` ended: with what it moved, or `None` if it failed.
    pub fn settle(&mut self, id: OutboundRequestId, moved: Option<Moved>) {
        for waiter in &mut self.pending {
            let Some(peer) = waiter.waiting.remove(&id) else {
                continue;
            };
            if let (Some(report), Some(moved)) = (waiter.peers.get_mut(&peer), moved) {
                report.received += moved.exchange.received;
                report.sent += moved.exchange.sent;
                report.received_tally.add(moved.received);
                report.sent_tally.add(moved.sent);
                report.ok = true;
            }
        }
        self.finish(|w| w.waiting.is_empty());
    }

    /// Answers the waiters whose deadline has passed.
    pub fn expire(&mut self, now: Instant) {
        self.finish(|w| w.deadline <= now);
    }

    fn finish(&mut self, done: impl Fn(&Waiter) -> bool) {
        let (finished, pending): (Vec<_>, Vec<_>) = self.pending.drain(..).partition(|w| done(w));
        self.pending = pending;
        for waiter in finished {
            waiter.answer();
        }
    }
}
