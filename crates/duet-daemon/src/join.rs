//! The joining side of pairing: a short-lived swarm on a fresh home that
//! finds the inviting device, runs the handshake and, only once the
//! inviter has confirmed, writes the keys and the journal to disk.

use std::collections::HashSet;
use std::path::PathBuf;
use std::time::Duration;

use duet_core::home::{Home, HomeError};
use duet_core::journal::DeviceRecord;
use duet_core::keys::{DeviceKey, JournalKey, KeyError};
use duet_core::ledger::{Ledger, ReceiveError};
use duet_core::replica::Replica;
use duet_core::store::{Store, StoreError};
use duet_core::{DeviceId, JournalId};
use futures::StreamExt;
use libp2p::request_response;
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{mdns, Multiaddr, PeerId};
use serde_bytes::ByteBuf;

use crate::behaviour::{self, BehaviourEvent, BuildError};
use crate::gate::Members;
use crate::identity;
use crate::pairing::{Code, Handshake, PairUri, PairingError, Session, Side};
use crate::protocol::{Intro, PairRequest, PairResponse, Welcome};

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
    pub timeout: Duration,
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

#[derive(Debug, thiserror::Error)]
pub enum JoinError {
    #[error(transparent)]
    Home(#[from] HomeError),
    #[error("there is no address to find the inviting device at")]
    NoAddress,
    #[error("cannot listen on {addr}: is it this machine's address, and the port free?")]
    Listen { addr: Multiaddr },
    #[error("could not reach an inviting device within {0} s")]
    Timeout(u64),
    #[error("could not connect to the inviting device at {}", list(.addrs))]
    Unreachable { addrs: Vec<Multiaddr> },
    /// The inviting device said no; `reason` is its sentence.
    #[error("the inviting device refused: {reason}")]
    Refused { reason: String },
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

enum Progress {
    Idle,
    Started {
        peer: PeerId,
        handshake: Box<Handshake>,
    },
    Confirming {
        peer: PeerId,
        session: Session,
    },
    /// The inviter's confirmation failed; we told it, and now leave.
    Failing {
        peer: PeerId,
    },
}

/// Pairs the fresh home in `request.home` into an existing journal.
/// `on_words` is called with the verification words once the handshake
/// succeeds, while the inviter's person decides.
pub async fn join(
    request: JoinRequest,
    mut on_words: impl FnMut(&str),
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
    let (nameplate, by_uri, password, expected) = match &request.secret {
        Secret::Code(code) => (code.nameplate, false, code.password(), None),
        Secret::Uri(uri) => (uri.nameplate, true, uri.password(), Some(uri.peer)),
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
    let mut tried: HashSet<PeerId> = HashSet::new();
    let mut dials_failed = 0;
    let mut refused: Option<String> = None;
    let mut progress = Progress::Idle;
    let deadline = tokio::time::sleep(request.timeout);
    tokio::pin!(deadline);
    loop {
        let event = tokio::select! {
            _ = &mut deadline => {
                return Err(match refused {
                    Some(reason) => JoinError::Refused { reason },
                    None => JoinError::Timeout(request.timeout.as_secs()),
                });
            }
            event = swarm.select_next_some() => event,
        };
        match event {
            SwarmEvent::ConnectionEstablished { peer_id, .. } => {
                // A device that connects while another is being tried
                // waits its turn (see `next_candidate` below).
                if expected.is_some_and(|p| p != peer_id)
                    || !matches!(progress, Progress::Idle)
                    || !tried.insert(peer_id)
                {
                    continue;
                }
                progress = start(&mut swarm, &password, me, peer_id, nameplate, by_uri);
            }
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if expected.is_none_or(|p| p == peer)
                        && !tried.contains(&peer)
                        && !swarm.is_connected(&peer)
                    {
                        let _ = swarm.dial(DialOpts::peer_id(peer).addresses(vec![addr]).build());
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Pair(request_response::Event::Message {
                peer,
                message: request_response::Message::Response { response, .. },
                ..
            })) => {
                let current = std::mem::replace(&mut progress, Progress::Idle);
                match (current, response) {
                    (
                        Progress::Started { peer: p, handshake },
                        PairResponse::Started { spake, confirm },
                    ) if p == peer => {
                        let session = handshake.finish(&spake)?;
                        let intro = Intro {
                            person: request.person.clone(),
                            device: request.device_name.clone(),
                            role: request
                                .mirror
                                .then(|| duet_core::journal::MIRROR_ROLE.to_string()),
                        };
                        let sealed_intro =
                            session.seal(&serde_json::to_vec(&intro).unwrap_or_default())?;
                        let wrong = session.check_confirmation(&confirm).is_err();
                        // Confirm either way: a wrong tag is how the inviter
                        // learns the code was wrong and ends the invitation.
                        swarm.behaviour_mut().pair.send_request(
                            &peer,
                            PairRequest::Confirm {
                                nameplate,
                                confirm: ByteBuf::from(session.my_confirmation()),
                                sealed_intro: ByteBuf::from(sealed_intro),
                            },
                        );
                        if wrong {
                            progress = Progress::Failing { peer };
                        } else {
                            on_words(&session.verification_words());
                            progress = Progress::Confirming { peer, session };
                        }
                    }
                    (Progress::Failing { .. }, _) => return Err(JoinError::WrongCode),
                    (
                        Progress::Confirming { peer: p, session },
                        PairResponse::Welcome { sealed },
                    ) if p == peer => {
                        let plain = session.open(&sealed)?;
                        let welcome: Welcome = serde_json::from_slice(&plain)
                            .map_err(|_| JoinError::Setup(SetupError::Welcome("not JSON")))?;
                        return set_up(&home, device, welcome, &request);
                    }
                    (_, PairResponse::Refused { reason }) => {
                        tracing::info!(%peer, %reason, "refused");
                        if !request.mdns {
                            return Err(JoinError::Refused { reason });
                        }
                        // On a LAN another device may hold the invitation.
                        refused = Some(reason);
                        progress = Progress::Idle;
                        let next = swarm
                            .connected_peers()
                            .find(|p| !tried.contains(p) && expected.is_none_or(|e| e == **p))
                            .copied();
                        if let Some(next) = next {
                            tried.insert(next);
                            progress = start(&mut swarm, &password, me, next, nameplate, by_uri);
                        }
                    }
                    (other, _) => progress = other,
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Pair(
                request_response::Event::OutboundFailure { error, .. },
            )) => {
                if matches!(progress, Progress::Failing { .. }) {
                    return Err(JoinError::WrongCode);
                }
                tracing::debug!(error = %error, "pairing request failed");
                if !request.mdns {
                    return Err(JoinError::Refused {
                        reason:
                            "it closed the connection; it has no open invitation for this device"
                                .into(),
                    });
                }
                progress = Progress::Idle;
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                tracing::debug!(error = %error, "could not connect");
                dials_failed += 1;
                if !request.mdns && dials_failed >= dial_count && tried.is_empty() {
                    return Err(JoinError::Unreachable {
                        addrs: addrs.clone(),
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => {
                if matches!(&progress, Progress::Failing { peer } if *peer == peer_id) {
                    return Err(JoinError::WrongCode);
                }
            }
            _ => {}
        }
    }
}

/// Sends the first pairing message to `peer`.
fn start(
    swarm: &mut libp2p::Swarm<behaviour::Behaviour>,
    password: &[u8],
    me: PeerId,
    peer: PeerId,
    nameplate: u32,
    by_uri: bool,
) -> Progress {
    let (handshake, spake) = Handshake::start(Side::Joiner, password, me, peer);
    swarm.behaviour_mut().pair.send_request(
        &peer,
        PairRequest::Start {
            nameplate,
            by_uri,
            spake: ByteBuf::from(spake),
        },
    );
    Progress::Started {
        peer,
        handshake: Box::new(handshake),
    }
}

/// Every address the joiner was told of for the inviting device.
fn inviter_addrs(welcome: &Welcome, request: &JoinRequest) -> Vec<String> {
    let mut addrs = welcome.inviter_addrs.clone();
    addrs.extend(request.addrs.iter().map(|a| a.to_string()));
    if let Secret::Uri(uri) = &request.secret {
        addrs.extend(uri.addrs.iter().map(|a| a.to_string()));
    }
    addrs
}

/// Sets up a mirror's home from what pairing delivered: the device key
/// and a store holding the signed device list and the sealed snapshot.
/// No journal key: a welcome that carries one is refused.
fn set_up_mirror(
    home: &Home,
    device: DeviceKey,
    welcome: &Welcome,
    journal_id: JournalId,
    inviter: DeviceId,
    request: &JoinRequest,
) -> Result<Joined, JoinError> {
    let bad = |what| JoinError::Setup(SetupError::Welcome(what));
    if !welcome.journal_key.is_empty() {
        return Err(bad("a mirror was sent a journal key"));
    }
    let snapshot = data_encoding::BASE64
        .decode(welcome.snapshot.as_bytes())
        .map_err(|_| bad("snapshot"))?;
    let statements = welcome
        .statements
        .iter()
        .map(|s| data_encoding::BASE64.decode(s.as_bytes()))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| bad("device list"))?;
    let device_id = device.id();
    let result = (|| -> Result<Joined, SetupError> {
        device.write(&home.device_key_path())?;
        let store = Store::open(&home.store_path())?;
        store.set_record(duet_core::ledger::records::MIRROR, b"mirror")?;
        let mut ledger = Ledger::create(store, journal_id, device_id, &[inviter])?;
        ledger.take_statements(&statements, true)?;
        if !ledger.is_current_member(&device_id) {
            return Err(SetupError::Welcome(
                "the device list does not name this mirror",
            ));
        }
        ledger.receive_sealed_snapshot(&snapshot)?;
        ledger
            .store()
            .remember_addrs(&inviter, &inviter_addrs(welcome, request))?;
        Ok(Joined {
            device_id,
            inviter,
            devices: Vec::new(),
        })
    })();
    result.map_err(|e| {
        remove_new_home(home);
        JoinError::Setup(e)
    })
}

/// Removes what a failed set-up wrote.
fn remove_new_home(home: &Home) {
    for path in [
        home.device_key_path(),
        home.journal_key_path(),
        home.store_path(),
    ] {
        let _ = std::fs::remove_file(&path);
    }
    let _ = std::fs::remove_file(home.root().join("store.sqlite-wal"));
    let _ = std::fs::remove_file(home.root().join("store.sqlite-shm"));
}

/// Writes what pairing delivered. Nothing is on disk before this; if it
/// fails half way, what it wrote is removed again.
fn set_up(
    home: &Home,
    device: DeviceKey,
    welcome: Welcome,
    request: &JoinRequest,
) -> Result<Joined, JoinError> {
    let bad = |what| JoinError::Setup(SetupError::Welcome(what));
    let journal_id = JournalId::from_text(&welcome.journal_id).ok_or(bad("journal id"))?;
    let inviter = DeviceId::from_text(&welcome.inviter).ok_or(bad("inviter id"))?;
    if request.mirror {
        return set_up_mirror(home, device, &welcome, journal_id, inviter, request);
    }
    let key = JournalKey::from_secret_text(&welcome.journal_key).ok_or(bad("journal key"))?;
    let snapshot = data_encoding::BASE64
        .decode(welcome.snapshot.as_bytes())
        .map_err(|_| bad("snapshot"))?;
    let device_id = device.id();
    let result = (|| -> Result<Joined, SetupError> {
        device.write(&home.device_key_path())?;
        key.write(&home.journal_key_path())?;
        let store = Store::open(&home.store_path())?;
        let replica = Replica::join(store, device, key, journal_id, inviter, &snapshot)?;
        replica
            .store()
            .remember_addrs(&inviter, &inviter_addrs(&welcome, request))?;
        Ok(Joined {
            device_id,
            inviter,
            devices: replica.devices().to_vec(),
        })
    })();
    result.map_err(|e| {
        remove_new_home(home);
        JoinError::Setup(e)
    })
}
