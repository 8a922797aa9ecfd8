//! The daemon's event loop: one task owns the swarm, the journal (a
//! writer) and the sync engine. Commands from the control socket, swarm
//! events and a timer are dispatched to small handlers; the sync
//! protocol's decisions are the engine's (`duet_core::sync`), and the
//! inviting side of pairing is a state machine (`invite.rs`). What is left
//! here is IO: carrying their outputs to the swarm and the store.

mod pair_io;
mod relay_io;
mod sync_io;

use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

use duet_core::journal::NewEntry;
use duet_core::sync::{Config as EngineConfig, Engine};
use duet_core::DeviceId;
use futures::StreamExt;
use libp2p::request_response::ResponseChannel;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{mdns, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::command::Command;
use crate::control::{InviteEvent, PeerStatus, StatusReport};
use crate::gate::Members;
use crate::identity;
use crate::invite::Invitations;
use crate::local::Local;
use crate::protocol::PairResponse;
use crate::redial::Redial;
use crate::waiters::Waiters;
use crate::warnings::Warnings;

/// How often the daemon looks at the store and its timers.
const TICK: Duration = Duration::from_millis(200);
/// Compaction waits until nothing has been synced or written for this long.
const QUIET_BEFORE_COMPACTING: Duration = Duration::from_secs(2);
/// ...unless this many envelopes wait beyond the snapshot.
const COMPACT_ANYWAY: usize = 2048;
/// How long `duet sync` waits for answers.
const SYNC_WAIT: Duration = Duration::from_secs(15);
/// How often one peer is asked for key epochs at most.
const KEYS_ASK_EVERY: Duration = Duration::from_secs(30);

pub struct EventLoop {
    swarm: Swarm<Behaviour>,
    local: Local,
    engine: Engine<PeerId>,
    /// Who may connect; shared with the swarm's gate.
    gate: Members,
    /// How many members the gate was last told of.
    gate_members: usize,
    invitations: Invitations<ResponseChannel<PairResponse>>,
    /// Where each open invitation's events go (the person's session).
    invite_events: HashMap<u32, mpsc::Sender<InviteEvent>>,
    redial: Redial,
    waiters: Waiters,
    /// Refusals of what peers sent, logged a few lines a minute per peer
    /// and kind of refusal at most.
    refusals: Warnings<(PeerId, String)>,
    commands: mpsc::Receiver<Command>,
    /// When a sync message or a write last kept the loop busy.
    last_activity: Instant,
    /// When each peer was last asked for key epochs.
    keys_asked: HashMap<PeerId, Instant>,
    /// Members this removed device handed its counter-removals to, this
    /// run (`tell_removed`).
    countered: std::collections::HashSet<PeerId>,
    /// Key ids of envelopes held back for want of their epoch.
    keys_wanted: std::collections::HashSet<u32>,
    /// Connections (direct or relayed) and reservations on mirrors.
    links: relay_io::Links,
    /// Addresses of joiners that listen, dialled while an invitation
    /// waits, and when they were last dialled.
    invite_dials: Vec<Multiaddr>,
    invite_dialled: Option<Instant>,
}

impl EventLoop {
    pub fn new(
        swarm: Swarm<Behaviour>,
        local: Local,
        gate: Members,
        commands: mpsc::Receiver<Command>,
    ) -> Result<Self, duet_core::store::StoreError> {
        let mut engine = Engine::new(EngineConfig::default(), &local)?;
        engine.set_device_of(identity::device_id);
        let me = *swarm.local_peer_id();
        let mut event_loop = Self {
            swarm,
            local,
            engine,
            gate,
            gate_members: 0,
            invitations: Invitations::new(me),
            invite_events: HashMap::new(),
            redial: Redial::default(),
            waiters: Waiters::default(),
            refusals: Warnings::default(),
            commands,
            last_activity: Instant::now(),
            keys_asked: HashMap::new(),
            countered: std::collections::HashSet::new(),
            keys_wanted: std::collections::HashSet::new(),
            links: relay_io::Links::default(),
            invite_dials: Vec::new(),
            invite_dialled: None,
        };
        event_loop.update_gate();
        Ok(event_loop)
    }

    pub async fn run(mut self, shutdown: impl Future<Output = ()>) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(command) = self.commands.recv() => self.on_command(command),
                event = self.swarm.select_next_some() => self.on_swarm_event(event),
                _ = tick.tick() => self.on_tick(),
            }
        }
    }

    fn on_command(&mut self, command: Command) {
        match command {
            Command::Status(reply) => {
                let _ = reply.send(self.status());
            }
            Command::Sync(reply) => self.sync_now(reply),
            Command::Refresh(reply) => {
                self.pick_up_local_writes();
                let _ = reply.send(());
            }
            Command::Add {
                entry,
                created,
                reply,
            } => self.add(entry, created, reply),
            Command::Invite {
                timeout,
                dial,
                events,
                opened,
            } => self.open_invitation(timeout, dial, events, opened),
            Command::Answer { nameplate, accept } => {
                let actions = self
                    .invitations
                    .answer(nameplate, accept, ResponseChannel::is_open);
                self.carry_out(actions);
            }
            Command::Abandon { nameplate } => {
                let actions = self.invitations.end(nameplate, None);
                self.carry_out(actions);
                self.invite_events.remove(&nameplate);
                self.close_pairing_if_idle();
            }
        }
    }

    /// Writes an entry for `duet add` and pushes it at once.
    fn add(
        &mut self,
        entry: NewEntry,
        created: i64,
        reply: oneshot::Sender<Result<String, duet_core::replica::ReplicaError>>,
    ) {
        self.last_activity = Instant::now();
        // What the CLI wrote before must be in the history this entry
        // continues.
        self.pick_up_local_writes();
        let result = self
            .local
            .writer
            .commit(|journal, author| journal.add_entry(author, entry, created));
        let _ = reply.send(result);
        self.engine.pick_up(&self.local);
        self.drain_engine();
    }

    fn status(&self) -> StatusReport {
        let me = self.local.device_id();
        let ledger = self.local.writer.ledger();
        let peers = self
            .local
            .writer
            .devices()
            .iter()
            .filter(|d| d.id != me.to_text())
            // A removed device is listed apart by `duet devices`.
            .filter(|d| {
                DeviceId::from_text(&d.id).is_none_or(|id| !ledger.removed().contains_key(&id))
            })
            .map(|d| {
                let id = DeviceId::from_text(&d.id);
                let record = id
                    .and_then(|id| ledger.store().peer(&id).ok())
                    .unwrap_or_default();
                let theirs = record.vector.unwrap_or_default();
                let peer = id.and_then(|id| identity::peer_id(&id));
                PeerStatus {
                    via: peer.and_then(|p| self.links.via(&p)).map(str::to_string),
                    connected: peer.is_some_and(|p| self.engine.is_connected(&p)),
                    device_id: d.id.clone(),
                    person: d.person.clone(),
                    name: d.name.clone(),
                    last_sync: record.last_sync,
                    waiting: ledger.waiting_for(&theirs).unwrap_or(0),
                    to_go: self
                        .local
                        .writer
                        .member()
                        .tally_waiting(&theirs)
                        .unwrap_or_default(),
                    clock_ahead: record.clock_ahead,
                    addrs: record.addrs,
                }
            })
            .collect();
        let asked_a_mirror = !self.mirrors().is_empty();
        StatusReport {
            device_id: me.to_text(),
            addrs: self.swarm.listeners().map(|a| a.to_string()).collect(),
            peers,
            reachability: asked_a_mirror
                .then(|| relay_io::reachability(&self.swarm.behaviour().autonat.nat_status())),
        }
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        self.pick_up_local_writes();
        self.keep_reservations();
        self.dial_joiners(now);
        self.expire_welcomes(now);
        let actions = self.invitations.expire(now);
        self.carry_out(actions);
        self.redial(false);
        self.engine.tick(now, &self.local);
        self.drain_engine();
        self.waiters.expire(now);
        for line in self.refusals.due(now) {
            let peer = self.name(&line.source.0);
            tracing::warn!(%peer, refused = line.count, reason = %line.reason, "refused more of what a device sent in the last minute");
        }
        // Compaction loads and saves the whole document (about 0.2 s per
        // 10,000 entries) and holds the loop meanwhile, so it waits for a
        // quiet moment, unless the tail has grown long regardless.
        let quiet = self.last_activity.elapsed() >= QUIET_BEFORE_COMPACTING;
        let long_tail = self
            .local
            .writer
            .ledger()
            .envelope_count()
            .is_ok_and(|n| n >= COMPACT_ANYWAY);
        match self.local.finished_reindex() {
            Some(Err(e)) => {
                tracing::warn!(error = %crate::sentence(&e), "could not bring the read index current; reads load the whole journal meanwhile")
            }
            Some(Ok(())) => tracing::debug!("read index current"),
            None => {}
        }
        if self.local.wants_index(now) {
            self.local.start_reindex();
        }
        if (quiet || long_tail) && self.local.wants_compaction(now) {
            match self.local.compact(now) {
                Err(e) => {
                    tracing::warn!(error = %crate::sentence(&e), "compaction failed; will try again later");
                }
                Ok(()) if self.local.wants_compaction_later() => {
                    tracing::info!("compaction left envelopes beyond a gap in a sequence; it waits for new ones before trying again");
                }
                Ok(()) => tracing::debug!("compacted"),
            }
            // Peers behind the new snapshot are offered it.
            self.engine.pick_up(&self.local);
            self.drain_engine();
            self.update_gate();
        }
    }

    /// How the log names `peer` (`identity::named`).
    pub(super) fn name(&self, peer: &PeerId) -> String {
        identity::named(peer, self.local.writer.devices())
    }

    /// Takes in what the CLI wrote to the store and pushes it.
    fn pick_up_local_writes(&mut self) {
        if let Err(e) = self.local.writer.refresh() {
            tracing::warn!(error = %crate::sentence(&e), "cannot read new writes from the store");
        }
        self.follow_removals();
        self.engine.pick_up(&self.local);
        self.drain_engine();
        self.update_gate();
    }

    /// Writes what following the removals this device learned needs
    /// (`Writer::follow_removals`), and pushes it.
    pub(super) fn follow_removals(&mut self) {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        match self.local.writer.follow_removals(now) {
            Ok(false) => {}
            Ok(true) => {
                tracing::info!("followed removals this device learned: raised what it took in from removed devices, or started a key epoch none of them holds");
                self.engine.pick_up(&self.local);
                self.drain_engine();
                self.update_gate();
            }
            Err(e) => {
                tracing::warn!(error = %crate::sentence(&e), "cannot record what following a removal needs; trying again");
            }
        }
    }

    /// Tells the gate the membership, when it changed: members, and
    /// removed devices, which are closed out at once.
    fn update_gate(&mut self) {
        crate::peering::update_gate(
            &self.gate,
            self.local.writer.ledger(),
            self.local.writer.devices(),
            &mut self.engine,
            &mut self.swarm,
            &mut self.gate_members,
        );
    }

    /// Dials member devices that are not connected, with backoff.
    fn redial(&mut self, force: bool) {
        crate::peering::dial_members(
            &mut self.swarm,
            self.local.writer.ledger(),
            self.local.writer.devices(),
            &mut self.redial,
            force,
        );
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                // A relayed address names the mirror's port: never this
                // device's own to listen on again.
                if !relay_io::is_relayed(&address) {
                    let me = self.local.device_id();
                    let _ = self
                        .local
                        .writer
                        .store()
                        .remember_addrs(&me, &[address.to_string()]);
                }
                let own = self.swarm.listeners().map(|a| a.to_vec()).collect();
                self.engine.set_own_addrs(own);
            }
            SwarmEvent::ListenerClosed { listener_id, .. } => {
                self.listener_closed(listener_id);
                let own = self.swarm.listeners().map(|a| a.to_vec()).collect();
                self.engine.set_own_addrs(own);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                connection_id,
                ..
            } => {
                self.link_opened(peer_id, connection_id, &endpoint);
                if self.gate.is_removed(&peer_id) {
                    tracing::info!(peer = %self.name(&peer_id), "a removed device connected; it is told, and nothing else");
                    return;
                }
                if !self.gate.is_member(&peer_id) {
                    tracing::info!(peer = %peer_id, "a device that is not a member connected to pair");
                    return;
                }
                self.redial.connected(&peer_id);
                if endpoint.is_dialer() {
                    if let Some(device) = identity::device_id(&peer_id) {
                        let addr = endpoint.get_remote_address().to_string();
                        let _ = self.local.writer.store().remember_addrs(&device, &[addr]);
                    }
                }
                if !self.engine.is_connected(&peer_id) {
                    tracing::info!(peer = %self.name(&peer_id), "member device connected");
                }
                self.engine
                    .connected(peer_id, endpoint.is_dialer(), &self.local);
                self.drain_engine();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                connection_id,
                num_established,
                ..
            } => {
                self.link_closed(&peer_id, connection_id);
                if num_established == 0 && self.engine.is_connected(&peer_id) {
                    self.engine.disconnected(&peer_id);
                    tracing::info!(peer = %self.name(&peer_id), "member device disconnected");
                }
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(error = %error, "incoming connection failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    self.on_discovered(peer, addr);
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Pair(event)) => self.on_pair_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Autonat(
                libp2p::autonat::Event::StatusChanged { new, .. },
            )) => {
                tracing::info!(reachability = %relay_io::reachability(&new), "this device's reachability");
            }
            _ => {}
        }
    }

    /// A device found on the LAN: a member not connected is dialled.
    fn on_discovered(&mut self, peer: PeerId, addr: Multiaddr) {
        if !self.gate.is_member(&peer) || self.swarm.is_connected(&peer) {
            return;
        }
        if let Some(device) = identity::device_id(&peer) {
            let _ = self
                .local
                .writer
                .store()
                .remember_addrs(&device, &[addr.to_string()]);
        }
        let _ = self
            .swarm
            .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
