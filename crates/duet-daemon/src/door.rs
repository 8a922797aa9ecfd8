//! Handshakes in progress, bounded per source address, with room kept for
//! the journal's own devices.
//!
//! Before a connection's handshake finishes nobody knows whose it is, so
//! the gate (`gate.rs`) cannot judge it yet. A stranger who opens many
//! connections and never finishes a handshake would, with one shared
//! limit, take every slot and keep the partners' devices from
//! reconnecting. The door bounds handshakes in progress per source (an
//! IPv4 address, or an IPv6 /64, which one home holds), and counts those
//! from addresses where a member device was seen apart from the rest:
//! strangers fill their own share, never the members'. Handshakes that
//! stall are dropped by the transport's timeout (`behaviour.rs`).
//!
//! A stranger behind the same address as a member (the same home router)
//! shares that address's slots; it can delay that member by holding them,
//! not the others.

use std::collections::{HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::{Arc, RwLock};
use std::task::{Context, Poll};

use libp2p::core::transport::PortUse;
use libp2p::core::{ConnectedPoint, Endpoint};
use libp2p::multiaddr::Protocol;
use libp2p::swarm::{
    behaviour::ConnectionEstablished, dummy, ConnectionClosed, ConnectionDenied, ConnectionId,
    FromSwarm, ListenFailure, NetworkBehaviour, THandler, THandlerInEvent, THandlerOutEvent,
    ToSwarm,
};
use libp2p::{Multiaddr, PeerId};

use crate::gate::Members;
use crate::warnings::Warnings;

/// Handshakes in progress one source may hold: a device dials a few
/// addresses at once, never more.
pub const PER_SOURCE: usize = 4;
/// Handshakes in progress from sources where no member was seen.
pub const STRANGERS: usize = 32;
/// Handshakes in progress from sources where a member was seen.
pub const MEMBERS: usize = 32;
/// Sources remembered as members'; the oldest is forgotten first.
const KNOWN_SOURCES: usize = 64;

/// Where a connection comes from, as far as limits go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Source {
    V4([u8; 4]),
    /// The /64 prefix: one home or host holds a whole /64.
    V6([u8; 8]),
    /// An address with no IP (a relayed circuit, say).
    Other,
}

impl Source {
    pub fn of(addr: &Multiaddr) -> Self {
        match addr.iter().next() {
            Some(Protocol::Ip4(ip)) => Source::from_ip(IpAddr::V4(ip)),
            Some(Protocol::Ip6(ip)) => Source::from_ip(IpAddr::V6(ip)),
            _ => Source::Other,
        }
    }

    pub fn from_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(ip) => Source::V4(ip.octets()),
            IpAddr::V6(ip) => match ip.to_ipv4_mapped() {
                Some(v4) => Source::V4(v4.octets()),
                None => {
                    let mut prefix = [0u8; 8];
                    prefix.copy_from_slice(&ip.octets()[..8]);
                    Source::V6(prefix)
                }
            },
        }
    }
}

/// Sources where member devices were seen, shared between the door and
/// the event loop (which adds the addresses it remembers for members).
#[derive(Clone, Default)]
pub struct KnownSources(Arc<RwLock<KnownInner>>);

#[derive(Default)]
struct KnownInner {
    set: HashSet<Source>,
    order: VecDeque<Source>,
}

impl KnownSources {
    pub fn add(&self, source: Source) {
        if source == Source::Other {
            return;
        }
        let Ok(mut inner) = self.0.write() else {
            return;
        };
        if inner.set.insert(source) {
            inner.order.push_back(source);
            if inner.order.len() > KNOWN_SOURCES {
                if let Some(old) = inner.order.pop_front() {
                    inner.set.remove(&old);
                }
            }
        }
    }

    pub fn contains(&self, source: &Source) -> bool {
        self.0
            .read()
            .map(|i| i.set.contains(source))
            .unwrap_or(false)
    }
}

pub struct Door {
    members: Members,
    known: KnownSources,
    pending: HashMap<ConnectionId, (Source, bool)>,
    per_source: HashMap<Source, usize>,
    /// Handshakes in progress from strangers' and members' sources.
    strangers: usize,
    from_members: usize,
    refused: Warnings<()>,
}

impl Door {
    pub fn new(members: Members) -> Self {
        Self {
            known: members.known().clone(),
            members,
            pending: HashMap::new(),
            per_source: HashMap::new(),
            strangers: 0,
            from_members: 0,
            refused: Warnings::default(),
        }
    }

    /// Handshakes in progress: from strangers' sources, from members'.
    pub fn in_progress(&self) -> (usize, usize) {
        (self.strangers, self.from_members)
    }

    fn admit(&mut self, id: ConnectionId, remote: &Multiaddr) -> Result<(), ConnectionDenied> {
        let source = Source::of(remote);
        let known = self.known.contains(&source);
        let held = self.per_source.get(&source).copied().unwrap_or(0);
        let full = if known {
            self.from_members >= MEMBERS
        } else {
            self.strangers >= STRANGERS
        };
        if held >= PER_SOURCE || full {
            let why = if held >= PER_SOURCE {
                "too many handshakes from one address"
            } else {
                "too many handshakes in progress"
            };
            if let Some(line) = self.refused.note(&(), 1, why, std::time::Instant::now()) {
                tracing::warn!(refused = line.count, reason = %line.reason, "refused connections before their handshake");
            }
            return Err(ConnectionDenied::new(Busy(why)));
        }
        *self.per_source.entry(source).or_insert(0) += 1;
        if known {
            self.from_members += 1;
        } else {
            self.strangers += 1;
        }
        self.pending.insert(id, (source, known));
        Ok(())
    }

    fn release(&mut self, id: ConnectionId) {
        let Some((source, known)) = self.pending.remove(&id) else {
            return;
        };
        if let Some(n) = self.per_source.get_mut(&source) {
            *n -= 1;
            if *n == 0 {
                self.per_source.remove(&source);
            }
        }
        if known {
            self.from_members -= 1;
        } else {
            self.strangers -= 1;
        }
    }

    fn learn(&mut self, peer: &PeerId, endpoint: &ConnectedPoint) {
        if self.members.is_member(peer) {
            self.known.add(Source::of(endpoint.get_remote_address()));
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct Busy(&'static str);

impl NetworkBehaviour for Door {
    type ConnectionHandler = dummy::ConnectionHandler;
    type ToSwarm = Infallible;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        _: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.admit(id, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        self.release(id);
        Ok(dummy::ConnectionHandler)
    }

    fn handle_established_outbound_connection(
        &mut self,
        _: ConnectionId,
        _: PeerId,
        _: &Multiaddr,
        _: Endpoint,
        _: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        Ok(dummy::ConnectionHandler)
    }

    fn on_swarm_event(&mut self, event: FromSwarm) {
        match event {
            FromSwarm::ConnectionEstablished(ConnectionEstablished {
                peer_id,
                connection_id,
                endpoint,
                ..
            }) => {
                self.release(connection_id);
                self.learn(&peer_id, endpoint);
            }
            FromSwarm::ConnectionClosed(ConnectionClosed { connection_id, .. }) => {
                self.release(connection_id)
            }
            FromSwarm::ListenFailure(ListenFailure { connection_id, .. }) => {
                self.release(connection_id)
            }
            _ => {}
        }
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> Multiaddr {
        s.parse().expect("multiaddr")
    }

    #[test]
    fn one_address_cannot_take_every_handshake_slot() {
        let mut door = Door::new(Members::default());
        let stranger = addr("/ip4/203.0.113.9/tcp/5000");
        for i in 0..PER_SOURCE {
            door.admit(ConnectionId::new_unchecked(i), &stranger)
                .expect("admitted");
        }
        assert!(door
            .admit(ConnectionId::new_unchecked(50), &stranger)
            .is_err());
        // Another address still gets in.
        assert!(door
            .admit(
                ConnectionId::new_unchecked(99),
                &addr("/ip4/198.51.100.1/tcp/1")
            )
            .is_ok());
    }

    #[test]
    fn strangers_filling_their_share_leave_room_for_members() {
        let members = Members::default();
        let member = addr("/ip4/192.0.2.7/tcp/4000");
        members.known().add(Source::of(&member));
        let mut door = Door::new(members);
        let mut id = 0;
        // Many strangers, each from its own address (an IPv6 /64 is one).
        'fill: for a in 0..=255u8 {
            for b in 0..=255u8 {
                id += 1;
                let s = addr(&format!("/ip4/10.{a}.{b}.1/tcp/1"));
                if door.admit(ConnectionId::new_unchecked(id), &s).is_err() {
                    break 'fill;
                }
            }
        }
        assert_eq!(door.in_progress(), (STRANGERS, 0));
        assert!(door
            .admit(ConnectionId::new_unchecked(id + 1), &member)
            .is_ok());
        // Releasing a stranger's handshake frees its slot.
        door.release(ConnectionId::new_unchecked(1));
        assert_eq!(door.in_progress(), (STRANGERS - 1, 1));
    }

    #[test]
    fn an_ipv6_home_is_one_source() {
        let a = Source::of(&addr("/ip6/2001:db8:1:2::1/tcp/1"));
        let b = Source::of(&addr("/ip6/2001:db8:1:2:ffff::9/tcp/1"));
        let c = Source::of(&addr("/ip6/2001:db8:1:3::1/tcp/1"));
        assert_eq!(a, b);
        assert_ne!(a, c);
    }
}
