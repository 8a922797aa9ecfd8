//! An in-memory network of devices running the sync engine: members that
//! hold the whole journal, and devices without the journal key that only
//! verify, store and forward (relays). Messages are request and response
//! pairs, as over libp2p request-response; the test decides which one is
//! delivered next, which are lost or duplicated, which links are up and
//! when a device restarts. `SIM_DEBUG=1` prints every request sent and
//! what each message brought, to follow a failing seed.

#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use duet_core::envelope::{self, OpenError};
use duet_core::journal::{DeviceRecord, NewEntry};
use duet_core::keys::{DeviceKey, JournalKey};
use duet_core::ledger::{Ledger, ReceiveError};
use duet_core::replica::Replica;
use duet_core::store::Store;
use duet_core::sync::{Config, Engine, Event, Holder, Output, SyncRequest, SyncResponse};
use duet_core::{DeviceId, VersionVector};

pub const NOW: i64 = 1_700_000_000_000;

/// A small deterministic random source (xorshift64*), so a failing seed
/// replays exactly.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// True with probability `p`.
    pub fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p
    }
}

/// What a device holds: the whole journal, or only sealed bytes.
pub enum Holding {
    Member(Box<Replica>),
    Relay(Box<Ledger>),
}

impl Holder for Holding {
    fn ledger(&self) -> &Ledger {
        match self {
            Holding::Member(r) => r.ledger(),
            Holding::Relay(l) => l,
        }
    }

    fn receive_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        match self {
            Holding::Member(r) => r.receive_envelope(bytes),
            Holding::Relay(l) => l.as_mut().receive_envelope(bytes),
        }
    }

    fn receive_snapshot(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        match self {
            Holding::Member(r) => r.receive_snapshot(bytes),
            Holding::Relay(l) => Holder::receive_snapshot(l.as_mut(), bytes),
        }
    }

    fn take_statements(
        &mut self,
        statements: &[Vec<u8>],
    ) -> Result<usize, duet_core::store::StoreError> {
        match self {
            Holding::Member(r) => r.take_statements(statements),
            Holding::Relay(l) => Holder::take_statements(l.as_mut(), statements),
        }
    }
}

pub struct Node {
    pub name: String,
    pub id: DeviceId,
    pub holding: Holding,
    pub engine: Engine<usize>,
}

impl Node {
    pub fn replica(&self) -> Option<&Replica> {
        match &self.holding {
            Holding::Member(r) => Some(r),
            Holding::Relay(_) => None,
        }
    }

    pub fn vector(&self) -> VersionVector {
        self.holding.ledger().vector().expect("vector")
    }

    /// Whether this device can take in envelopes of `author`.
    pub fn knows(&self, author: &DeviceId) -> bool {
        self.holding.ledger().members().contains(author)
    }
}

pub enum Body {
    Request(SyncRequest),
    Response(SyncResponse),
}

pub struct Message {
    pub from: usize,
    pub to: usize,
    pub body: Body,
    /// The link's incarnation it was sent on; a message outlives no
    /// disconnection.
    pub link: u64,
}

impl Message {
    /// The authors of the envelopes it carries.
    pub fn authors(&self) -> Vec<DeviceId> {
        let envelopes = match &self.body {
            Body::Request(SyncRequest::Push { envelopes, .. }) => envelopes,
            Body::Response(SyncResponse::Missing { envelopes, .. }) => envelopes,
            _ => return Vec::new(),
        };
        envelopes
            .iter()
            .filter_map(|e| envelope::decode(e).ok().map(|s| s.author))
            .collect()
    }
}

pub struct Sim {
    pub rng: Rng,
    pub nodes: Vec<Node>,
    /// Links that are up, as (lower, higher) index, with their incarnation.
    pub links: BTreeMap<(usize, usize), u64>,
    pub inflight: Vec<Message>,
    pub clock: Instant,
    incarnations: u64,
    journal_key: JournalKey,
    entries: usize,
}

fn key_of(a: usize, b: usize) -> (usize, usize) {
    (a.min(b), a.max(b))
}

fn engine_config() -> Config {
    Config {
        anti_entropy: Duration::from_secs(10),
        ..Config::default()
    }
}

impl Sim {
    /// A journal started by the first of `members`, with the others paired
    /// in, converged; then `relays` devices without the journal key, told
    /// the members' public keys.
    pub fn new(seed: u64, members: &[&str], relays: &[&str]) -> Self {
        let key = JournalKey::generate();
        let copy = |k: &JournalKey| JournalKey::from_secret_text(&k.to_secret_text()).expect("key");
        let mut first = Replica::create(
            Store::open_in_memory().expect("store"),
            DeviceKey::generate(),
            copy(&key),
            members[0],
            "laptop",
            NOW,
        )
        .expect("create");
        let mut replicas = Vec::new();
        for name in &members[1..] {
            replicas.push(pair_into(&mut first, name, &key));
        }
        // Everyone starts with everything the first device holds.
        let snapshot = first.seal_current().expect("seal");
        for r in &mut replicas {
            r.receive_snapshot(&snapshot).expect("snapshot");
        }
        replicas.insert(0, first);
        let member_ids: Vec<DeviceId> = replicas.iter().map(|r| r.device_id()).collect();
        let journal_id = replicas[0].journal_id();
        let mut holdings: Vec<(String, Holding)> = members
            .iter()
            .map(|n| n.to_string())
            .zip(replicas.into_iter().map(|r| Holding::Member(Box::new(r))))
            .collect();
        for name in relays {
            let ledger = Ledger::create(
                Store::open_in_memory().expect("store"),
                journal_id,
                DeviceKey::generate().id(),
                &member_ids,
            )
            .expect("relay");
            holdings.push((name.to_string(), Holding::Relay(Box::new(ledger))));
        }
        let nodes = holdings
            .into_iter()
            .map(|(name, holding)| Node {
                id: holding.ledger().device_id(),
                engine: Engine::new(engine_config(), &holding).expect("engine"),
                name,
                holding,
            })
            .collect();
        Self {
            rng: Rng::new(seed),
            nodes,
            links: BTreeMap::new(),
            inflight: Vec::new(),
            clock: Instant::now(),
            incarnations: 0,
            journal_key: key,
            entries: 0,
        }
    }

    pub fn index(&self, name: &str) -> usize {
        self.nodes
            .iter()
            .position(|n| n.name == name)
            .unwrap_or_else(|| panic!("no device {name}"))
    }

    pub fn members(&self) -> Vec<usize> {
        (0..self.nodes.len())
            .filter(|&i| self.nodes[i].replica().is_some())
            .collect()
    }

    /// Whether `a` lets `b` connect, as the daemon's member gate does: a
    /// member admits the devices it knows to be members, and the relay
    /// (paired as a mirror); a relay admits the members it knows.
    pub fn admits(&self, a: usize, b: usize) -> bool {
        let other = &self.nodes[b];
        match &self.nodes[a].holding {
            Holding::Member(_) if other.replica().is_none() => true,
            _ => self.nodes[a].knows(&other.id),
        }
    }

    /// Brings a link up, if both ends admit each other; `a` dials.
    /// Returns whether the link is up.
    pub fn connect(&mut self, a: usize, b: usize) -> bool {
        if a == b || !self.admits(a, b) || !self.admits(b, a) {
            return false;
        }
        if self.links.contains_key(&key_of(a, b)) {
            return true;
        }
        self.incarnations += 1;
        self.links.insert(key_of(a, b), self.incarnations);
        let (na, nb) = self.pair_mut(a, b);
        na.engine.connected(b, true, &na.holding);
        nb.engine.connected(a, false, &nb.holding);
        self.drain(a);
        self.drain(b);
        true
    }

    pub fn disconnect(&mut self, a: usize, b: usize) {
        if self.links.remove(&key_of(a, b)).is_some() {
            self.nodes[a].engine.disconnected(&b);
            self.nodes[b].engine.disconnected(&a);
        }
    }

    pub fn disconnect_all(&mut self) {
        let links: Vec<(usize, usize)> = self.links.keys().copied().collect();
        for (a, b) in links {
            self.disconnect(a, b);
        }
    }

    fn pair_mut(&mut self, a: usize, b: usize) -> (&mut Node, &mut Node) {
        assert_ne!(a, b);
        if a < b {
            let (x, y) = self.nodes.split_at_mut(b);
            (&mut x[a], &mut y[0])
        } else {
            let (x, y) = self.nodes.split_at_mut(a);
            (&mut y[0], &mut x[b])
        }
    }

    /// Moves a node's outputs into the network.
    pub fn drain(&mut self, i: usize) {
        while let Some(out) = self.nodes[i].engine.poll_output() {
            if std::env::var("SIM_DEBUG").is_ok() {
                match &out {
                    Output::Send { to, request } => eprintln!(
                        "{} -> {}: {}",
                        self.nodes[i].name,
                        self.nodes[*to].name,
                        match request {
                            SyncRequest::Hello { .. } => "hello".to_string(),
                            SyncRequest::Push {
                                snapshot,
                                envelopes,
                                ..
                            } => format!("push snap={} n={}", snapshot.is_some(), envelopes.len()),
                            SyncRequest::Keys => "keys".to_string(),
                            SyncRequest::Pairing { .. } => "pairing".to_string(),
                        }
                    ),
                    Output::Event(Event::Received { from, intake }) => eprintln!(
                        "{} <- {}: {:?}",
                        self.nodes[i].name, self.nodes[*from].name, intake
                    ),
                    _ => {}
                }
            }
            match out {
                Output::Send { to, request } => {
                    if let Some(&link) = self.links.get(&key_of(i, to)) {
                        self.inflight.push(Message {
                            from: i,
                            to,
                            body: Body::Request(request),
                            link,
                        });
                    }
                }
                Output::Event(Event::Local { doing, error }) => {
                    panic!(
                        "{}: store failed while {doing}: {error}",
                        self.nodes[i].name
                    )
                }
                Output::Event(Event::Received { intake, .. }) => match intake.first_refusal {
                    // A snapshot signed by a device this one does not know
                    // yet (a relay never learns devices paired later).
                    Some(ReceiveError::Open(OpenError::UnknownAuthor(_))) | None => {}
                    Some(e) => {
                        panic!(
                            "{} refused something a member sent: {e}",
                            self.nodes[i].name
                        )
                    }
                },
                Output::Event(_) => {}
            }
        }
    }

    /// Delivers (or drops) the message at `index` of the in-flight list.
    pub fn deliver(&mut self, index: usize) {
        let message = self.inflight.swap_remove(index);
        let link = self.links.get(&key_of(message.from, message.to)).copied();
        if link != Some(message.link) {
            return;
        }
        let (from, to) = (message.from, message.to);
        let node = &mut self.nodes[to];
        match message.body {
            Body::Request(request) => {
                if let Some(response) = node.engine.on_request(from, request, &mut node.holding) {
                    self.inflight.push(Message {
                        from: to,
                        to: from,
                        body: Body::Response(response),
                        link: message.link,
                    });
                }
            }
            Body::Response(response) => {
                node.engine.on_response(from, response, &mut node.holding);
            }
        }
        self.drain(to);
    }

    /// Delivers the first in-flight message `pick` chooses.
    pub fn deliver_where(&mut self, pick: impl FnMut(&Message) -> bool) {
        let index = self
            .inflight
            .iter()
            .position(pick)
            .expect("a message to deliver");
        self.deliver(index);
    }

    /// Delivers the messages between `a` and `b` (in random order) until
    /// none is in flight between them.
    pub fn settle_between(&mut self, a: usize, b: usize) {
        let between = |m: &Message| key_of(m.from, m.to) == key_of(a, b);
        while let Some(i) = self.inflight.iter().position(between) {
            self.deliver(i);
        }
    }

    /// Delivers messages in random order until none is in flight; with
    /// `duplicate`, some are delivered twice.
    pub fn settle(&mut self, duplicate: f64) {
        let mut steps = 0;
        while !self.inflight.is_empty() {
            steps += 1;
            assert!(steps < 200_000, "the network never went quiet");
            let i = self.rng.below(self.inflight.len());
            if self.rng.chance(duplicate) {
                let copy = self.copy_of(i);
                self.inflight.push(copy);
            }
            self.deliver(i);
        }
    }

    pub fn copy_of(&self, i: usize) -> Message {
        let m = &self.inflight[i];
        Message {
            from: m.from,
            to: m.to,
            link: m.link,
            body: match &m.body {
                Body::Request(r) => Body::Request(r.clone()),
                Body::Response(r) => Body::Response(r.clone()),
            },
        }
    }

    /// Every connected pair compares vectors, as the anti-entropy round
    /// does every ten seconds.
    pub fn tick(&mut self) {
        self.clock += Duration::from_secs(10);
        for i in 0..self.nodes.len() {
            let node = &mut self.nodes[i];
            node.engine.tick(self.clock, &node.holding);
            self.drain(i);
        }
    }

    /// A member writes something: an entry, or a reply or reaction to one.
    pub fn write(&mut self, i: usize) {
        self.entries += 1;
        let n = self.entries;
        let choice = self.rng.below(4);
        let name = self.nodes[i].name.clone();
        let Holding::Member(replica) = &mut self.nodes[i].holding else {
            panic!("a relay cannot write");
        };
        let live = replica.journal().all_entries();
        let target = (!live.is_empty()).then(|| live[n % live.len()].id.clone());
        match (choice, target) {
            (0, Some(id)) => {
                let body = format!("reply {n}");
                replica
                    .commit(|j, a| j.reply(a, &id, &body, NOW + n as i64))
                    .expect("reply");
            }
            (1, Some(id)) => {
                replica
                    .commit(|j, a| Ok(((), j.react(a, &id, "❤️", NOW + n as i64)?)))
                    .expect("react");
            }
            _ => {
                let new = NewEntry {
                    body: format!("entry {n} from {name}"),
                    ..NewEntry::default()
                };
                replica
                    .commit(|j, a| j.add_entry(a, new, NOW + n as i64))
                    .expect("add");
            }
        }
        let node = &mut self.nodes[i];
        node.engine.pick_up(&node.holding);
        self.drain(i);
    }

    /// A member compacts its store into a snapshot.
    pub fn compact(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        if let Holding::Member(replica) = &mut node.holding {
            replica.compact().expect("compact");
        }
        node.engine.pick_up(&node.holding);
        self.drain(i);
    }

    /// A device restarts: its connections drop, its sync state is lost,
    /// and it opens its store again.
    pub fn restart(&mut self, i: usize) {
        let peers: Vec<usize> = (0..self.nodes.len()).filter(|&j| j != i).collect();
        for j in peers {
            self.disconnect(i, j);
        }
        let placeholder = Holding::Relay(Box::new(
            Ledger::create(
                Store::open_in_memory().expect("store"),
                duet_core::JournalId([0; 16]),
                DeviceId([0; 32]),
                &[],
            )
            .expect("placeholder"),
        ));
        let holding = match std::mem::replace(&mut self.nodes[i].holding, placeholder) {
            Holding::Member(replica) => {
                let (store, device, key) = replica.into_parts();
                Holding::Member(Box::new(Replica::open(store, device, key).expect("reopen")))
            }
            Holding::Relay(ledger) => {
                Holding::Relay(Box::new(Ledger::open(ledger.into_store()).expect("reopen")))
            }
        };
        self.nodes[i].engine = Engine::new(engine_config(), &holding).expect("engine");
        self.nodes[i].holding = holding;
    }

    /// Member `inviter` pairs a new device, which joins from the snapshot
    /// the inviter seals (holding the record that adds it). Returns its
    /// index; it has no links yet.
    pub fn pair_new(&mut self, inviter: usize, name: &str) -> usize {
        let key = JournalKey::from_secret_text(&self.journal_key.to_secret_text()).expect("key");
        let Holding::Member(replica) = &mut self.nodes[inviter].holding else {
            panic!("a relay cannot invite");
        };
        let new = pair_into(replica, name, &key);
        let node = &mut self.nodes[inviter];
        node.engine.pick_up(&node.holding);
        self.drain(inviter);
        let holding = Holding::Member(Box::new(new));
        self.nodes.push(Node {
            name: name.to_string(),
            id: holding.ledger().device_id(),
            engine: Engine::new(engine_config(), &holding).expect("engine"),
            holding,
        });
        self.nodes.len() - 1
    }

    /// The groups of devices joined by links up.
    pub fn components(&self) -> Vec<Vec<usize>> {
        let all: Vec<usize> = (0..self.nodes.len()).collect();
        self.groups_over(&all)
    }

    /// Asserts that devices joined by links hold the same envelopes of
    /// every author they can carry (a relay carries only the members it
    /// knows), and that members holding the same envelopes hold the same
    /// journal.
    pub fn assert_components_converged(&self, when: &str) {
        let authors: BTreeSet<DeviceId> =
            self.members().iter().map(|&i| self.nodes[i].id).collect();
        for author in &authors {
            // Links along which `author`'s envelopes can travel.
            let carriers: Vec<usize> = (0..self.nodes.len())
                .filter(|&i| self.nodes[i].knows(author))
                .collect();
            for group in self.groups_over(&carriers) {
                let held: Vec<(String, u64)> = group
                    .iter()
                    .map(|&i| {
                        (
                            self.nodes[i].name.clone(),
                            self.nodes[i].vector().get(author),
                        )
                    })
                    .collect();
                assert!(
                    held.windows(2).all(|w| w[0].1 == w[1].1),
                    "{when}: linked devices hold different envelopes of {}: {held:?}",
                    self.name_of(author)
                );
            }
        }
        for group in self.components() {
            let members: Vec<&Replica> = group
                .iter()
                .filter_map(|&i| self.nodes[i].replica())
                .collect();
            for pair in members.windows(2) {
                if pair[0].vector().expect("vv") == pair[1].vector().expect("vv") {
                    assert_eq!(
                        pair[0].journal().all_entries(),
                        pair[1].journal().all_entries(),
                        "{when}: the same envelopes gave different journals"
                    );
                    assert_eq!(pair[0].devices(), pair[1].devices());
                }
            }
        }
    }

    /// Connected groups among `allowed` devices, over links up.
    fn groups_over(&self, allowed: &[usize]) -> Vec<Vec<usize>> {
        let allowed: BTreeSet<usize> = allowed.iter().copied().collect();
        let mut seen = BTreeSet::new();
        let mut out = Vec::new();
        for &start in &allowed {
            if !seen.insert(start) {
                continue;
            }
            let mut group = vec![start];
            let mut i = 0;
            while i < group.len() {
                let at = group[i];
                for &(a, b) in self.links.keys() {
                    let other = if a == at {
                        b
                    } else if b == at {
                        a
                    } else {
                        continue;
                    };
                    if allowed.contains(&other) && seen.insert(other) {
                        group.push(other);
                    }
                }
                i += 1;
            }
            out.push(group);
        }
        out
    }

    pub fn name_of(&self, id: &DeviceId) -> String {
        self.nodes
            .iter()
            .find(|n| n.id == *id)
            .map_or_else(|| id.short(), |n| n.name.clone())
    }

    /// Asserts no member's write is missing anywhere: every member holds
    /// every envelope every member wrote, the same journal, and every
    /// relay holds every envelope of the members it knows.
    pub fn assert_nothing_lost(&self) {
        let members = self.members();
        let mut written = VersionVector::new();
        for &i in &members {
            let id = self.nodes[i].id;
            written.set(id, self.nodes[i].vector().get(&id));
        }
        for node in &self.nodes {
            let held = node.vector();
            for (author, seq) in written.iter() {
                if node.knows(&author) {
                    assert_eq!(
                        held.get(&author),
                        seq,
                        "{} holds {} of {}'s {seq} envelopes",
                        node.name,
                        held.get(&author),
                        self.name_of(&author)
                    );
                }
            }
        }
        let first = self.nodes[members[0]].replica().expect("member");
        for &i in &members[1..] {
            let other = self.nodes[i].replica().expect("member");
            assert_eq!(other.journal().all_entries(), first.journal().all_entries());
            assert_eq!(other.devices(), first.devices());
        }
    }
}

/// Pairs a new device into `inviter`'s journal the way pairing does: the
/// inviter records the device, then hands over the key and a snapshot.
pub fn pair_into(inviter: &mut Replica, person: &str, key: &JournalKey) -> Replica {
    let device = DeviceKey::generate();
    let record = DeviceRecord {
        id: device.id().to_text(),
        person: person.into(),
        name: format!("{person}'s laptop"),
        added_by: Some(inviter.device_id().to_text()),
        added_at: NOW,
        role: None,
    };
    inviter
        .commit(|j, _| Ok(((), j.add_device(&record)?)))
        .expect("record device");
    let snapshot = inviter.seal_current().expect("snapshot");
    let key = JournalKey::from_secret_text(&key.to_secret_text()).expect("key");
    Replica::join(
        Store::open_in_memory().expect("store"),
        device,
        key,
        inviter.journal_id(),
        inviter.device_id(),
        &snapshot,
    )
    .expect("join")
}
