//! The sync protocol's IO: requests and responses from the swarm go into
//! the engine; what the engine asks for goes to the swarm and the store.

use std::time::Instant;

use duet_core::journal::Tally;
use duet_core::ledger::ReceiveError;
use duet_core::sync::{Event, Output};
use duet_core::VersionVector;
use libp2p::request_response::{self, Message};
use libp2p::PeerId;
use tokio::sync::oneshot;

use super::{now_ms, EventLoop, KEYS_ASK_EVERY, SYNC_WAIT};
use crate::control::SyncedPeer;
use crate::identity;
use crate::protocol::{SyncRequest, SyncResponse};
use crate::waiters::{Moved, Waiter};
use crate::whole::JobRefusal;

impl EventLoop {
    pub(super) fn on_sync_event(
        &mut self,
        event: request_response::Event<SyncRequest, SyncResponse>,
    ) {
        self.last_activity = Instant::now();
        match event {
            request_response::Event::Message { peer, message, .. } => {
                if self.gate.is_removed(&peer) {
                    self.tell_removed(peer, message);
                    return;
                }
                if !self.gate.is_member(&peer) {
                    tracing::warn!(%peer, "refused a sync message from a device that is not a member");
                    return;
                }
                match message {
                    Message::Request {
                        request, channel, ..
                    } => {
                        let response = match request {
                            SyncRequest::Keys => self.keys_for(peer),
                            request => self.engine.on_request(peer, request, &mut self.local),
                        };
                        if let Some(response) = response {
                            let _ = self
                                .swarm
                                .behaviour_mut()
                                .sync
                                .send_response(channel, response);
                        }
                    }
                    Message::Response {
                        request_id,
                        response: SyncResponse::Keys { sealed },
                    } => {
                        self.waiters.settle(request_id, None);
                        self.take_keys(peer, &sealed);
                    }
                    Message::Response {
                        request_id,
                        response,
                    } => {
                        // Counted as a person counts only for `duet sync`:
                        // it opens each change again.
                        let received = self
                            .waiters
                            .wants(request_id)
                            .then(|| self.tally_answer(&response));
                        let exchange = self.engine.on_response(peer, response, &mut self.local);
                        let moved = received.map(|(received, theirs)| Moved {
                            exchange,
                            received,
                            sent: self.tally_sent(theirs.as_ref(), exchange.sent),
                        });
                        let moved = moved.unwrap_or(Moved {
                            exchange,
                            ..Moved::default()
                        });
                        self.waiters.settle(request_id, Some(moved));
                    }
                }
                self.drain_engine();
                self.update_gate();
            }
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(peer = %self.name(&peer), error = %error, "sync request failed");
                self.waiters.settle(request_id, None);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(peer = %self.name(&peer), error = %error, "sync answer failed");
            }
            // A removed device closes the connection once it has read
            // its answer; one that does not is closed when idle.
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    /// What a hello's answer brings, as a person counts it (a snapshot as
    /// one other change), and the vector it carries.
    fn tally_answer(&self, response: &SyncResponse) -> (Tally, Option<VersionVector>) {
        let SyncResponse::Missing {
            snapshot,
            envelopes,
            vector,
            ..
        } = response
        else {
            return (Tally::default(), None);
        };
        let member = self.local.writer.member();
        let mut tally = member.tally(envelopes.iter().map(|e| e.as_slice()));
        tally.other += u64::from(snapshot.is_some());
        let theirs = VersionVector::decode(vector).map(|(v, _)| v);
        (tally, theirs)
    }

    /// What went to a peer whose vector was `theirs` in answer to a hello
    /// (`sent` changes), as a person counts it.
    fn tally_sent(&self, theirs: Option<&VersionVector>, sent: u64) -> Tally {
        if sent == 0 {
            return Tally::default();
        }
        theirs
            .and_then(|theirs| self.local.writer.member().tally_waiting(theirs).ok())
            .unwrap_or(Tally {
                other: sent,
                ..Tally::default()
            })
    }

    /// The answer to a member's `Keys`: every epoch, sealed to its device
    /// key; none for a device that is not a current member.
    fn keys_for(&self, peer: PeerId) -> Option<SyncResponse> {
        let sealed =
            identity::device_id(&peer).and_then(|d| self.local.writer.keys_sealed_to(&d))?;
        tracing::info!(peer = %self.name(&peer), "sent a device the journal's key epochs it lacked");
        Some(SyncResponse::Keys {
            sealed: serde_bytes::ByteBuf::from(sealed),
        })
    }

    /// Keeps the key epochs `peer` sealed to this device, and offers what
    /// waited for them again.
    fn take_keys(&mut self, peer: PeerId, sealed: &[u8]) {
        let wanted: Vec<u32> = self.keys_wanted.iter().copied().collect();
        match self.local.writer.take_keys(sealed, &wanted) {
            Ok(taken) if taken.is_empty() => {}
            Ok(taken) => {
                tracing::info!(peer = %self.name(&peer), "received key epochs this device lacked");
                for id in taken {
                    self.keys_wanted.remove(&id);
                }
                self.engine.retry_held(&mut self.local);
            }
            Err(e) => {
                tracing::warn!(error = %crate::sentence(&e), "cannot keep the key epochs a device sent")
            }
        }
    }

    /// A removed device asked something: it gets the signed record of its
    /// removal, and nothing else. What it pushes goes through the same
    /// checks as any member's, which refuse everything after its cut but a
    /// counter-removal (`Member::check`): two devices that removed each
    /// other both stay removed, whichever a member heard from first.
    fn tell_removed(&mut self, peer: PeerId, message: Message<SyncRequest, SyncResponse>) {
        let Message::Request {
            channel, request, ..
        } = message
        else {
            return;
        };
        if let SyncRequest::Push { envelopes, .. } = request {
            let push = SyncRequest::Push {
                snapshot: None,
                envelopes,
                statements: Vec::new(),
            };
            let _ = self.engine.on_request(peer, push, &mut self.local);
            self.drain_engine();
            self.update_gate();
        }
        let envelope = identity::device_id(&peer).and_then(|d| {
            self.local
                .writer
                .store()
                .removal_envelope(&d)
                .ok()
                .flatten()
        });
        tracing::info!(peer = %self.name(&peer), "a removed device called; told it that it was removed");
        let response = SyncResponse::Removed {
            envelopes: envelope
                .into_iter()
                .map(serde_bytes::ByteBuf::from)
                .collect(),
            statements: self
                .local
                .writer
                .ledger()
                .statements()
                .unwrap_or_default()
                .into_iter()
                .map(serde_bytes::ByteBuf::from)
                .collect(),
        };
        if self
            .swarm
            .behaviour_mut()
            .sync
            .send_response(channel, response)
            .is_err()
        {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }

    /// Carries out what the engine asked for.
    pub(super) fn drain_engine(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Send { to, request } => {
                    self.swarm.behaviour_mut().sync.send_request(&to, request);
                }
                Output::Event(event) => self.on_engine_event(event),
            }
        }
    }

    fn on_engine_event(&mut self, event: Event<PeerId>) {
        let Some(event) = crate::peering::record(self.local.writer.ledger(), event, now_ms())
        else {
            return;
        };
        match event {
            Event::Received { from, intake } => {
                if intake.accepted > 0 || intake.held_back > 0 {
                    tracing::debug!(peer = %self.name(&from), accepted = intake.accepted, held_back = intake.held_back, replays = intake.replays, "took in a sync message");
                }
                if intake.accepted > 0 {
                    self.follow_removals();
                }
                // A few lines a minute per peer, however much it sends.
                if let Some(refusal) = &intake.first_refusal {
                    // A snapshot refused in a whole-journal job comes back
                    // with its own kind and sentence.
                    let there = match refusal {
                        ReceiveError::Local(e) => e.downcast_ref::<JobRefusal>(),
                        _ => None,
                    };
                    let (kind, reason) = match there {
                        Some(r) => (r.kind.clone(), r.reason.clone()),
                        None => (refusal.kind().to_string(), crate::sentence(refusal)),
                    };
                    let key = (from, kind);
                    let line = self
                        .refusals
                        .note(&key, intake.refused, &reason, Instant::now());
                    if let Some(line) = line {
                        tracing::warn!(peer = %self.name(&from), refused = line.count, reason = %line.reason, "refused what a device sent");
                    }
                }
            }
            Event::Malformed { from } => {
                let key = (from, "malformed-vector".to_string());
                let line =
                    self.refusals
                        .note(&key, 1, "a malformed version vector", Instant::now());
                if line.is_some() {
                    tracing::warn!(peer = %self.name(&from), "ignored a malformed version vector");
                }
            }
            Event::Healed { peer, heal } => {
                if heal.copy {
                    tracing::warn!(peer = %self.name(&peer), resealed = heal.resealed, "another copy of this device's home is writing at the same time; what this copy wrote was sent again under new numbers, and nothing is lost, but one copy should `duet join` as a new device");
                } else {
                    tracing::warn!(peer = %self.name(&peer), resealed = heal.resealed, "this home was restored from a backup or copied: a partner's device held changes of this device that it did not; it takes them back, and what it wrote since was sent again under new numbers");
                }
            }
            Event::NeedsKeys { from, id } => {
                self.keys_wanted.insert(id);
                let now = Instant::now();
                let due = self
                    .keys_asked
                    .get(&from)
                    .is_none_or(|at| now.duration_since(*at) >= KEYS_ASK_EVERY);
                if due {
                    self.keys_asked.insert(from, now);
                    tracing::info!(peer = %self.name(&from), "an envelope is sealed to a key epoch this device lacks; asking for it");
                    self.swarm
                        .behaviour_mut()
                        .sync
                        .send_request(&from, SyncRequest::Keys);
                }
            }
            Event::RemovedHere { by_peer } => {
                // A device that removed one of those that removed it hands
                // that over once, so that both removals stand everywhere.
                if self.countered.insert(by_peer) {
                    match self.local.writer.counter_removals() {
                        Ok(envelopes) if !envelopes.is_empty() => {
                            tracing::info!(peer = %self.name(&by_peer), "this device removed a device that removed it; handing that removal to the member");
                            let push = SyncRequest::Push {
                                snapshot: None,
                                envelopes: envelopes
                                    .into_iter()
                                    .map(serde_bytes::ByteBuf::from)
                                    .collect(),
                                statements: Vec::new(),
                            };
                            self.swarm.behaviour_mut().sync.send_request(&by_peer, push);
                            return;
                        }
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(error = %crate::sentence(&e), "cannot read this device's own removals")
                        }
                    }
                }
                tracing::warn!(peer = %self.name(&by_peer), "this device was removed from the journal: it keeps what it had and gets nothing new; `duet status` says more");
                self.engine.disconnected(&by_peer);
                let _ = self.swarm.disconnect_peer_id(by_peer);
            }
            Event::HealFailed { peer, error } => {
                tracing::warn!(peer = %self.name(&peer), error = %crate::sentence(&error), "cannot take back this device's own changes from a partner's device; trying again at the next exchange");
            }
            Event::Local { doing, error } => {
                tracing::warn!(error = %crate::sentence(&error), "the store failed while {doing}");
            }
            // Kept by `peering::record`.
            Event::Vector { .. }
            | Event::Holds { .. }
            | Event::Clock { .. }
            | Event::Addresses { .. }
            | Event::PeerAddresses { .. } => {}
        }
    }

    /// `duet sync`: a hello to every connected device now, and a dial to
    /// every member not connected (whatever its backoff).
    pub(super) fn sync_now(&mut self, reply: oneshot::Sender<Vec<SyncedPeer>>) {
        self.pick_up_local_writes();
        let mut waiter = Waiter::new(Instant::now() + SYNC_WAIT, reply);
        let peers: Vec<PeerId> = self.engine.connected_peers().copied().collect();
        for peer in peers {
            match self.engine.hello(&self.local) {
                Ok(hello) => {
                    let id = self.swarm.behaviour_mut().sync.send_request(&peer, hello);
                    waiter.asked(id, peer, self.local.writer.devices());
                }
                Err(e) => tracing::warn!(error = %crate::sentence(&e), "cannot read the vector"),
            }
        }
        self.redial(true);
        self.waiters.add(waiter);
    }
}
