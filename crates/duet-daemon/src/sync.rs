//! The sync protocol inside the daemon: hellos, answers, pushes, and
//! applying what arrives. See `docs/protocol.md` for the rules.

use std::collections::HashMap;
use std::time::Instant;

use duet_core::envelope::OpenError;
use duet_core::replica::ReceiveError;
use duet_core::VersionVector;
use libp2p::request_response::{self, OutboundRequestId};
use libp2p::{Multiaddr, PeerId};
use serde_bytes::ByteBuf;
use tokio::sync::oneshot;

use crate::control::SyncedPeer;
use crate::daemon::{now_ms, Daemon, SyncWaiter, MAX_HELD_BACK, SYNC_WAIT};
use crate::identity;
use crate::protocol::{SyncRequest, SyncResponse, MAX_ADDRS, MAX_ADDR_BYTES, MAX_PUSH};

impl Daemon {
    pub(crate) fn sync_now(&mut self, reply: oneshot::Sender<Vec<SyncedPeer>>) {
        self.pick_up_local_writes();
        let connected: Vec<PeerId> = self.connected.iter().copied().collect();
        let mut waiter = SyncWaiter {
            waiting: HashMap::new(),
            peers: HashMap::new(),
            deadline: Instant::now() + SYNC_WAIT,
            reply,
        };
        for peer in connected {
            if let Some(id) = self.send_hello(peer) {
                waiter.waiting.insert(id, peer);
                waiter.peers.insert(
                    peer,
                    SyncedPeer {
                        device_id: identity::device_id(&peer)
                            .map(|d| d.to_text())
                            .unwrap_or_default(),
                        received: 0,
                        sent: 0,
                        ok: false,
                    },
                );
            }
        }
        self.redial(true);
        if waiter.waiting.is_empty() {
            let _ = waiter.reply.send(Vec::new());
        } else {
            self.waiters.push(waiter);
        }
    }

    pub(crate) fn push_new_now(&mut self) {
        self.push_new();
    }

    /// Pushes every envelope stored since the last push to every connected
    /// member, except back to the device it came from.
    pub(crate) fn push_new(&mut self) {
        let new = match self.replica.store().envelopes_after(self.pushed_pos) {
            Ok(new) => new,
            Err(e) => {
                tracing::warn!(error = %e, "cannot read the store");
                return;
            }
        };
        let Some(last) = new.last() else { return };
        self.pushed_pos = last.pos;
        for peer in self.connected.clone() {
            let batch: Vec<ByteBuf> = new
                .iter()
                .filter(|e| self.source.get(&e.pos) != Some(&peer))
                .map(|e| ByteBuf::from(e.bytes.clone()))
                .collect();
            for chunk in batch.chunks(MAX_PUSH) {
                self.swarm.behaviour_mut().sync.send_request(
                    &peer,
                    SyncRequest::Push {
                        snapshot: None,
                        envelopes: chunk.to_vec(),
                    },
                );
            }
        }
        self.source.clear();
    }

    pub(crate) fn send_hello(&mut self, peer: PeerId) -> Option<OutboundRequestId> {
        let vector = self.replica.vector().ok()?;
        let mut encoded = Vec::new();
        vector.encode(&mut encoded);
        let addrs = self.own_addrs();
        let id = self.swarm.behaviour_mut().sync.send_request(
            &peer,
            SyncRequest::Hello {
                vector: ByteBuf::from(encoded),
                addrs,
            },
        );
        Some(id)
    }

    /// The addresses this device listens on, for a member to dial later.
    /// (They travel in the sync messages, encrypted by Noise; duet runs
    /// no identify protocol, whose per-connection cost is larger.)
    fn own_addrs(&self) -> Vec<ByteBuf> {
        self.swarm
            .listeners()
            .take(MAX_ADDRS)
            .map(|a| ByteBuf::from(a.to_vec()))
            .collect()
    }

    /// Remembers where a member device said it listens.
    fn remember_their_addrs(&mut self, peer: PeerId, addrs: &[ByteBuf]) {
        let Some(device) = identity::device_id(&peer) else {
            return;
        };
        let addrs: Vec<String> = addrs
            .iter()
            .take(MAX_ADDRS)
            .filter(|a| a.len() <= MAX_ADDR_BYTES)
            .filter_map(|a| Multiaddr::try_from(a.to_vec()).ok())
            .map(|a| a.to_string())
            .collect();
        if !addrs.is_empty() {
            let _ = self.replica.store().remember_addrs(&device, &addrs);
        }
    }

    pub(crate) fn on_sync_event(
        &mut self,
        event: request_response::Event<SyncRequest, SyncResponse>,
    ) {
        self.last_activity = Instant::now();
        match event {
            request_response::Event::Message { peer, message, .. } => match message {
                request_response::Message::Request {
                    request, channel, ..
                } => {
                    if !self.members.is_member(&peer) {
                        tracing::warn!(%peer, "refused a sync request from a device that is not a member");
                        return;
                    }
                    let response = self.answer_sync(peer, request);
                    if let Some(response) = response {
                        let _ = self
                            .swarm
                            .behaviour_mut()
                            .sync
                            .send_response(channel, response);
                    }
                }
                request_response::Message::Response {
                    request_id,
                    response,
                } => {
                    if !self.members.is_member(&peer) {
                        return;
                    }
                    self.on_sync_response(peer, request_id, response);
                }
            },
            request_response::Event::OutboundFailure {
                peer,
                request_id,
                error,
                ..
            } => {
                tracing::debug!(%peer, error = %error, "sync request failed");
                self.settle_waiters(request_id, None);
            }
            request_response::Event::InboundFailure { peer, error, .. } => {
                tracing::debug!(%peer, error = %error, "sync answer failed");
            }
            request_response::Event::ResponseSent { .. } => {}
        }
    }

    pub(crate) fn answer_sync(
        &mut self,
        peer: PeerId,
        request: SyncRequest,
    ) -> Option<SyncResponse> {
        match request {
            SyncRequest::Hello { vector, addrs } => {
                let Some((theirs, _)) = VersionVector::decode(&vector) else {
                    tracing::warn!(%peer, "ignored a malformed version vector");
                    return None;
                };
                self.remember_their_addrs(peer, &addrs);
                let outgoing = match self.replica.outgoing_for(&theirs) {
                    Ok(o) => o,
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot gather what a peer lacks");
                        return None;
                    }
                };
                self.record_sync(peer, &theirs);
                Some(SyncResponse::Missing {
                    snapshot: outgoing.snapshot.map(ByteBuf::from),
                    envelopes: outgoing.envelopes.into_iter().map(ByteBuf::from).collect(),
                    vector: self.encoded_vector(),
                    addrs: self.own_addrs(),
                })
            }
            SyncRequest::Push {
                snapshot,
                envelopes,
            } => {
                self.apply(peer, snapshot, envelopes);
                Some(SyncResponse::Ack {
                    vector: self.encoded_vector(),
                })
            }
        }
    }

    pub(crate) fn on_sync_response(
        &mut self,
        peer: PeerId,
        request_id: OutboundRequestId,
        response: SyncResponse,
    ) {
        match response {
            SyncResponse::Missing {
                snapshot,
                envelopes,
                vector,
                addrs,
            } => {
                self.remember_their_addrs(peer, &addrs);
                let received = self.apply(peer, snapshot, envelopes);
                let mut sent = 0;
                if let Some((theirs, _)) = VersionVector::decode(&vector) {
                    self.record_sync(peer, &theirs);
                    if let Ok(out) = self.replica.outgoing_for(&theirs) {
                        sent = out.envelopes.len() as u64 + u64::from(out.snapshot.is_some());
                        if sent > 0 {
                            let envelopes: Vec<ByteBuf> =
                                out.envelopes.into_iter().map(ByteBuf::from).collect();
                            self.swarm.behaviour_mut().sync.send_request(
                                &peer,
                                SyncRequest::Push {
                                    snapshot: out.snapshot.map(ByteBuf::from),
                                    envelopes,
                                },
                            );
                        }
                    }
                }
                self.settle_waiters(request_id, Some((received, sent)));
            }
            SyncResponse::Ack { vector } => {
                if let Some((theirs, _)) = VersionVector::decode(&vector) {
                    self.record_sync(peer, &theirs);
                }
            }
        }
    }

    /// Records the outcome of one of `duet sync`'s hellos, and answers the
    /// waiter once all of its hellos are settled.
    pub(crate) fn settle_waiters(
        &mut self,
        request_id: OutboundRequestId,
        moved: Option<(u64, u64)>,
    ) {
        let mut finished = Vec::new();
        for (i, waiter) in self.waiters.iter_mut().enumerate() {
            let Some(peer) = waiter.waiting.remove(&request_id) else {
                continue;
            };
            if let (Some(report), Some((received, sent))) = (waiter.peers.get_mut(&peer), moved) {
                report.received += received;
                report.sent += sent;
                report.ok = true;
            }
            if waiter.waiting.is_empty() {
                finished.push(i);
            }
        }
        for i in finished.into_iter().rev() {
            let waiter = self.waiters.remove(i);
            let _ = waiter.reply.send(waiter.peers.into_values().collect());
        }
    }

    pub(crate) fn record_sync(&mut self, peer: PeerId, theirs: &VersionVector) {
        if let Some(device) = identity::device_id(&peer) {
            let _ = self.replica.store().record_sync(&device, now_ms(), theirs);
        }
    }

    pub(crate) fn encoded_vector(&self) -> ByteBuf {
        let mut out = Vec::new();
        if let Ok(v) = self.replica.vector() {
            v.encode(&mut out);
        }
        ByteBuf::from(out)
    }

    /// Applies a snapshot and envelopes from `from`; returns how many were
    /// new. Bad ones are logged with their reason and skipped.
    pub(crate) fn apply(
        &mut self,
        from: PeerId,
        snapshot: Option<ByteBuf>,
        envelopes: Vec<ByteBuf>,
    ) -> u64 {
        let mut accepted = 0;
        if let Some(snapshot) = snapshot {
            let whole = self
                .whole(crate::whole::Job::ReceiveSnapshot, &snapshot)
                .and_then(|outcome| outcome.frontier());
            match whole {
                Ok(frontier) => {
                    accepted += 1;
                    self.replica.set_frontier(frontier);
                    self.apply_stored();
                }
                Err(e) => tracing::warn!(peer = %from, reason = %e, "rejected a snapshot"),
            }
        }
        // Store the whole batch first (durable, and readable by the CLI at
        // once), then apply it to the document in one go. The message size
        // limit bounds how many arrive at once.
        for envelope in envelopes {
            accepted += u64::from(self.receive(from, envelope.into_vec()));
        }
        if accepted > 0 {
            if self.held_back.is_empty() {
                // Nothing waits on the document: apply when the daemon is
                // idle, so a long journal's apply time (it grows with the
                // document) never delays storing the next arrival.
                self.apply_pending = true;
            } else {
                // Some envelopes wait for their author's device record,
                // which may be among what just arrived: apply now.
                self.apply_stored();
                let held: Vec<Vec<u8>> = self.held_back.drain(..).collect();
                for envelope in held {
                    self.receive(from, envelope);
                }
                self.apply_stored();
            }
        }
        self.push_new();
        accepted
    }

    /// Applies stored envelopes to the document and takes in any devices
    /// they added.
    pub(crate) fn apply_stored(&mut self) {
        self.apply_pending = false;
        if let Err(e) = self.replica.refresh() {
            tracing::warn!(error = %e, "cannot apply stored envelopes");
        }
        self.update_members();
    }

    pub(crate) fn receive(&mut self, from: PeerId, envelope: Vec<u8>) -> bool {
        match self.replica.store_envelope(&envelope) {
            Ok(pos) => {
                self.source.insert(pos, from);
                true
            }
            Err(ReceiveError::Replay { .. }) => false,
            Err(ReceiveError::Open(OpenError::UnknownAuthor(author))) => {
                tracing::debug!(author = %author.short(), "holding an envelope until its author's device record arrives");
                if self.held_back.len() >= MAX_HELD_BACK {
                    self.held_back.pop_front();
                }
                self.held_back.push_back(envelope);
                false
            }
            Err(e) => {
                tracing::warn!(peer = %from, reason = %e, "rejected an envelope");
                false
            }
        }
    }
}
