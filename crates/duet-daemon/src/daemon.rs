//! The daemon's event loop: one task owns the swarm and the replica; the
//! control socket talks to it through a bounded channel.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use duet_core::home::{Home, HomeError};
use duet_core::replica::{Replica, ReplicaError};
use duet_core::{DeviceId, VersionVector};
use futures::StreamExt;
use libp2p::request_response::OutboundRequestId;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{mdns, Multiaddr, PeerId, Swarm};
use tokio::sync::{mpsc, oneshot};

use crate::behaviour::{self, Behaviour, BehaviourEvent, BuildError};
use crate::control::{self, PeerStatus, Reply, StatusReport, SyncedPeer};
use crate::gate::Members;
use crate::identity;
use crate::invite::Invitation;
use crate::whole::{self, Job};

/// Envelopes held back because their author is not yet known to be a
/// member (the record adding it may still be on its way).
pub(crate) const MAX_HELD_BACK: usize = 1024;
/// How often the daemon looks at the store and its timers.
const TICK: Duration = Duration::from_millis(200);
/// How often connected devices compare vectors, to repair missed pushes.
const ANTI_ENTROPY: Duration = Duration::from_secs(10);
/// Stored envelopes are applied to the document once the daemon has been
/// idle this long (or at once when something needs the document).
const APPLY_WHEN_IDLE_FOR: Duration = Duration::from_millis(100);
/// Compaction waits until nothing has been synced or written for this long.
const QUIET_BEFORE_COMPACTING: Duration = Duration::from_secs(2);
/// ...unless this many envelopes wait beyond the snapshot.
const COMPACT_ANYWAY: usize = 2048;
/// How long `duet sync` waits for answers.
pub(crate) const SYNC_WAIT: Duration = Duration::from_secs(15);

pub struct Config {
    pub home: PathBuf,
    /// Addresses to listen on; empty means all interfaces, ephemeral ports,
    /// TCP and QUIC.
    pub listen: Vec<Multiaddr>,
    /// Discover member devices on the LAN with mDNS.
    pub mdns: bool,
    /// Compact after this many envelopes beyond the snapshot (default:
    /// `duet_core::replica::DEFAULT_COMPACT_AFTER`).
    pub compact_after: Option<usize>,
    /// The `duet` executable, which runs work on the whole journal in a
    /// child process (`whole.rs`); `None` runs it in a thread.
    pub whole_exe: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("a daemon is already running for {0}{1}; stop it first")]
    AlreadyRunning(PathBuf, String),
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot listen on {0}: {1}")]
    Listen(Multiaddr, String),
    #[error("cannot open the control socket {0}: {1}")]
    Socket(PathBuf, std::io::Error),
    #[error("cannot read the whole journal: {0}")]
    Whole(String),
}

/// What the control socket asks of the event loop.
pub enum Command {
    Status(oneshot::Sender<StatusReport>),
    Sync(oneshot::Sender<Vec<SyncedPeer>>),
    Refresh(oneshot::Sender<()>),
    Add {
        entry: duet_core::journal::NewEntry,
        created: i64,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Invite {
        timeout: Duration,
        events: mpsc::Sender<Reply>,
        opened: oneshot::Sender<Result<u32, String>>,
    },
    Answer {
        nameplate: u32,
        accept: bool,
    },
    Abandon {
        nameplate: u32,
    },
}

/// Runs the daemon for `config.home` until `shutdown` completes.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let _lock = lock_home(&config.home)?;
    let home = Home::new(&config.home);
    let whole_exe = config.whole_exe.clone();
    let writer = home.open_writer()?;
    // Where the journal's history ends, from the whole document, once.
    // Opening it also records what a writer needs, for a store from
    // before writer replicas.
    let outcome =
        whole::run(&home, whole_exe.as_deref(), Job::Frontier, &[]).map_err(DaemonError::Whole)?;
    let mut replica = match writer {
        Some(replica) => replica,
        None => home
            .open_writer()?
            .ok_or(ReplicaError::MissingRecord("first change"))?,
    };
    replica.set_frontier(outcome.frontier().map_err(DaemonError::Whole)?);
    if let Some(n) = config.compact_after {
        replica.set_compact_after(n);
    }
    let members = Members::default();
    let swarm = behaviour::build(
        identity::keypair(replica.device_key()),
        members.clone(),
        config.mdns,
    )?;
    let socket = control::socket_path(&config.home);
    let _ = std::fs::remove_file(&socket);
    let listener = tokio::net::UnixListener::bind(&socket)
        .map_err(|e| DaemonError::Socket(socket.clone(), e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| DaemonError::Socket(socket.clone(), e))?;
    }
    let (commands_tx, commands) = mpsc::channel(64);
    let server = tokio::spawn(crate::server::serve(listener, commands_tx));
    let mut daemon = Daemon::new(swarm, home, replica, members)?;
    daemon.whole_exe = whole_exe;
    let listen = if config.listen.is_empty() {
        vec![
            "/ip4/0.0.0.0/tcp/0"
                .parse()
                .map_err(|e: libp2p::multiaddr::Error| {
                    DaemonError::Listen(Multiaddr::empty(), e.to_string())
                })?,
            "/ip4/0.0.0.0/udp/0/quic-v1"
                .parse()
                .map_err(|e: libp2p::multiaddr::Error| {
                    DaemonError::Listen(Multiaddr::empty(), e.to_string())
                })?,
        ]
    } else {
        config.listen
    };
    // Listen where this device listened last time when the port is free,
    // so partners' remembered addresses stay good across restarts.
    let me = daemon.replica.device_id();
    let before: Vec<Multiaddr> = daemon
        .replica
        .store()
        .peer(&me)
        .map(|r| r.addrs.iter().filter_map(|a| a.parse().ok()).collect())
        .unwrap_or_default();
    for addr in listen {
        if let Some(again) = same_port_as_before(&addr, &before) {
            if daemon.swarm.listen_on(again).is_ok() {
                continue;
            }
        }
        daemon
            .swarm
            .listen_on(addr.clone())
            .map_err(|e| DaemonError::Listen(addr, e.to_string()))?;
    }
    tracing::info!(device = %daemon.replica.device_id().short(), "daemon started");
    daemon.run(commands, shutdown).await;
    server.abort();
    let _ = std::fs::remove_file(&socket);
    tracing::info!("daemon stopped");
    Ok(())
}

/// `addr` with the port this device used before for the same transport,
/// when `addr` asks for an ephemeral port (0) and one was used before.
fn same_port_as_before(addr: &Multiaddr, before: &[Multiaddr]) -> Option<Multiaddr> {
    use libp2p::multiaddr::Protocol;
    let transport = |a: &Multiaddr| -> Option<(bool, u16)> {
        let mut quic = false;
        let mut port = None;
        for p in a.iter() {
            match p {
                Protocol::Tcp(n) => port = Some((false, n)),
                Protocol::Udp(n) => port = Some((true, n)),
                Protocol::QuicV1 => quic = true,
                _ => {}
            }
        }
        port.filter(|(udp, _)| *udp == quic)
    };
    let (udp, 0) = transport(addr)? else {
        return None;
    };
    let port = before
        .iter()
        .filter_map(transport)
        .find(|(u, p)| *u == udp && *p != 0)?
        .1;
    Some(
        addr.iter()
            .map(|p| match p {
                Protocol::Tcp(0) => Protocol::Tcp(port),
                Protocol::Udp(0) => Protocol::Udp(port),
                other => other,
            })
            .collect(),
    )
}

/// Holds `<home>/daemon.lock` for as long as the daemon runs.
fn lock_home(home: &std::path::Path) -> Result<File, DaemonError> {
    let path = home.join("daemon.lock");
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(|e| DaemonError::Socket(path.clone(), e))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(_) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            let pid = pid.trim();
            let said = if pid.is_empty() {
                String::new()
            } else {
                format!(" (pid {pid})")
            };
            return Err(DaemonError::AlreadyRunning(home.to_path_buf(), said));
        }
    }
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A `duet sync` waiting for its answers.
pub(crate) struct SyncWaiter {
    pub(crate) waiting: HashMap<OutboundRequestId, PeerId>,
    pub(crate) peers: HashMap<PeerId, SyncedPeer>,
    pub(crate) deadline: Instant,
    pub(crate) reply: oneshot::Sender<Vec<SyncedPeer>>,
}

/// Redial state of a member device that is not connected.
struct Backoff {
    next: Instant,
    delay: Duration,
}

pub struct Daemon {
    pub(crate) swarm: Swarm<Behaviour>,
    pub(crate) home: Home,
    pub(crate) whole_exe: Option<PathBuf>,
    /// A writer replica: no document (see `whole.rs`).
    pub(crate) replica: Replica,
    pub(crate) members: Members,
    pub(crate) connected: HashSet<PeerId>,
    /// Envelopes up to this store position have been pushed.
    pub(crate) pushed_pos: i64,
    /// Which peer an envelope came from, so it is not echoed back.
    pub(crate) source: HashMap<i64, PeerId>,
    pub(crate) held_back: VecDeque<Vec<u8>>,
    pub(crate) waiters: Vec<SyncWaiter>,
    backoff: HashMap<PeerId, Backoff>,
    pub(crate) last_anti_entropy: Instant,
    /// When a sync message or a write last kept the event loop busy.
    pub(crate) last_activity: Instant,
    /// Received envelopes are stored but not yet applied to the document.
    pub(crate) apply_pending: bool,
    pub(crate) invitations: HashMap<u32, Invitation>,
}

impl Daemon {
    fn new(
        swarm: Swarm<Behaviour>,
        home: Home,
        replica: Replica,
        members: Members,
    ) -> Result<Self, DaemonError> {
        let pushed_pos = replica
            .store()
            .envelopes_after(0)
            .map_err(ReplicaError::from)?
            .last()
            .map_or(0, |e| e.pos);
        let mut daemon = Self {
            swarm,
            home,
            whole_exe: None,
            replica,
            members,
            connected: HashSet::new(),
            pushed_pos,
            source: HashMap::new(),
            held_back: VecDeque::new(),
            waiters: Vec::new(),
            backoff: HashMap::new(),
            last_anti_entropy: Instant::now(),
            last_activity: Instant::now(),
            apply_pending: false,
            invitations: HashMap::new(),
        };
        daemon.update_members();
        Ok(daemon)
    }

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

    /// The PeerIds of every member device but this one.
    pub(crate) fn member_peers(&self) -> Vec<(DeviceId, PeerId)> {
        let me = self.replica.device_id();
        self.replica
            .members()
            .iter()
            .filter(|d| **d != me)
            .filter_map(|d| identity::peer_id(d).map(|p| (*d, p)))
            .collect()
    }

    pub(crate) fn update_members(&mut self) {
        let peers: Vec<PeerId> = self.member_peers().into_iter().map(|(_, p)| p).collect();
        self.members.set(peers);
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
            } => {
                self.last_activity = Instant::now();
                // Whatever the CLI wrote before must be in the document
                // this entry is made in.
                self.pick_up_local_writes();
                let result = self
                    .replica
                    .commit(|journal, author| journal.add_entry(author, entry, created))
                    .map_err(|e| e.to_string());
                let _ = reply.send(result);
                self.push_new();
            }
            Command::Invite {
                timeout,
                events,
                opened,
            } => {
                let result = self.open_invitation(timeout, events);
                let _ = opened.send(result);
            }
            Command::Answer { nameplate, accept } => self.answer_invitation(nameplate, accept),
            Command::Abandon { nameplate } => self.end_invitation(nameplate, None),
        }
    }

    fn status(&self) -> StatusReport {
        let me = self.replica.device_id();
        let devices = self.replica.devices().to_vec();
        let peers = devices
            .into_iter()
            .filter(|d| d.id != me.to_text())
            .map(|d| {
                let id = DeviceId::from_text(&d.id);
                let record = id
                    .and_then(|id| self.replica.store().peer(&id).ok())
                    .unwrap_or_default();
                let waiting = record
                    .vector
                    .as_ref()
                    .map_or_else(
                        || self.replica.waiting_for(&VersionVector::new()),
                        |v| self.replica.waiting_for(v),
                    )
                    .unwrap_or(0);
                PeerStatus {
                    connected: id
                        .and_then(|id| identity::peer_id(&id))
                        .is_some_and(|p| self.connected.contains(&p)),
                    device_id: d.id,
                    person: d.person,
                    name: d.name,
                    last_sync: record.last_sync,
                    waiting,
                }
            })
            .collect();
        StatusReport {
            device_id: me.to_text(),
            addrs: self.swarm.listeners().map(|a| a.to_string()).collect(),
            peers,
        }
    }

    fn on_tick(&mut self) {
        if self.apply_pending && self.last_activity.elapsed() < APPLY_WHEN_IDLE_FOR {
            // Still busy receiving; the envelopes are stored and safe.
            self.expire_invitations();
            return;
        }
        self.pick_up_local_writes();
        self.expire_invitations();
        self.redial(false);
        if self.last_anti_entropy.elapsed() >= ANTI_ENTROPY {
            self.last_anti_entropy = Instant::now();
            for peer in self.connected.clone() {
                self.send_hello(peer);
            }
        }
        let now = Instant::now();
        let (done, pending): (Vec<_>, Vec<_>) =
            self.waiters.drain(..).partition(|w| w.deadline <= now);
        self.waiters = pending;
        for w in done {
            let _ = w.reply.send(w.peers.into_values().collect());
        }
        // Compaction loads and saves the whole document (about 0.2 s per
        // 10,000 entries) and holds the event loop meanwhile, so it waits
        // for a quiet moment, unless the tail has grown long regardless.
        let quiet = self.last_activity.elapsed() >= QUIET_BEFORE_COMPACTING;
        let long_tail = self
            .replica
            .store()
            .envelope_count()
            .is_ok_and(|n| n >= COMPACT_ANYWAY);
        if (quiet || long_tail) && self.replica.wants_compaction().unwrap_or(false) {
            self.compact();
        }
    }

    /// Folds the stored envelopes into a new snapshot (`whole.rs`).
    pub(crate) fn compact(&mut self) {
        match self.whole(Job::Compact, &[]) {
            Ok(_) => tracing::debug!("compacted"),
            Err(e) => tracing::warn!(error = %e, "compaction failed; will try again"),
        }
        // The whole journal may have recorded devices this writer lacks.
        self.apply_stored();
    }

    /// Runs a job on the whole journal (`whole.rs`).
    pub(crate) fn whole(&self, job: Job, input: &[u8]) -> Result<crate::whole::Outcome, String> {
        whole::run(&self.home, self.whole_exe.as_deref(), job, input)
    }

    /// Applies what the CLI wrote to the store and pushes it.
    pub(crate) fn pick_up_local_writes(&mut self) {
        self.apply_pending = false;
        if let Err(e) = self.replica.refresh() {
            tracing::warn!(error = %e, "cannot read new writes from the store");
        }
        self.update_members();
        self.push_new();
    }

    /// Dials member devices that are not connected, with backoff.
    pub(crate) fn redial(&mut self, now: bool) {
        for (device, peer) in self.member_peers() {
            if self.connected.contains(&peer) || self.swarm.is_connected(&peer) {
                continue;
            }
            let due = self
                .backoff
                .get(&peer)
                .is_none_or(|b| b.next <= Instant::now());
            if !due && !now {
                continue;
            }
            let addrs: Vec<Multiaddr> = self
                .replica
                .store()
                .peer(&device)
                .map(|r| r.addrs.iter().filter_map(|a| a.parse().ok()).collect())
                .unwrap_or_default();
            let entry = self.backoff.entry(peer).or_insert(Backoff {
                next: Instant::now(),
                delay: Duration::from_millis(500),
            });
            entry.next = Instant::now() + entry.delay;
            entry.delay = (entry.delay * 2).min(Duration::from_secs(30));
            if addrs.is_empty() {
                continue;
            }
            let opts = DialOpts::peer_id(peer).addresses(addrs).build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(%peer, error = %e, "dial failed");
            }
        }
    }

    fn on_swarm_event(&mut self, event: SwarmEvent<BehaviourEvent>) {
        match event {
            SwarmEvent::NewListenAddr { address, .. } => {
                tracing::info!(%address, "listening");
                let me = self.replica.device_id();
                let _ = self
                    .replica
                    .store()
                    .remember_addrs(&me, &[address.to_string()]);
            }
            SwarmEvent::ConnectionEstablished {
                peer_id,
                endpoint,
                num_established,
                ..
            } => {
                if !self.members.is_member(&peer_id) {
                    tracing::info!(peer = %peer_id, "a device that is not a member connected to pair");
                    return;
                }
                self.connected.insert(peer_id);
                self.backoff.remove(&peer_id);
                if endpoint.is_dialer() {
                    if let Some(device) = identity::device_id(&peer_id) {
                        let addr = endpoint.get_remote_address().to_string();
                        let _ = self.replica.store().remember_addrs(&device, &[addr]);
                    }
                }
                tracing::info!(peer = %peer_id, "member device connected");
                // One hello per connection, from the dialer: the answer
                // carries the other side's vector, and the dialer then
                // pushes whatever the other side lacks. One round trip.
                if num_established.get() == 1 && endpoint.is_dialer() {
                    self.send_hello(peer_id);
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } if self.connected.remove(&peer_id) => {
                tracing::info!(peer = %peer_id, "member device disconnected");
            }
            SwarmEvent::IncomingConnectionError { error, .. } => {
                tracing::debug!(error = %error, "incoming connection failed");
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if self.members.is_member(&peer) && !self.swarm.is_connected(&peer) {
                        if let Some(device) = identity::device_id(&peer) {
                            let _ = self
                                .replica
                                .store()
                                .remember_addrs(&device, &[addr.to_string()]);
                        }
                        let _ = self
                            .swarm
                            .dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Sync(event)) => self.on_sync_event(event),
            SwarmEvent::Behaviour(BehaviourEvent::Pair(event)) => self.on_pair_event(event),
            _ => {}
        }
    }
}
