//! Reading the addresses a joiner was given: which relay a relayed one
//! goes through, and whether two name the same place.

use libp2p::multiaddr::Protocol;
use libp2p::{Multiaddr, PeerId};

/// The relay of a relayed address (`.../p2p/RELAY/p2p-circuit/...`).
pub(super) fn relays_of(addr: &Multiaddr) -> Option<PeerId> {
    let mut relay = None;
    for protocol in addr.iter() {
        match protocol {
            Protocol::P2p(peer) => relay = Some(peer),
            Protocol::P2pCircuit => return relay,
            _ => relay = None,
        }
    }
    None
}

/// An address without its trailing `/p2p/ID`, as a person typed it.
pub(super) fn without_p2p(addr: &Multiaddr) -> Multiaddr {
    let mut addr = addr.clone();
    if matches!(addr.iter().last(), Some(Protocol::P2p(_))) {
        addr.pop();
    }
    addr
}

/// True when two addresses name the same place, `/p2p/ID` aside.
pub(super) fn same_place(a: &Multiaddr, b: &Multiaddr) -> bool {
    without_p2p(a) == without_p2p(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_relay_of_a_relayed_address_is_known_and_a_direct_one_has_none() {
        let relay = PeerId::random();
        let target = PeerId::random();
        let relayed: Multiaddr =
            format!("/ip4/198.51.100.2/tcp/4001/p2p/{relay}/p2p-circuit/p2p/{target}")
                .parse()
                .expect("addr");
        assert_eq!(relays_of(&relayed), Some(relay));
        let direct: Multiaddr = format!("/ip4/192.0.2.1/tcp/4001/p2p/{target}")
            .parse()
            .expect("addr");
        assert_eq!(relays_of(&direct), None);
        assert!(same_place(
            &direct,
            &"/ip4/192.0.2.1/tcp/4001".parse().expect("addr")
        ));
    }
}
