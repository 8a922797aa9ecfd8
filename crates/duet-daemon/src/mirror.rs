//! A mirror (`docs/mirror.md`): a device of the journal that holds no
//! journal key. It runs on an always-on machine with a reachable address,
//! follows the signed device list (`duet_core::ledger::statements`),
//! verifies and stores what members send with the ledger alone, and serves
//! it to members that were away: store and forward. It can read nothing;
//! its disk holds ciphertext, device ids and addresses.
//!
//! The loop is the device daemon's, smaller: the same swarm and gate, the
//! same sync engine over a keyless [`Ledger`], no writer, no pairing of
//! others, and a control socket that answers `status` and `sync`.

use std::collections::HashMap;
use std::future::Future;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use duet_core::home::{Home, HomeError};
use duet_core::ledger::Ledger;
use duet_core::sync::{Config as EngineConfig, Engine, Event, Output};
use futures::StreamExt;
use libp2p::request_response::{self, Message};
use libp2p::swarm::SwarmEvent;
use libp2p::{Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{self, Behaviour, BehaviourEvent};
use crate::command::{Command, Handle};
use crate::control::{PeerStatus, StatusReport, SyncedPeer};
use crate::gate::Members;
use crate::identity::{self, short};
use crate::protocol::{PairRequest, PairResponse, SyncRequest, SyncResponse};
use crate::redial::Redial;
use crate::run::{bind, listen, lock_home, remembered_own_addrs, Control, DaemonError};
use crate::warnings::Warnings;

/// How often the mirror looks at its timers.
const TICK: Duration = Duration::from_millis(500);
/// How long `duet sync` on the mirror waits for answers.
const SYNC_WAIT: Duration = Duration::from_secs(15);
/// The longest a member may keep the relay open to a device pairing.
const PAIRING_WINDOW: Duration = Duration::from_secs(15 * 60);
/// How long the relay stays open to devices pairing after the member's
/// invitation ended: the welcome the member just sent may still be on its
/// way through a circuit, and the new device's record may reach the
/// mirror after the message that closes the window.
const PAIRING_GRACE: Duration = Duration::from_secs(30);

pub struct MirrorConfig {
    pub home: PathBuf,
    /// Addresses to listen on; empty means all interfaces, ephemeral
    /// ports, TCP and QUIC (a mirror usually wants a fixed port).
    pub listen: Vec<Multiaddr>,
    /// Its public addresses, told to devices (a VPS's address, a router's
    /// forwarded port), beside those it listens on.
    pub announce: Vec<Multiaddr>,
    pub control: Control,
}

#[derive(Debug, thiserror::Error)]
pub enum MirrorError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Daemon(#[from] DaemonError),
}

/// Runs the mirror for `config.home` until `shutdown` completes.
pub async fn run(
    config: MirrorConfig,
    shutdown: impl Future<Output = ()>,
) -> Result<(), MirrorError> {
    let lock = lock_home(&config.home)?;
    let home = Home::new(&config.home);
    let (ledger, device) = home.open_mirror()?;
    let me = ledger.device_id();
    let gate = Members::default();
    let mut swarm = behaviour::build(
        identity::keypair(&device),
        gate.clone(),
        false,
        behaviour::Role::Mirror,
    )
    .map_err(DaemonError::from)?;
    let before = remembered_own_addrs(ledger.store(), &me);
    listen(&mut swarm, &before, config.listen)?;
    for addr in &config.announce {
        swarm.add_external_address(addr.clone());
    }
    let (commands_tx, commands) = mpsc::channel(16);
    let socket = crate::control::socket_path(&config.home);
    let listener = match config.control {
        Control::Socket => Some(bind(&socket)?),
        Control::Listener(listener) => Some(listener),
        Control::Off => None,
    };
    let server = listener.map(|l| tokio::spawn(crate::server::serve(l, Handle::new(commands_tx))));
    let mut engine = Engine::new(EngineConfig::default(), &ledger).map_err(DaemonError::from)?;
    engine.set_device_of(identity::device_id);
    let mut mirror = Mirror {
        swarm,
        ledger,
        engine,
        gate,
        gate_size: usize::MAX,
        redial: Redial::default(),
        refusals: Warnings::default(),
        waiting: HashMap::new(),
        announce: config.announce,
        pairing_until: None,
    };
    mirror.update_gate();
    tracing::info!(device = %me.short(), "mirror started");
    mirror.run(commands, shutdown).await;
    if let Some(server) = server {
        server.abort();
        let _ = std::fs::remove_file(&socket);
    }
    drop(lock);
    tracing::info!("mirror stopped");
    Ok(())
}

struct Mirror {
    swarm: Swarm<Behaviour>,
    ledger: Ledger,
    engine: Engine<PeerId>,
    gate: Members,
    /// The membership's size as the gate was last told it.
    gate_size: usize,
    redial: Redial,
    refusals: Warnings<(PeerId, String)>,
    /// `duet sync` answers waiting for peers' replies, by request.
    waiting: HashMap<request_response::OutboundRequestId, (PeerId, Instant)>,
    /// Public addresses told to devices beside those it listens on.
    announce: Vec<Multiaddr>,
    /// Until when a device that is not a member may reach a member
    /// through the relay to pair (`SyncRequest::Pairing`).
    pairing_until: Option<Instant>,
}

impl Mirror {
    async fn run(
        &mut self,
        mut commands: mpsc::Receiver<Command>,
        shutdown: impl Future<Output = ()>,
    ) {
        let mut tick = tokio::time::interval(TICK);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                biased;
                _ = &mut shutdown => break,
                Some(command) = commands.recv() => self.on_command(command),
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
                let _ = reply.send(());
            }
            // A mirror writes nothing and pairs no one: the reply channel
            // is dropped, and the CLI says the daemon could not do it.
            Command::Add { .. }
            | Command::Invite { .. }
            | Command::Answer { .. }
            | Command::Abandon { .. } => {}
        }
    }

    fn status(&self) -> StatusReport {
        let me = self.ledger.device_id();
        let peers = self
            .ledger
            .members()
            .iter()
            .filter(|d| **d != me && self.ledger.is_current_member(d))
            .map(|d| {
                let record = self.ledger.store().peer(d).unwrap_or_default();
                let theirs = record.vector.unwrap_or_default();
                PeerStatus {
                    connected: identity::peer_id(d).is_some_and(|p| self.engine.is_connected(&p)),
                    device_id: d.to_text(),
                    // A mirror knows no names: they are sealed.
                    person: String::new(),
                    name: String::new(),
                    last_sync: record.last_sync,
                    waiting: self.ledger.waiting_for(&theirs).unwrap_or(0),
                    clock_ahead: record.clock_ahead,
                    addrs: record.addrs,
                    // A mirror cannot read what waits: it has no key.
                    ..PeerStatus::default()
                }
            })
            .collect();
        StatusReport {
            device_id: me.to_text(),
            addrs: self.swarm.listeners().map(|a| a.to_string()).collect(),
            peers,
            reachability: None,
        }
    }

    fn sync_now(&mut self, reply: oneshot::Sender<Vec<SyncedPeer>>) {
        let peers: Vec<PeerId> = self.engine.connected_peers().copied().collect();
        let mut synced = Vec::new();
        for peer in peers {
            if let Ok(hello) = self.engine.hello(&self.ledger) {
                self.swarm.behaviour_mut().sync.send_request(&peer, hello);
                synced.push(SyncedPeer {
                    device_id: identity::device_id(&peer)
                        .map(|d| d.to_text())
                        .unwrap_or_default(),
                    ok: true,
                    ..SyncedPeer::default()
                });
            }
        }
        self.redial(true);
        let _ = reply.send(synced);
    }

    /// A member has an invitation open: a device that is not a member yet
    /// may connect and open circuits through the relay to pair, for at
    /// most [`PAIRING_WINDOW`] (0 closes it, after [`PAIRING_GRACE`]).
    /// Returns the seconds granted.
    fn open_pairing(&mut self, by: PeerId, secs: u32) -> u32 {
        let secs = secs.min(PAIRING_WINDOW.as_secs() as u32);
        if secs == 0 {
            let grace = Instant::now() + PAIRING_GRACE;
            self.pairing_until = self.pairing_until.map(|until| until.min(grace));
            return 0;
        }
        tracing::info!(peer = %short(&by), secs, "relaying for a device pairing with a member");
        self.pairing_until = Some(Instant::now() + Duration::from_secs(u64::from(secs)));
        self.gate.set_pairing_open(true);
        secs
    }

    /// Strangers may no longer connect; those connected are sent away.
    fn close_pairing(&mut self) {
        crate::peering::close_pairing(&self.gate, &mut self.swarm);
    }

    fn on_tick(&mut self) {
        let now = Instant::now();
        if self.pairing_until.is_some_and(|until| now >= until) {
            self.pairing_until = None;
            self.close_pairing();
        }
        self.engine.tick(now, &self.ledger);
        self.drain_engine();
        self.redial(false);
        self.waiting
            .retain(|_, (_, at)| now.duration_since(*at) < SYNC_WAIT);
    }

    /// Dials the members it knows an address of and is not connected to.
    fn redial(&mut self, force: bool) {
        // A mirror reads no names: its log names devices by short id.
        crate::peering::dial_members(&mut self.swarm, &self.ledger, &[], &mut self.redial, force);
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                // The relay serves only once the mirror has an address to
                // give in its reservations.
                self.swarm.add_external_address(address.clone());
                let me = self.ledger.device_id();
                let _ = self
                    .ledger
                    .store()
                    .remember_addrs(&me, &[address.to_string()]);
                // Announced addresses first: they are the ones that work
                // from elsewhere.
                let own = self
                    .announce
                    .iter()
                    .chain(self.swarm.listeners())
                    .map(|a| a.to_vec())
                    .collect();
                self.engine.set_own_addrs(own);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => {
                if !self.gate.is_member(&peer_id) {
                    return;
                }
                self.redial.connected(&peer_id);
                if endpoint.is_dialer() {
                    if let Some(device) = identity::device_id(&peer_id) {
                        let addr = endpoint.get_remote_address().to_string();
                        let _ = self.ledger.store().remember_addrs(&device, &[addr]);
                    }
                }
                if !self.engine.is_connected(&peer_id) {
                    tracing::info!(peer = %short(&peer_id), "member device connected");
                }
                self.engine
                    .connected(peer_id, endpoint.is_dialer(), &self.ledger);
                self.drain_engine();
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if self.engine.is_connected(&peer_id) => {
                self.engine.disconnected(&peer_id);
                tracing::info!(peer = %short(&peer_id), "member device disconnected");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Pair(request_response::Event::Message {
                message:
                    Message::Request {
                        channel, request, ..
                    },
                ..
            })) => {
                // A mirror holds no key to give, and no invitation.
                let reason = match request {
                    PairRequest::Start { .. } | PairRequest::Confirm { .. } => {
                        "this device is a mirror; it cannot invite devices"
                    }
                };
                let _ = self.swarm.behaviour_mut().pair.send_response(
                    channel,
                    PairResponse::Refused {
                        reason: reason.into(),
                    },
                );
            }
            _ => {}
        }
    }

    fn on_sync_event(&mut self, event: request_response::Event<SyncRequest, SyncResponse>) {
        let request_response::Event::Message { peer, message, .. } = event else {
            if let request_response::Event::OutboundFailure { request_id, .. } = event {
                self.waiting.remove(&request_id);
            }
            return;
        };
        if self.gate.is_removed(&peer) {
            // Told, and nothing else: the mirror cannot know which
            // sealed change recorded the removal; members say it.
            if let Message::Request { channel, .. } = message {
                let response = SyncResponse::Removed {
                    envelopes: Vec::new(),
                    statements: self
                        .ledger
                        .statements()
                        .unwrap_or_default()
                        .into_iter()
                        .map(serde_bytes::ByteBuf::from)
                        .collect(),
                };
                let _ = self
                    .swarm
                    .behaviour_mut()
                    .sync
                    .send_response(channel, response);
            }
            return;
        }
        if !self.gate.is_member(&peer) {
            tracing::warn!(peer = %short(&peer), "refused a sync message from a device that is not a member");
            return;
        }
        match message {
            Message::Request {
                request, channel, ..
            } => {
                let response = match request {
                    // No key epochs here: the answer opens to nothing.
                    SyncRequest::Keys => Some(SyncResponse::Keys {
                        sealed: serde_bytes::ByteBuf::new(),
                    }),
                    SyncRequest::Pairing { open_secs } => {
                        let open_secs = self.open_pairing(peer, open_secs);
                        Some(SyncResponse::PairingOpen { open_secs })
                    }
                    request => self.engine.on_request(peer, request, &mut self.ledger),
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
                response,
            } => {
                self.waiting.remove(&request_id);
                self.engine.on_response(peer, response, &mut self.ledger);
            }
        }
        self.drain_engine();
        self.update_gate();
    }

    fn drain_engine(&mut self) {
        while let Some(output) = self.engine.poll_output() {
            match output {
                Output::Send { to, request } => {
                    let id = self.swarm.behaviour_mut().sync.send_request(&to, request);
                    self.waiting.insert(id, (to, Instant::now()));
                }
                Output::Event(event) => self.on_engine_event(event),
            }
        }
    }

    fn on_engine_event(&mut self, event: Event<PeerId>) {
        let Some(event) = crate::peering::record(&self.ledger, event, crate::event_loop::now_ms())
        else {
            return;
        };
        match event {
            Event::Received { from, intake } => {
                if let Some(refusal) = &intake.first_refusal {
                    let key = (from, refusal.kind().to_string());
                    let reason = crate::sentence(refusal);
                    if let Some(line) =
                        self.refusals
                            .note(&key, intake.refused, &reason, Instant::now())
                    {
                        tracing::warn!(peer = %short(&from), refused = line.count, reason = %line.reason, "refused what a device sent");
                    }
                }
            }
            Event::Local { doing, error } => {
                tracing::warn!(doing, error = %crate::sentence(&error), "a local error");
            }
            Event::RemovedHere { by_peer } => {
                tracing::warn!(peer = %short(&by_peer), "this mirror was removed from the journal: it serves nothing new; remove its home, or pair it again");
                self.engine.disconnected(&by_peer);
                let _ = self.swarm.disconnect_peer_id(by_peer);
            }
            _ => {}
        }
    }

    /// Tells the gate the membership, when the signed device list changed
    /// it; removed devices are closed out at once.
    fn update_gate(&mut self) {
        crate::peering::update_gate(
            &self.gate,
            &self.ledger,
            &[],
            &mut self.engine,
            &mut self.swarm,
            &mut self.gate_size,
        );
    }
}
