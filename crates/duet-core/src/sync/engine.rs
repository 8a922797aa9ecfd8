//! The engine: one device's side of sync with all of its peers.

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::hash::Hash;
use std::time::Instant;

use serde_bytes::ByteBuf;

use super::message::{MAX_PEER_ADDRS, MAX_PEER_ADDR_LEN, MAX_TIPS, PEER_ADDRS_EACH};
use super::{
    Config, Event, Exchange, HeldBack, Holder, Intake, Output, SyncRequest, SyncResponse,
    MAX_ADDRS, MAX_ADDR_BYTES,
};
use crate::envelope::{self, Body};
use crate::ids::DeviceId;
use crate::ledger::member::now_ms;
use crate::ledger::ReceiveError;
use crate::store::StoreError;
use crate::store::Tip;
use crate::vv::VersionVector;

/// One device's sync state; `P` names a peer (a libp2p `PeerId` in the
/// daemon, anything in a test).
pub struct Engine<P> {
    config: Config,
    /// The connected peers, in order, so that a run is repeatable.
    peers: BTreeSet<P>,
    /// Envelopes up to this store position have been pushed.
    pushed_pos: i64,
    /// The snapshot generation last seen: when it moves (a compaction, a
    /// merged snapshot), peers may now lack what only a snapshot carries.
    snapshot_generation: i64,
    /// The device-list statements' digest as last pushed, so that a
    /// change (a device paired or removed here) goes out at once.
    statements_digest: [u8; 32],
    /// Which peer an envelope stored since the last push came from, so it
    /// is not pushed back there.
    source: HashMap<i64, P>,
    held: HeldBack<P>,
    /// Where this device listens, to tell peers.
    own_addrs: Vec<ByteBuf>,
    last_round: Option<Instant>,
    outbox: VecDeque<Output<P>>,
    /// Which device a peer is, when the caller can tell: where other
    /// devices listen is not told to the device itself.
    device_of: Option<fn(&P) -> Option<DeviceId>>,
}

/// What became of one envelope offered to the holder.
enum Offered {
    Accepted,
    Held,
    Replay,
    Refused(ReceiveError),
}

impl<P: Clone + Ord + Hash> Engine<P> {
    /// An engine for a device whose ledger `holder` has: what is stored
    /// already is not pushed again (a peer gets it by asking).
    pub fn new(config: Config, holder: &impl Holder) -> Result<Self, StoreError> {
        let ledger = holder.ledger();
        Ok(Self {
            held: HeldBack::new(config.held_back_count, config.held_back_bytes),
            config,
            peers: BTreeSet::new(),
            pushed_pos: ledger.last_position()?,
            snapshot_generation: ledger.store().snapshot_generation()?,
            statements_digest: ledger.statements_digest()?,
            source: HashMap::new(),
            own_addrs: Vec::new(),
            last_round: None,
            outbox: VecDeque::new(),
            device_of: None,
        })
    }

    /// Tells the engine how to know a peer's device, so that the
    /// addresses of other devices it sends leave out the peer's own.
    pub fn set_device_of(&mut self, device_of: fn(&P) -> Option<DeviceId>) {
        self.device_of = Some(device_of);
    }

    /// The next thing to do, if any.
    pub fn poll_output(&mut self) -> Option<Output<P>> {
        self.outbox.pop_front()
    }

    /// The addresses this device listens on (binary multiaddrs), sent in
    /// every hello and answer.
    pub fn set_own_addrs(&mut self, addrs: Vec<Vec<u8>>) {
        self.own_addrs = addrs
            .into_iter()
            .take(MAX_ADDRS)
            .map(ByteBuf::from)
            .collect();
    }

    pub fn is_connected(&self, peer: &P) -> bool {
        self.peers.contains(peer)
    }

    pub fn connected_peers(&self) -> impl Iterator<Item = &P> {
        self.peers.iter()
    }

    /// Envelopes held back for an unknown author: how many, how many bytes.
    pub fn held_back(&self) -> (usize, usize) {
        (self.held.len(), self.held.bytes())
    }

    /// A member device connected. One hello per connection, from the side
    /// that dialled: the answer carries the other side's vector, and the
    /// dialler then pushes whatever the other lacks. One round trip.
    pub fn connected(&mut self, peer: P, dialer: bool, holder: &impl Holder) {
        if self.peers.insert(peer.clone()) && dialer {
            self.send_hello(peer, holder);
        }
    }

    pub fn disconnected(&mut self, peer: &P) {
        self.peers.remove(peer);
    }

    /// "This is what I hold; send what I lack."
    pub fn hello(&self, holder: &impl Holder) -> Result<SyncRequest, StoreError> {
        Ok(SyncRequest::Hello {
            vector: encode(&holder.ledger().vector()?),
            addrs: self.own_addrs.clone(),
            tips: own_tips(holder)?,
            now: Some(now_ms()),
            statements: Some(ByteBuf::from(holder.ledger().statements_digest()?.to_vec())),
            peers: peer_addrs(holder, None)?,
        })
    }

    /// [`Engine::hello`] for `peer`: the other devices' addresses leave
    /// out its own.
    fn hello_to(&self, peer: &P, holder: &impl Holder) -> Result<SyncRequest, StoreError> {
        let mut hello = self.hello(holder)?;
        if let SyncRequest::Hello { peers, .. } = &mut hello {
            *peers = peer_addrs(holder, self.device_of.and_then(|f| f(peer)))?;
        }
        Ok(hello)
    }

    fn send_hello(&mut self, peer: P, holder: &impl Holder) {
        match self.hello_to(&peer, holder) {
            Ok(request) => self.outbox.push_back(Output::Send { to: peer, request }),
            Err(error) => self.local_error("saying hello", error),
        }
    }

    /// Time passed: every `anti_entropy`, connected peers compare vectors,
    /// which repairs whatever a lost push missed.
    pub fn tick(&mut self, now: Instant, holder: &impl Holder) {
        let last = *self.last_round.get_or_insert(now);
        if now.duration_since(last) >= self.config.anti_entropy {
            self.last_round = Some(now);
            self.hello_all(holder);
        }
    }

    fn hello_all(&mut self, holder: &impl Holder) {
        let peers: Vec<P> = self.peers.iter().cloned().collect();
        for peer in peers {
            self.send_hello(peer, holder);
        }
    }

    /// A request from a member device; returns the response to send
    /// (none for a hello whose vector does not decode).
    pub fn on_request(
        &mut self,
        from: P,
        request: SyncRequest,
        holder: &mut impl Holder,
    ) -> Option<SyncResponse> {
        match request {
            SyncRequest::Hello {
                vector,
                addrs,
                tips,
                now,
                statements,
                peers,
            } => {
                let theirs = self.their_vector(&from, &vector)?;
                self.their_peers(&from, peers, holder);
                let (digest, list) =
                    self.statements_for(holder, statements.as_deref().map(Vec::as_slice));
                self.their_addrs(&from, addrs);
                self.their_clock(&from, now);
                // A restored home heals before it answers, so the answer
                // carries what it sealed again and asks for the rest.
                self.their_tips(&from, &tips, holder);
                let outgoing = match holder.ledger().outgoing_for(&theirs) {
                    Ok(o) => o,
                    Err(error) => {
                        self.local_error("gathering what a peer lacks", error);
                        return None;
                    }
                };
                // The answer holds the snapshot and the first envelopes
                // up to a push's bounds; the rest follows as pushes, so
                // no message grows with the backlog.
                let mut envelopes = outgoing.envelopes;
                let first = self.first_chunk(&envelopes);
                let rest = envelopes.split_off(first);
                self.push(&from, None, rest);
                let tips = match own_tips(holder) {
                    Ok(tips) => tips,
                    Err(error) => {
                        self.local_error("reading the tips", error);
                        Vec::new()
                    }
                };
                Some(SyncResponse::Missing {
                    snapshot: outgoing.snapshot.map(ByteBuf::from),
                    envelopes: envelopes.into_iter().map(ByteBuf::from).collect(),
                    vector: self.own_vector(holder),
                    addrs: self.own_addrs.clone(),
                    tips,
                    now: Some(now_ms()),
                    statements: list,
                    digest,
                    peers: match peer_addrs(holder, self.device_of.and_then(|f| f(&from))) {
                        Ok(peers) => peers,
                        Err(error) => {
                            self.local_error("reading other devices' addresses", error);
                            Vec::new()
                        }
                    },
                })
            }
            SyncRequest::Push {
                snapshot,
                envelopes,
                statements,
            } => {
                self.take_statements(holder, statements);
                self.take_in(from, snapshot, envelopes, holder);
                Some(SyncResponse::Ack {
                    vector: self.own_vector(holder),
                })
            }
            // Answered by the caller, which knows whose device is asking.
            SyncRequest::Keys | SyncRequest::Pairing { .. } => None,
        }
    }

    /// The response to a request this engine asked to send.
    pub fn on_response(
        &mut self,
        from: P,
        response: SyncResponse,
        holder: &mut impl Holder,
    ) -> Exchange {
        match response {
            SyncResponse::Missing {
                snapshot,
                envelopes,
                vector,
                addrs,
                tips,
                now,
                statements,
                digest,
                peers,
            } => {
                self.their_addrs(&from, addrs);
                self.their_clock(&from, now);
                // The device list first: envelopes of devices it adds
                // verify only after.
                self.take_statements(holder, statements);
                self.their_peers(&from, peers, holder);
                let (_, ours) = self.statements_for(holder, digest.as_deref().map(Vec::as_slice));
                if !ours.is_empty() {
                    self.outbox.push_back(Output::Send {
                        to: from.clone(),
                        request: SyncRequest::Push {
                            snapshot: None,
                            envelopes: Vec::new(),
                            statements: ours,
                        },
                    });
                }
                self.their_tips(&from, &tips, holder);
                let received = self.take_in(from.clone(), snapshot, envelopes, holder);
                let mut sent = 0;
                if let Some(theirs) = self.their_vector(&from, &vector) {
                    match holder.ledger().outgoing_for(&theirs) {
                        Ok(out) => {
                            sent = out.len();
                            self.push(&from, out.snapshot, out.envelopes);
                        }
                        Err(error) => self.local_error("gathering what a peer lacks", error),
                    }
                }
                Exchange { received, sent }
            }
            SyncResponse::Ack { vector } => {
                self.their_vector(&from, &vector);
                Exchange::default()
            }
            // Taken in by the caller (`Holder` has no key of its own).
            SyncResponse::Keys { .. } => Exchange::default(),
            SyncResponse::PairingOpen { .. } => Exchange::default(),
            SyncResponse::Removed {
                envelopes,
                statements,
            } => {
                self.take_statements(holder, statements);
                let received = self.take_in(from.clone(), None, envelopes, holder);
                self.outbox
                    .push_back(Output::Event(Event::RemovedHere { by_peer: from }));
                Exchange { received, sent: 0 }
            }
        }
    }

    /// Pushes every envelope stored since the last push to every connected
    /// peer but the one it came from; call it after this device stores
    /// something itself. When the snapshot changed meanwhile, peers are
    /// asked for their vectors, so those behind it get it.
    pub fn pick_up(&mut self, holder: &impl Holder) {
        let ledger = holder.ledger();
        let new = match ledger.stored_after(self.pushed_pos) {
            Ok(new) => new,
            Err(error) => return self.local_error("reading what is new", error),
        };
        if let Some(last) = new.last() {
            self.pushed_pos = last.pos;
        }
        let peers: Vec<P> = self.peers.iter().cloned().collect();
        for peer in &peers {
            let batch: Vec<Vec<u8>> = new
                .iter()
                .filter(|e| self.source.get(&e.pos) != Some(peer))
                .map(|e| e.bytes.clone())
                .collect();
            self.push(peer, None, batch);
        }
        self.source.clear();
        self.push_statements_if_changed(holder);
        match ledger.store().snapshot_generation() {
            Ok(generation) if generation != self.snapshot_generation => {
                self.snapshot_generation = generation;
                self.hello_all(holder);
            }
            Ok(_) => {}
            Err(error) => self.local_error("reading the snapshot", error),
        }
    }

    /// How many of `envelopes`, from the first, fit in one push.
    fn first_chunk(&self, envelopes: &[Vec<u8>]) -> usize {
        let mut bytes = 0;
        for (i, envelope) in envelopes.iter().enumerate() {
            bytes += envelope.len();
            if i >= self.config.push_count || (i > 0 && bytes > self.config.push_bytes) {
                return i;
            }
        }
        envelopes.len()
    }

    /// Sends `snapshot` and `envelopes` to `to` as pushes within the
    /// configured bounds.
    fn push(&mut self, to: &P, snapshot: Option<Vec<u8>>, envelopes: Vec<Vec<u8>>) {
        let mut snapshot = snapshot.map(ByteBuf::from);
        let mut chunk: Vec<ByteBuf> = Vec::new();
        let mut bytes = snapshot.as_ref().map_or(0, |s| s.len());
        for envelope in envelopes {
            let full = chunk.len() >= self.config.push_count
                || (!chunk.is_empty() && bytes + envelope.len() > self.config.push_bytes);
            if full {
                self.send_push(to, snapshot.take(), std::mem::take(&mut chunk));
                bytes = 0;
            }
            bytes += envelope.len();
            chunk.push(ByteBuf::from(envelope));
        }
        if snapshot.is_some() || !chunk.is_empty() {
            self.send_push(to, snapshot, chunk);
        }
    }

    fn send_push(&mut self, to: &P, snapshot: Option<ByteBuf>, envelopes: Vec<ByteBuf>) {
        self.outbox.push_back(Output::Send {
            to: to.clone(),
            request: SyncRequest::Push {
                snapshot,
                envelopes,
                statements: Vec::new(),
            },
        });
    }

    /// Pushes every device-list statement to every connected peer when
    /// they changed since the last push: a device without the journal key
    /// learns of a device paired or removed here before that device calls
    /// it.
    fn push_statements_if_changed(&mut self, holder: &impl Holder) {
        let ledger = holder.ledger();
        let digest = match ledger.statements_digest() {
            Ok(digest) => digest,
            Err(error) => return self.local_error("reading the device-list statements", error),
        };
        if digest == self.statements_digest {
            return;
        }
        self.statements_digest = digest;
        let all: Vec<ByteBuf> = match ledger.statements() {
            Ok(all) => all.into_iter().map(ByteBuf::from).collect(),
            Err(error) => return self.local_error("reading the device-list statements", error),
        };
        let peers: Vec<P> = self.peers.iter().cloned().collect();
        for peer in peers {
            self.outbox.push_back(Output::Send {
                to: peer,
                request: SyncRequest::Push {
                    snapshot: None,
                    envelopes: Vec::new(),
                    statements: all.clone(),
                },
            });
        }
    }

    /// This device's statements digest, and every statement it keeps when
    /// `theirs` (a peer's digest) differs; nothing to send when the peer
    /// sent no digest (an older duet) or the two agree.
    fn statements_for(
        &mut self,
        holder: &impl Holder,
        theirs: Option<&[u8]>,
    ) -> (Option<ByteBuf>, Vec<ByteBuf>) {
        let ledger = holder.ledger();
        let (digest, all) = match (ledger.statements_digest(), ledger.statements()) {
            (Ok(d), Ok(all)) => (d, all),
            (Err(error), _) | (_, Err(error)) => {
                self.local_error("reading the device-list statements", error);
                return (None, Vec::new());
            }
        };
        let send = theirs.is_some_and(|t| t != digest.as_slice());
        let list = if send {
            all.into_iter().map(ByteBuf::from).collect()
        } else {
            Vec::new()
        };
        (Some(ByteBuf::from(digest.to_vec())), list)
    }

    /// Takes in device-list statements a peer sent.
    fn take_statements(&mut self, holder: &mut impl Holder, statements: Vec<ByteBuf>) {
        if statements.is_empty() {
            return;
        }
        let list: Vec<Vec<u8>> = statements.into_iter().map(ByteBuf::into_vec).collect();
        if let Err(error) = holder.take_statements(&list) {
            self.local_error("keeping device-list statements", error);
        }
    }

    /// Takes in a snapshot and envelopes from `from`; returns how many
    /// items were new. What is refused is counted and the rest still
    /// taken in; what waits for its author is held back.
    fn take_in(
        &mut self,
        from: P,
        snapshot: Option<ByteBuf>,
        envelopes: Vec<ByteBuf>,
        holder: &mut impl Holder,
    ) -> u64 {
        let mut intake = Intake::default();
        // What the peer showed it holds: what this device took in from it,
        // or held already.
        let mut covers = VersionVector::new();
        let mut changes = Vec::new();
        if let Some(snapshot) = snapshot {
            match holder.receive_snapshot(&snapshot) {
                Ok(()) => {
                    intake.accepted += 1;
                    if let Ok(Body::Snapshot { covers: c }) =
                        envelope::decode(&snapshot).map(|s| s.body)
                    {
                        covers = c;
                    }
                }
                Err(e) => refuse(&mut intake, e),
            }
        }
        for envelope in envelopes {
            let change = change_of(&envelope);
            match self.offer(from.clone(), envelope.into_vec(), holder) {
                Offered::Accepted => intake.accepted += 1,
                Offered::Replay => intake.replays += 1,
                // Not verified yet: it says nothing sure of the peer.
                Offered::Held => {
                    intake.held_back += 1;
                    continue;
                }
                Offered::Refused(e) => {
                    refuse(&mut intake, e);
                    continue;
                }
            }
            changes.extend(change);
        }
        if !covers.is_empty() || !changes.is_empty() {
            self.outbox.push_back(Output::Event(Event::Holds {
                peer: from.clone(),
                covers,
                changes,
            }));
        }
        if intake.accepted > 0 {
            intake.accepted += self.release_held(holder);
        }
        let accepted = intake.accepted;
        if accepted + intake.held_back + intake.refused > 0 {
            self.outbox
                .push_back(Output::Event(Event::Received { from, intake }));
        }
        self.pick_up(holder);
        accepted
    }

    fn offer(&mut self, source: P, envelope: Vec<u8>, holder: &mut impl Holder) -> Offered {
        match holder.receive_envelope(&envelope) {
            Ok(pos) => {
                self.source.insert(pos, source);
                Offered::Accepted
            }
            Err(ReceiveError::Replay { .. }) => Offered::Replay,
            Err(e) if e.waits_for_a_device() => {
                if let ReceiveError::Open(crate::envelope::OpenError::UnknownEpoch(id)) = e {
                    self.outbox.push_back(Output::Event(Event::NeedsKeys {
                        from: source.clone(),
                        id,
                    }));
                }
                self.held.hold(envelope, source);
                Offered::Held
            }
            Err(e) => Offered::Refused(e),
        }
    }

    /// Offers every held-back envelope again (this device learned a key
    /// epoch, say), and pushes on what that took in.
    pub fn retry_held(&mut self, holder: &mut impl Holder) -> u64 {
        let released = self.release_held(holder);
        if released > 0 {
            self.pick_up(holder);
        }
        released
    }

    /// Offers every held-back envelope again, as long as that takes some
    /// in (each may add the author of another). Each keeps its source.
    fn release_held(&mut self, holder: &mut impl Holder) -> u64 {
        let mut released = 0;
        loop {
            let mut progress = false;
            for (envelope, source) in self.held.take_all() {
                if let Offered::Accepted = self.offer(source, envelope, holder) {
                    released += 1;
                    progress = true;
                }
            }
            if !progress || self.held.is_empty() {
                return released;
            }
        }
    }

    fn own_vector(&mut self, holder: &impl Holder) -> ByteBuf {
        match holder.ledger().vector() {
            Ok(vector) => encode(&vector),
            Err(error) => {
                self.local_error("reading the vector", error);
                encode(&VersionVector::new())
            }
        }
    }

    /// Decodes a peer's vector and reports it.
    fn their_vector(&mut self, from: &P, bytes: &[u8]) -> Option<VersionVector> {
        let Some((vector, _)) = VersionVector::decode(bytes) else {
            self.outbox
                .push_back(Output::Event(Event::Malformed { from: from.clone() }));
            return None;
        };
        self.outbox.push_back(Output::Event(Event::Vector {
            peer: from.clone(),
            vector: vector.clone(),
        }));
        Some(vector)
    }

    /// Looks at what a peer holds of this device's own changes; when it
    /// holds another history of them, this device heals (see
    /// `store/chain.rs`) and says hello again, so the peer sends back
    /// what it holds of them. Tips of other authors are not this
    /// device's to judge.
    fn their_tips(&mut self, from: &P, tips: &[ByteBuf], holder: &mut impl Holder) {
        let me = holder.ledger().device_id();
        let Some(theirs) = tips
            .iter()
            .take(MAX_TIPS)
            .filter_map(|t| Tip::decode(t))
            .find(|t| t.author == me)
        else {
            return;
        };
        match holder.heal_own(theirs) {
            Ok(None) => {}
            Ok(Some(heal)) => {
                self.outbox.push_back(Output::Event(Event::Healed {
                    peer: from.clone(),
                    heal,
                }));
                self.send_hello(from.clone(), holder);
            }
            Err(error) => {
                self.outbox.push_back(Output::Event(Event::HealFailed {
                    peer: from.clone(),
                    error,
                }));
            }
        }
    }

    /// How far a peer's clock is ahead of this device's (behind, when
    /// negative), within a message's travel time.
    fn their_clock(&mut self, from: &P, now: Option<i64>) {
        if let Some(theirs) = now {
            self.outbox.push_back(Output::Event(Event::Clock {
                peer: from.clone(),
                ahead_ms: theirs.saturating_sub(now_ms()),
            }));
        }
    }

    fn their_addrs(&mut self, from: &P, addrs: Vec<ByteBuf>) {
        let addrs: Vec<Vec<u8>> = addrs
            .into_iter()
            .take(MAX_ADDRS)
            .filter(|a| a.len() <= MAX_ADDR_BYTES)
            .map(ByteBuf::into_vec)
            .collect();
        if !addrs.is_empty() {
            self.outbox.push_back(Output::Event(Event::Addresses {
                peer: from.clone(),
                addrs,
            }));
        }
    }

    /// Where a peer says other devices listen: kept for current members
    /// other than this device.
    fn their_peers(&mut self, from: &P, peers: Vec<String>, holder: &impl Holder) {
        let ledger = holder.ledger();
        let me = ledger.device_id();
        let addrs: Vec<(crate::ids::DeviceId, String)> = peers
            .into_iter()
            .take(MAX_PEER_ADDRS)
            .filter(|p| p.len() <= MAX_PEER_ADDR_LEN)
            .filter_map(|p| {
                let (id, addr) = p.split_once(' ')?;
                let device = crate::ids::DeviceId::from_text(id)?;
                (device != me && ledger.is_current_member(&device))
                    .then(|| (device, addr.to_string()))
            })
            .collect();
        if !addrs.is_empty() {
            self.outbox.push_back(Output::Event(Event::PeerAddresses {
                from: from.clone(),
                addrs,
            }));
        }
    }

    fn local_error(&mut self, doing: &'static str, error: StoreError) {
        self.outbox
            .push_back(Output::Event(Event::Local { doing, error }));
    }
}

/// Where this device reached the journal's other current members (their
/// newest addresses first), for peers to try: "<device id> <address>".
fn peer_addrs(holder: &impl Holder, to: Option<DeviceId>) -> Result<Vec<String>, StoreError> {
    let ledger = holder.ledger();
    let me = ledger.device_id();
    let mut out = Vec::new();
    let mut members: Vec<&crate::ids::DeviceId> = ledger
        .members()
        .iter()
        .filter(|d| **d != me && Some(**d) != to && ledger.is_current_member(d))
        .collect();
    members.sort();
    for device in members {
        let text = device.to_text();
        let mut addrs = ledger.store().peer(device)?.addrs;
        // What works from elsewhere first: through a relay, then public,
        // then private, then loopback.
        addrs.sort_by_key(|a| reach_rank(a));
        for addr in addrs.iter().take(PEER_ADDRS_EACH) {
            let entry = format!("{text} {addr}");
            if out.len() < MAX_PEER_ADDRS && entry.len() <= MAX_PEER_ADDR_LEN {
                out.push(entry);
            }
        }
    }
    Ok(out)
}

/// How likely a device elsewhere reaches an address (lower is likelier):
/// through a relay, public, private, loopback.
fn reach_rank(addr: &str) -> u8 {
    if addr.contains("/p2p-circuit") {
        return 0;
    }
    let ip = addr
        .strip_prefix("/ip4/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|ip| ip.parse::<std::net::Ipv4Addr>().ok());
    match ip {
        Some(ip) if ip.is_loopback() => 3,
        Some(ip) if ip.is_private() || ip.is_link_local() => 2,
        Some(_) => 1,
        None if addr.starts_with("/ip6/::1/") => 3,
        None => 1,
    }
}

/// The author and sequence of a change envelope, read from its framing.
fn change_of(bytes: &[u8]) -> Option<(DeviceId, u64)> {
    let sealed = envelope::decode(bytes).ok()?;
    match sealed.body {
        Body::Change { seq, .. } => Some((sealed.author, seq)),
        Body::Snapshot { .. } => None,
    }
}

fn refuse(intake: &mut Intake, e: ReceiveError) {
    intake.refused += 1;
    intake.first_refusal.get_or_insert(e);
}

/// The tips this device tells its peers.
fn own_tips(holder: &impl Holder) -> Result<Vec<ByteBuf>, StoreError> {
    Ok(holder
        .ledger()
        .store()
        .tips()?
        .iter()
        .take(MAX_TIPS)
        .map(|t| ByteBuf::from(t.encode()))
        .collect())
}

fn encode(vector: &VersionVector) -> ByteBuf {
    let mut out = Vec::new();
    vector.encode(&mut out);
    ByteBuf::from(out)
}
