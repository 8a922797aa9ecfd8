//! The libp2p behaviours duet runs, and building the swarm.

use std::time::Duration;

use libp2p::connection_limits::{self, ConnectionLimits};
use libp2p::request_response::{self, ProtocolSupport};
use libp2p::swarm::behaviour::toggle::Toggle;
use libp2p::swarm::NetworkBehaviour;
use libp2p::{
    autonat, dcutr, identify, identity::Keypair, mdns, noise, ping, relay, tcp, yamux,
    StreamProtocol, Swarm,
};

use crate::door::Door;
use crate::gate::{Gate, Members};
use crate::protocol::{
    PairRequest, PairResponse, SyncRequest, SyncResponse, MAX_PAIR_MESSAGE, MAX_SYNC_MESSAGE,
    PAIR_PROTOCOL, SYNC_PROTOCOL,
};

pub type SyncBehaviour = request_response::cbor::Behaviour<SyncRequest, SyncResponse>;
pub type PairBehaviour = request_response::cbor::Behaviour<PairRequest, PairResponse>;

#[derive(NetworkBehaviour)]
pub struct Behaviour {
    /// A couple's devices are a handful; these bounds only stop floods.
    pub limits: connection_limits::Behaviour,
    pub door: Door,
    /// Before the relay: a stranger's connection is refused before the
    /// relay ever sees it.
    pub gate: Gate,
    /// On a mirror: a circuit relay (v2) for member devices only.
    pub relay: Toggle<relay::Behaviour>,
    /// On every node: reservations on a mirror, and circuits through one.
    pub relay_client: relay::client::Behaviour,
    /// On devices: turning a relayed connection into a direct one.
    pub dcutr: Toggle<dcutr::Behaviour>,
    /// The addresses a peer sees this node at, which hole punching needs.
    pub identify: identify::Behaviour,
    /// Whether this device can be dialled from outside: a mirror dials it
    /// back (AutoNAT v1; every node answers, devices ask their mirrors).
    pub autonat: autonat::Behaviour,
    pub ping: ping::Behaviour,
    pub mdns: Toggle<mdns::tokio::Behaviour>,
    pub sync: SyncBehaviour,
    pub pair: PairBehaviour,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("cannot set up the network transport")]
    Transport(#[source] noise::Error),
}

/// How long a pairing request may wait: the inviter's person has to read
/// and confirm the verification words.
pub const PAIR_TIMEOUT: Duration = Duration::from_secs(10 * 60);

/// How long a connection may take from its first byte to a finished
/// handshake (Noise, then Yamux): a second or two on a slow link; a
/// stranger's stalled handshake holds a slot no longer than this.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// What a node is to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A device people write from: it reserves a slot on mirrors and hole
    /// punches through them.
    Device,
    /// A mirror: a relay for the journal's member devices.
    Mirror,
}

/// The relay a mirror runs: reservations for member devices only (the
/// gate's current members; a stranger, or a removed device, is refused),
/// circuits from member devices, and from a device that is not a member
/// only while a member has asked the mirror to let one pair with it
/// (`SyncRequest::Pairing`); room enough for a journal's sync.
fn relay_config(members: Members) -> relay::Config {
    let only_members = |members: Members| -> Box<dyn relay::RateLimiter> {
        Box::new(move |peer: libp2p::PeerId, _: &libp2p::Multiaddr, _| members.is_member(&peer))
    };
    let members_or_pairing = |members: Members| -> Box<dyn relay::RateLimiter> {
        Box::new(move |peer: libp2p::PeerId, _: &libp2p::Multiaddr, _| {
            members.is_member(&peer) || members.pairing_open()
        })
    };
    let burst = std::num::NonZeroU32::new(30).unwrap_or(std::num::NonZeroU32::MIN);
    relay::Config {
        max_reservations: 128,
        max_reservations_per_peer: 4,
        reservation_duration: Duration::from_secs(30 * 60),
        reservation_rate_limiters: vec![only_members(members.clone())],
        max_circuits: 64,
        max_circuits_per_peer: 8,
        // A relayed connection lasts until a direct one replaces it; a
        // backlog of a year of entries is tens of megabytes.
        max_circuit_duration: Duration::from_secs(60 * 60),
        max_circuit_bytes: 1 << 30,
        circuit_src_rate_limiters: vec![members_or_pairing(members)],
    }
    .reservation_rate_per_peer(burst, Duration::from_secs(2))
    .circuit_src_per_peer(burst, Duration::from_secs(2))
}

/// Builds the swarm: TCP and QUIC (and circuits through a relay), Noise,
/// Yamux, and the behaviours for `role`.
pub fn build(
    keypair: Keypair,
    members: Members,
    with_mdns: bool,
    role: Role,
) -> Result<Swarm<Behaviour>, BuildError> {
    let swarm = libp2p::SwarmBuilder::with_existing_identity(keypair)
        .with_tokio()
        .with_tcp(tcp::Config::default().nodelay(true), noise::Config::new, yamux::Config::default)
        .map_err(BuildError::Transport)?
        .with_quic()
        .with_relay_client(noise::Config::new, yamux::Config::default)
        .map_err(BuildError::Transport)?
        .with_behaviour(|key, relay_client| {
            let peer = key.public().to_peer_id();
            let mdns = if with_mdns {
                match mdns::tokio::Behaviour::new(mdns::Config::default(), peer) {
                    Ok(m) => Some(m),
                    Err(e) => {
                        tracing::warn!(error = %e, "mDNS is unavailable; peers will be found by address only");
                        None
                    }
                }
            } else {
                None
            };
            let sync_codec = request_response::cbor::codec::Codec::default()
                .set_request_size_maximum(MAX_SYNC_MESSAGE)
                .set_response_size_maximum(MAX_SYNC_MESSAGE);
            // Pairing requests are small; only the welcome is large.
            let pair_codec = request_response::cbor::codec::Codec::default()
                .set_request_size_maximum(64 * 1024)
                .set_response_size_maximum(MAX_PAIR_MESSAGE);
            // Handshakes in progress are bounded per source by the door;
            // this is a backstop.
            let limits = ConnectionLimits::default()
                .with_max_pending_incoming(Some(128))
                .with_max_pending_outgoing(Some(32))
                .with_max_established_incoming(Some(32))
                .with_max_established_outgoing(Some(32))
                .with_max_established_per_peer(Some(4));
            let relay = (role == Role::Mirror).then(|| relay::Behaviour::new(peer, relay_config(members.clone())));
            let dcutr = (role == Role::Device).then(|| dcutr::Behaviour::new(peer));
            let identify = identify::Behaviour::new(
                identify::Config::new("/duet/id/1".into(), key.public())
                    .with_agent_version(format!("duet/{}", env!("CARGO_PKG_VERSION"))),
            );
            // Devices ask only their mirrors (added as servers when they
            // connect). Any address is probed: a mirror serves only the
            // journal's members, and a mirror on a home network must be
            // able to answer for private addresses.
            let autonat = autonat::Behaviour::new(
                peer,
                autonat::Config {
                    use_connected: false,
                    only_global_ips: false,
                    boot_delay: Duration::from_secs(3),
                    retry_interval: Duration::from_secs(30),
                    throttle_server_period: Duration::from_secs(15),
                    timeout: Duration::from_secs(10),
                    ..autonat::Config::default()
                },
            );
            Behaviour {
                limits: connection_limits::Behaviour::new(limits),
                door: Door::new(members.clone()),
                gate: Gate::new(members),
                relay: Toggle::from(relay),
                relay_client,
                dcutr: Toggle::from(dcutr),
                identify,
                autonat,
                ping: ping::Behaviour::default(),
                mdns: Toggle::from(mdns),
                sync: request_response::Behaviour::with_codec(
                    sync_codec,
                    [(StreamProtocol::new(SYNC_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(Duration::from_secs(120))
                        // What one peer makes this device hold at once
                        // is bounded by these streams times the
                        // message limit; sync needs no more than a few.
                        .with_max_concurrent_streams(4),
                ),
                pair: request_response::Behaviour::with_codec(
                    pair_codec,
                    [(StreamProtocol::new(PAIR_PROTOCOL), ProtocolSupport::Full)],
                    request_response::Config::default()
                        .with_request_timeout(PAIR_TIMEOUT)
                        .with_max_concurrent_streams(4),
                ),
            }
        })
        .unwrap_or_else(|never| match never {})
        .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(60)))
        .with_connection_timeout(HANDSHAKE_TIMEOUT)
        .build();
    Ok(swarm)
}
