//! Starting and stopping a daemon: the lock on the home, the journal, the
//! swarm and its addresses, the control socket, and the event loop's task.

use std::fs::File;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};

use duet_core::home::Home;
use libp2p::core::transport::TransportError;
use libp2p::{Multiaddr, Swarm};
use tokio::net::UnixListener;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use crate::behaviour::{self, Behaviour, BuildError};
use crate::command::Handle;
use crate::control;
use crate::event_loop::EventLoop;
use crate::gate::Members;
use crate::identity;
use crate::local::Local;
use crate::whole::{Jobs, WholeError};

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
    /// Where the CLI reaches this daemon.
    pub control: Control,
}

/// The control socket.
pub enum Control {
    /// `<home>/daemon.sock`, created (and removed) by the daemon.
    Socket,
    /// A listener the caller made.
    Listener(UnixListener),
    /// None: the daemon is reached only through its [`Handle`].
    Off,
}

#[derive(Debug, thiserror::Error)]
pub enum DaemonError {
    #[error("a daemon is already running for {home}{}", pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    AlreadyRunning { home: PathBuf, pid: Option<u32> },
    #[error("cannot take the daemon's lock {path}")]
    Lock {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the whole journal")]
    Whole(#[from] WholeError),
    #[error(transparent)]
    Build(#[from] BuildError),
    #[error("cannot listen on {addr}")]
    Listen {
        addr: Multiaddr,
        #[source]
        source: TransportError<std::io::Error>,
    },
    #[error("cannot open the control socket {path}")]
    Socket {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read the store")]
    Store(#[from] duet_core::store::StoreError),
}

/// A running daemon.
pub struct Daemon {
    handle: Handle,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl Daemon {
    /// Talks to the daemon's event loop.
    pub fn handle(&self) -> Handle {
        self.handle.clone()
    }

    /// Stops the daemon and waits until it has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

/// Runs the daemon for `config.home` until `shutdown` completes, in the
/// calling task. (`duet daemon` calls it from the main thread, where
/// glibc gives memory back to the system more readily than from a
/// worker thread's arena: the welcome for a joining device is tens of
/// megabytes at 40,000 entries, for a moment.)
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), DaemonError> {
    let (running, _handle) = Running::prepare(config).await?;
    running.run(shutdown).await;
    tracing::info!("daemon stopped");
    Ok(())
}

/// Starts the daemon for `config.home` in a task of the current tokio
/// runtime, and returns a [`Daemon`] to talk to it and stop it.
pub async fn start(config: Config) -> Result<Daemon, DaemonError> {
    let (running, handle) = Running::prepare(config).await?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(running.run(async {
        let _ = stopped.await;
    }));
    Ok(Daemon {
        handle,
        stop: Some(stop),
        task,
    })
}

/// A daemon ready to run: its lock, its event loop and its socket server.
struct Running {
    lock: File,
    event_loop: EventLoop,
    server: Option<JoinHandle<()>>,
    socket: PathBuf,
}

impl Running {
    async fn prepare(config: Config) -> Result<(Self, Handle), DaemonError> {
        let lock = lock_home(&config.home)?;
        let home = Home::new(&config.home);
        let mut local = Local::open(Jobs::new(home, config.whole_exe))?;
        if let Some(n) = config.compact_after {
            local.compact_after = n.max(1);
        }
        let gate = Members::default();
        let keypair = identity::keypair(local.writer.device_key());
        let mut swarm =
            behaviour::build(keypair, gate.clone(), config.mdns, behaviour::Role::Device)?;
        let me = local.device_id();
        let before = remembered_own_addrs(local.writer.store(), &me);
        listen(&mut swarm, &before, config.listen)?;
        let (commands_tx, commands) = mpsc::channel(64);
        let handle = Handle::new(commands_tx);
        let socket = control::socket_path(&config.home);
        let listener = match config.control {
            Control::Socket => Some(bind(&socket)?),
            Control::Listener(listener) => Some(listener),
            Control::Off => None,
        };
        let server = listener.map(|l| tokio::spawn(crate::server::serve(l, handle.clone())));
        let device = local.device_id().short();
        let event_loop = EventLoop::new(swarm, local, gate, commands)?;
        tracing::info!(%device, "daemon started");
        let running = Self {
            lock,
            event_loop,
            server,
            socket,
        };
        Ok((running, handle))
    }

    async fn run(self, shutdown: impl Future<Output = ()>) {
        self.event_loop.run(shutdown).await;
        if let Some(server) = self.server {
            server.abort();
            let _ = std::fs::remove_file(&self.socket);
        }
        drop(self.lock);
    }
}

/// Listens on `addrs` (default: every interface, TCP and QUIC, ephemeral
/// ports), reusing the ports this device listened on last time when they
/// are free, so partners' remembered addresses stay good across restarts.
pub(crate) fn listen(
    swarm: &mut Swarm<Behaviour>,
    before: &[Multiaddr],
    addrs: Vec<Multiaddr>,
) -> Result<(), DaemonError> {
    let addrs = if addrs.is_empty() {
        vec![
            Multiaddr::from(std::net::Ipv4Addr::UNSPECIFIED)
                .with(libp2p::multiaddr::Protocol::Tcp(0)),
            Multiaddr::from(std::net::Ipv4Addr::UNSPECIFIED)
                .with(libp2p::multiaddr::Protocol::Udp(0))
                .with(libp2p::multiaddr::Protocol::QuicV1),
        ]
    } else {
        addrs
    };
    for addr in addrs {
        if let Some(again) = same_port_as_before(&addr, before) {
            if swarm.listen_on(again).is_ok() {
                continue;
            }
        }
        swarm
            .listen_on(addr.clone())
            .map_err(|source| DaemonError::Listen { addr, source })?;
    }
    Ok(())
}

/// The addresses this device listened on before, as its store remembers
/// them.
pub(crate) fn remembered_own_addrs(
    store: &duet_core::store::Store,
    me: &duet_core::DeviceId,
) -> Vec<Multiaddr> {
    store
        .peer(me)
        .map(|r| r.addrs.iter().filter_map(|a| a.parse().ok()).collect())
        .unwrap_or_default()
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

/// Binds the control socket, owner-only. A stale socket left by a crash is
/// removed first: the daemon's lock says no other daemon serves this home.
pub(crate) fn bind(path: &Path) -> Result<UnixListener, DaemonError> {
    use std::os::unix::fs::PermissionsExt;
    let socket_error = |source| DaemonError::Socket {
        path: path.to_path_buf(),
        source,
    };
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path).map_err(socket_error)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).map_err(socket_error)?;
    Ok(listener)
}

/// Holds `<home>/daemon.lock` for as long as the daemon runs.
pub(crate) fn lock_home(home: &Path) -> Result<File, DaemonError> {
    let path = home.join("daemon.lock");
    let lock_error = |source| DaemonError::Lock {
        path: path.clone(),
        source,
    };
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(lock_error)?;
    if file.try_lock().is_err() {
        let pid = std::fs::read_to_string(&path)
            .ok()
            .and_then(|p| p.trim().parse().ok());
        return Err(DaemonError::AlreadyRunning {
            home: home.to_path_buf(),
            pid,
        });
    }
    let _ = file.set_len(0);
    let _ = write!(file, "{}", std::process::id());
    Ok(file)
}
