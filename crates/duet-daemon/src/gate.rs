//! The allow list at the swarm level: a connection from a device that is
//! not a member is refused before any protocol runs on it, except while an
//! invitation is open, when a stranger may connect to pair (and can then
//! speak only the pairing protocol).

use std::collections::HashSet;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::Endpoint;
use libp2p::swarm::{
    dummy, ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

use crate::door::KnownSources;
use crate::warnings::Warnings;

/// Who may connect; shared between the gate, the door and the event loop.
#[derive(Clone, Default)]
pub struct Members {
    inner: Arc<RwLock<MembersInner>>,
    /// Addresses member devices were seen at (`door.rs`).
    known: KnownSources,
}

#[derive(Default)]
struct MembersInner {
    peers: HashSet<PeerId>,
    /// Removed devices: let in only to be told, then disconnected.
    removed: HashSet<PeerId>,
    pairing_open: bool,
}

impl Members {
    pub fn set(&self, peers: impl IntoIterator<Item = PeerId>) {
        if let Ok(mut inner) = self.inner.write() {
            inner.peers = peers.into_iter().collect();
        }
    }

    pub fn set_removed(&self, peers: impl IntoIterator<Item = PeerId>) {
        if let Ok(mut inner) = self.inner.write() {
            inner.removed = peers.into_iter().collect();
        }
    }

    /// True for a device that was removed from the journal.
    pub fn is_removed(&self, peer: &PeerId) -> bool {
        self.inner
            .read()
            .map(|i| i.removed.contains(peer))
            .unwrap_or(false)
    }

    pub fn set_pairing_open(&self, open: bool) {
        if let Ok(mut inner) = self.inner.write() {
            inner.pairing_open = open;
        }
    }

    /// True while devices that are not members may connect to pair.
    pub fn pairing_open(&self) -> bool {
        self.inner.read().map(|i| i.pairing_open).unwrap_or(false)
    }

    pub fn known(&self) -> &KnownSources {
        &self.known
    }

    pub fn is_member(&self, peer: &PeerId) -> bool {
        self.inner
            .read()
            .map(|i| i.peers.contains(peer))
            .unwrap_or(false)
    }

    fn admits(&self, peer: &PeerId) -> bool {
        self.inner
            .read()
            .map(|i| i.pairing_open || i.peers.contains(peer) || i.removed.contains(peer))
            .unwrap_or(false)
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0} is not a member of this journal")]
pub struct NotAMember(PeerId);

pub struct Gate {
    members: Members,
    /// Refused connections are logged a few lines a minute, however many
    /// strangers knock.
    refused: Warnings<()>,
}

impl Gate {
    pub fn new(members: Members) -> Self {
        Self {
            members,
            refused: Warnings::default(),
        }
    }

    fn check(&mut self, peer: PeerId) -> Result<(), ConnectionDenied> {
        if self.members.admits(&peer) {
            return Ok(());
        }
        let line = self
            .refused
            .note(&(), 1, "not a member", std::time::Instant::now());
        if let Some(line) = line {
            tracing::warn!(%peer, refused = line.count, "refused a connection from a device that is not a member");
        }
        Err(ConnectionDenied::new(NotAMember(peer)))
    }
}

impl NetworkBehaviour for Gate {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_established_inbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        peer: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.check(peer)?;
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, _: FromSwarm) {}

    fn on_connection_handler_event(
        &mut self,
        _: PeerId,
        _: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        libp2p::core::util::unreachable(event)
    }

    fn poll(&mut self, _: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        Poll::Pending
    }
}
