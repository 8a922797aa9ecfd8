//! The joining side of pairing: a short-lived swarm on a fresh home that
//! finds the inviting device, runs the handshake and, only once the
//! inviter has confirmed, writes the keys and the journal to disk.
//!
//! Two bounds apply, one after the other: finding the inviting device and
//! finishing the handshake with it (`timeout`), then waiting for its
//! person to compare the words and confirm (`confirm_timeout`), which a
//! person takes longer over than a network does.

use std::path::PathBuf;
use std::time::Duration;

use duet_core::home::{Home, HomeError};
use duet_core::journal::DeviceRecord;
use duet_core::keys::{DeviceKey, KeyError};
use duet_core::ledger::ReceiveError;
use duet_core::store::StoreError;
use duet_core::DeviceId;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::Multiaddr;

use crate::behaviour::{self, BuildError};
use crate::gate::Members;
use crate::identity;
use crate::pairing::{in_words, Code, PairUri, PairingError};

mod addrs;
mod run;
mod setup;

/// What proves the right to join: a typed code or the QR code's URI.
pub enum Secret {
    Code(Code),
    Uri(PairUri),
}

pub struct JoinRequest {
    pub home: PathBuf,
    pub person: String,
    pub device_name: String,
    pub secret: Secret,
    /// Where to find the inviting device, besides the URI's addresses.
    pub addrs: Vec<Multiaddr>,
    pub mdns: bool,
    /// How long finding the inviting device and finishing the handshake
    /// with it may take.
    pub timeout: Duration,
    /// How long, once the handshake succeeded, the inviting device's
    /// person may take to confirm (the inviting side's own request
    /// timeout, `behaviour::PAIR_TIMEOUT`, bounds it too).
    pub confirm_timeout: Duration,
    /// Join as a mirror (`docs/mirror.md`): no journal key is sent, and
    /// the home holds the journal sealed.
    pub mirror: bool,
    /// Listen here for the inviting device to dial in (`duet invite
    /// --dial`), for a joiner it can reach and that cannot reach it.
    pub listen: Vec<Multiaddr>,
}

pub struct Joined {
    pub device_id: DeviceId,
    pub inviter: DeviceId,
    pub devices: Vec<DeviceRecord>,
}

/// What `join` reports while it works, for a person watching.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JoinProgress {
    /// The search began: on this network (mDNS) if `lan`, at `addrs`, and
    /// waiting to be dialled at `listen`.
    Looking {
        lan: bool,
        addrs: Vec<Multiaddr>,
        listen: Vec<Multiaddr>,
    },
    /// Still looking; the search gives up after `left`.
    StillLooking { left: Duration },
    /// The handshake with the inviting device succeeded: the words both
    /// people compare, and who is asked to confirm.
    Confirming { words: String, inviter: Inviter },
    /// Still waiting for the inviter's person; the wait ends after `left`.
    StillConfirming { left: Duration },
}

/// The inviting device as the joiner knows it once the handshake is done.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Inviter {
    /// The first 8 characters of its device id, as `duet devices` shows.
    pub short_id: String,
    /// Its person and device name, as it introduced itself (sealed under
    /// the pairing key); `None` from an inviter too old to say.
    pub person: Option<String>,
    pub device: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("there is no address to find the inviting device at")]
    NoAddress,
    #[error("cannot listen on {addr}: is it this machine's address, and the port free?")]
    Listen { addr: Multiaddr },
    #[error("could not reach an inviting device within {}", in_words(*.0))]
    Timeout(Duration),
    #[error("could not connect to the inviting device at {}", list(.addrs))]
    Unreachable { addrs: Vec<Multiaddr> },
    /// The device reached closed the connection without a word: its
    /// member gate refuses strangers while no invitation is open.
    #[error(
        "the device {at} has no open invitation; run `duet invite` on it first, then join again"
    )]
    NoInvitation { at: String },
    /// The inviting device said no; `reason` is its sentence.
    #[error("the inviting device refused: {reason}")]
    Refused { reason: String },
    /// The handshake succeeded but the inviter's person did not answer.
    #[error("waited {} and {who} did not confirm; nothing was saved here: ask for a new invitation and join again", in_words(*.waited))]
    NotConfirmed { who: String, waited: Duration },
    /// The inviting device went away while its person was asked.
    #[error("the inviting device closed the connection before {who} confirmed; nothing was saved here: ask for a new invitation and join again")]
    Lost { who: String },
    #[error("the code is wrong; the invitation has ended on both devices")]
    WrongCode,
    #[error(transparent)]
    Pairing(#[from] PairingError),
    #[error("pairing succeeded but setting up this device failed")]
    Setup(#[source] SetupError),
    #[error("cannot start the network")]
    Network(#[from] BuildError),
}

/// Why what pairing delivered could not be set up here.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("the welcome is malformed ({0})")]
    Welcome(&'static str),
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the journal it sent does not open")]
    Journal(#[from] ReceiveError),
}

fn list(addrs: &[Multiaddr]) -> String {
    addrs
        .iter()
        .map(|a| a.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Pairs the fresh home in `request.home` into an existing journal.
/// `on_progress` is told what it is doing: looking, then, once the
/// handshake succeeds, the verification words and whose answer it waits
/// for.
pub async fn join(
    request: JoinRequest,
    mut on_progress: impl FnMut(JoinProgress),
) -> Result<Joined, JoinError> {
    let home = Home::new(&request.home);
    home.prepare_new()?;
    let device = DeviceKey::generate();
    let me = identity::keypair(&device).public().to_peer_id();
    let members = Members::default();
    members.set_pairing_open(true);
    let mut swarm = behaviour::build(
        identity::keypair(&device),
        members,
        request.mdns,
        behaviour::Role::Device,
    )?;
    let expected = match &request.secret {
        Secret::Code(_) => None,
        Secret::Uri(uri) => Some(uri.peer),
    };
    let mut addrs = request.addrs.clone();
    if let Secret::Uri(uri) = &request.secret {
        addrs.extend(uri.addrs.iter().cloned());
    }
    if addrs.is_empty() && !request.mdns && request.listen.is_empty() {
        return Err(JoinError::NoAddress);
    }
    for addr in &request.listen {
        swarm
            .listen_on(addr.clone())
            .map_err(|_| JoinError::Listen { addr: addr.clone() })?;
    }
    if request.mdns {
        // mDNS answers only devices that listen.
        let any = Multiaddr::from(std::net::Ipv4Addr::UNSPECIFIED)
            .with(libp2p::multiaddr::Protocol::Tcp(0));
        let _ = swarm.listen_on(any);
    }
    // One dial with every address when the peer is known (a second dial
    // to a peer being dialled is refused), so an address through a relay
    // is tried beside the direct ones; one dial per address otherwise.
    let dials = match expected {
        Some(peer) => vec![DialOpts::peer_id(peer).addresses(addrs.clone()).build()],
        None => addrs
            .iter()
            .map(|addr| DialOpts::unknown_peer_id().address(addr.clone()).build())
            .collect(),
    };
    let dial_count = dials.len();
    for opts in dials {
        if let Err(e) = swarm.dial(opts) {
            tracing::debug!(error = %e, "dial failed");
        }
    }
    on_progress(JoinProgress::Looking {
        lan: request.mdns,
        addrs: addrs.clone(),
        listen: request.listen.clone(),
    });
    let search = run::Search::new(swarm, &request, me, expected, addrs, dial_count);
    let welcome = search.run(&mut on_progress).await?;
    setup::set_up(&home, device, welcome, &request)
}
