//! Reaching devices through the journal's mirrors (`docs/mirror.md`): a
//! device keeps a reservation on each mirror it is connected to, so that
//! devices that cannot dial it reach it through the mirror; its relayed
//! addresses go out in the sync hello like any other; and once a direct
//! connection to a peer exists (hole punched by DCUtR, or dialled), the
//! relayed one is closed, so sync runs over the direct one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::core::transport::ListenerId;
use libp2p::core::ConnectedPoint;
use libp2p::multiaddr::Protocol;
use libp2p::swarm::ConnectionId;
use libp2p::{Multiaddr, PeerId};

use super::EventLoop;
use crate::identity;

/// How long after a reservation failed or ended a device tries again.
const RESERVE_AGAIN: Duration = Duration::from_secs(10);

/// How this device is connected to its peers, and its reservations.
#[derive(Default)]
pub(super) struct Links {
    /// Open connections per peer, and whether each goes through a relay.
    connections: HashMap<PeerId, Vec<(ConnectionId, bool)>>,
    /// Reservations on mirrors: the listener that holds each.
    reservations: HashMap<PeerId, ListenerId>,
    /// When a reservation on a mirror was last asked for.
    asked: HashMap<PeerId, Instant>,
    /// New devices whose welcome is on its way: their relayed connection
    /// may be the one carrying it, so it is not closed until it is sent
    /// (or [`WELCOME_SENDING`] passed).
    welcoming: HashMap<PeerId, Instant>,
}

/// The longest a relayed connection is kept for a welcome being sent.
const WELCOME_SENDING: Duration = Duration::from_secs(120);

impl Links {
    /// "direct" or "relayed" for a connected peer.
    pub(super) fn via(&self, peer: &PeerId) -> Option<&'static str> {
        let links = self.connections.get(peer)?;
        if links.iter().any(|(_, relayed)| !relayed) {
            Some("direct")
        } else if links.is_empty() {
            None
        } else {
            Some("relayed")
        }
    }
}

/// True for an address through a relay.
pub(super) fn is_relayed(addr: &Multiaddr) -> bool {
    addr.iter().any(|p| matches!(p, Protocol::P2pCircuit))
}

impl EventLoop {
    /// The member devices that are mirrors.
    pub(super) fn mirrors(&self) -> Vec<PeerId> {
        self.local
            .writer
            .devices()
            .iter()
            .filter(|d| d.is_mirror())
            .filter_map(|d| duet_core::DeviceId::from_text(&d.id))
            .filter(|d| self.local.writer.ledger().is_current_member(d))
            .filter_map(|d| identity::peer_id(&d))
            .collect()
    }

    /// A connection opened: noted, a relayed one closed when a direct one
    /// exists, and a reservation asked of a mirror.
    pub(super) fn link_opened(
        &mut self,
        peer: PeerId,
        id: ConnectionId,
        endpoint: &ConnectedPoint,
    ) {
        let relayed = endpoint.is_relayed();
        self.links
            .connections
            .entry(peer)
            .or_default()
            .push((id, relayed));
        self.replace_relayed(peer);
        if !relayed && self.mirrors().contains(&peer) {
            let addr = match endpoint {
                ConnectedPoint::Dialer { address, .. } => Some(address.clone()),
                ConnectedPoint::Listener { .. } => None,
            };
            // The mirror tells this device whether it can be dialled.
            self.swarm
                .behaviour_mut()
                .autonat
                .add_server(peer, addr.clone().filter(|a| !is_relayed(a)));
            self.reserve(peer, addr);
        }
    }

    /// Closes `peer`'s relayed connections once a direct one exists. A
    /// device pairing (not a member yet) keeps its relayed connection: the
    /// pairing request waiting on it for the person's answer would be lost
    /// with it; so does a new member whose welcome is being sent.
    fn replace_relayed(&mut self, peer: PeerId) {
        let Some(links) = self.links.connections.get(&peer) else {
            return;
        };
        if !links.iter().any(|(_, r)| !r)
            || !self.gate.is_member(&peer)
            || self.links.welcoming.contains_key(&peer)
        {
            return;
        }
        let relayed_ids: Vec<ConnectionId> =
            links.iter().filter(|(_, r)| *r).map(|(c, _)| *c).collect();
        for c in relayed_ids {
            tracing::info!(peer = %self.name(&peer), "a direct connection replaces the relayed one");
            self.swarm.close_connection(c);
        }
    }

    /// A welcome to `peer` is being sent: its relayed connection stays.
    pub(super) fn welcome_sending(&mut self, peer: PeerId) {
        self.links.welcoming.insert(peer, Instant::now());
    }

    /// The welcome to `peer` was sent, or failed: a relayed connection a
    /// direct one replaced may close now.
    pub(super) fn welcome_done(&mut self, peer: PeerId) {
        if self.links.welcoming.remove(&peer).is_some() {
            self.replace_relayed(peer);
        }
    }

    /// Forgets welcomes that took too long, and closes the relayed
    /// connections they kept.
    pub(super) fn expire_welcomes(&mut self, now: Instant) {
        let late: Vec<PeerId> = self
            .links
            .welcoming
            .iter()
            .filter(|(_, at)| now.duration_since(**at) >= WELCOME_SENDING)
            .map(|(p, _)| *p)
            .collect();
        for peer in late {
            self.welcome_done(peer);
        }
    }

    /// A connection closed.
    pub(super) fn link_closed(&mut self, peer: &PeerId, id: ConnectionId) {
        if let Some(links) = self.links.connections.get_mut(peer) {
            links.retain(|(c, _)| *c != id);
            if links.is_empty() {
                self.links.connections.remove(peer);
            }
        }
    }

    /// A listener closed: if it held a reservation, the next tick asks
    /// again.
    pub(super) fn listener_closed(&mut self, listener: ListenerId) {
        let gone: Vec<PeerId> = self
            .links
            .reservations
            .iter()
            .filter(|(_, l)| **l == listener)
            .map(|(p, _)| *p)
            .collect();
        for peer in gone {
            tracing::info!(mirror = %self.name(&peer), "the reservation on a mirror ended; asking again");
            self.links.reservations.remove(&peer);
        }
    }

    /// Asks each connected mirror without a reservation for one, at most
    /// every [`RESERVE_AGAIN`].
    pub(super) fn keep_reservations(&mut self) {
        for mirror in self.mirrors() {
            if self.swarm.is_connected(&mirror) {
                self.reserve(mirror, None);
            }
        }
    }

    /// Asks `mirror` for a reservation, at `addr` or an address remembered
    /// for it.
    fn reserve(&mut self, mirror: PeerId, addr: Option<Multiaddr>) {
        if self.links.reservations.contains_key(&mirror) {
            return;
        }
        let now = Instant::now();
        if self
            .links
            .asked
            .get(&mirror)
            .is_some_and(|at| now.duration_since(*at) < RESERVE_AGAIN)
        {
            return;
        }
        let remembered = || {
            let device = identity::device_id(&mirror)?;
            let record = self.local.writer.store().peer(&device).ok()?;
            record
                .addrs
                .iter()
                .filter_map(|a| a.parse::<Multiaddr>().ok())
                .find(|a| !is_relayed(a))
        };
        let Some(addr) = addr.filter(|a| !is_relayed(a)).or_else(remembered) else {
            return;
        };
        let base: Multiaddr = addr
            .iter()
            .filter(|p| !matches!(p, Protocol::P2p(_)))
            .collect();
        let circuit = base.with(Protocol::P2p(mirror)).with(Protocol::P2pCircuit);
        self.links.asked.insert(mirror, now);
        match self.swarm.listen_on(circuit.clone()) {
            Ok(listener) => {
                tracing::info!(mirror = %self.name(&mirror), "asked a mirror for a reservation");
                self.links.reservations.insert(mirror, listener);
            }
            Err(e) => tracing::debug!(%circuit, error = %e, "cannot ask for a reservation"),
        }
    }
}

/// This device's reachability in words, from AutoNAT's status.
pub(super) fn reachability(status: &libp2p::autonat::NatStatus) -> String {
    match status {
        libp2p::autonat::NatStatus::Public(addr) => format!("public, at {addr}"),
        libp2p::autonat::NatStatus::Private => {
            "private: devices elsewhere reach it through a mirror".to_string()
        }
        libp2p::autonat::NatStatus::Unknown => "not known yet".to_string(),
    }
}

impl EventLoop {
    /// Asks every connected mirror to relay for a device pairing with this
    /// one for `secs` seconds (0: no longer), so that a device on another
    /// network reaches this one's invitation through the mirror.
    pub(super) fn tell_mirrors_pairing(&mut self, secs: u32) {
        for mirror in self.mirrors() {
            if self.swarm.is_connected(&mirror) {
                self.swarm.behaviour_mut().sync.send_request(
                    &mirror,
                    crate::protocol::SyncRequest::Pairing { open_secs: secs },
                );
            }
        }
    }
}
