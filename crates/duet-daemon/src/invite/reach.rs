//! Where a joiner on another network can reach this device: the
//! daemon's addresses sorted into those that work from anywhere (public
//! ones, and circuits through a mirror) and those that work only on this
//! network, for `duet invite` to show.

use std::net::{Ipv4Addr, Ipv6Addr};

use libp2p::multiaddr::Protocol;
use libp2p::Multiaddr;

/// The daemon's addresses, sorted by who can use them.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Reach {
    /// Public addresses: any network can dial them (if no firewall says
    /// otherwise).
    pub public: Vec<String>,
    /// Circuits through a mirror: any network that reaches the mirror.
    pub relayed: Vec<String>,
    /// This network's addresses (private, link-local, loopback).
    pub local: Vec<String>,
}

impl Reach {
    /// Sorts `addrs` (each with its `/p2p/` id, as the daemon gives them);
    /// one that does not parse is left out.
    pub fn sort(addrs: &[String]) -> Self {
        let mut reach = Self::default();
        for text in addrs {
            let Ok(addr) = text.parse::<Multiaddr>() else {
                continue;
            };
            let list = if addr.iter().any(|p| matches!(p, Protocol::P2pCircuit)) {
                &mut reach.relayed
            } else if is_local(&addr) {
                &mut reach.local
            } else {
                &mut reach.public
            };
            list.push(text.clone());
        }
        reach
    }
}

/// True for an address no other network can dial.
fn is_local(addr: &Multiaddr) -> bool {
    match addr.iter().next() {
        Some(Protocol::Ip4(ip)) => local_v4(ip),
        Some(Protocol::Ip6(ip)) => match ip.to_ipv4_mapped() {
            Some(v4) => local_v4(v4),
            None => local_v6(ip),
        },
        // A name (/dns4/...) was given on purpose, to be reached by.
        _ => false,
    }
}

fn local_v4(ip: Ipv4Addr) -> bool {
    let [a, b, ..] = ip.octets();
    // 100.64.0.0/10: a carrier's NAT, shared by many homes.
    let carrier_nat = a == 100 && (64..128).contains(&b);
    ip.is_private() || ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || carrier_nat
}

fn local_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    // fc00::/7 unique local, fe80::/10 link-local.
    ip.is_loopback() || ip.is_unspecified() || first & 0xfe00 == 0xfc00 || first & 0xffc0 == 0xfe80
}

#[cfg(test)]
mod tests {
    use super::*;

    const ME: &str = "12D3KooWGzMcr3a5Xx2fKYuRtTnTBnWXHhpDoUWDLkXLDgDgpMPr";
    const MIRROR: &str = "12D3KooWRBy97UB99e3J6hiPesre1MZeuNQvfan4gBziswrRJsNK";

    #[test]
    fn addresses_are_sorted_by_who_can_dial_them() {
        let at = |a: &str| format!("{a}/p2p/{ME}");
        let relayed = format!("/ip4/198.51.100.2/tcp/4001/p2p/{MIRROR}/p2p-circuit/p2p/{ME}");
        let addrs = vec![
            at("/ip4/127.0.0.1/tcp/4001"),
            at("/ip4/192.168.1.20/tcp/4001"),
            at("/ip4/100.72.1.1/tcp/4001"),
            at("/ip6/fe80::1/tcp/4001"),
            at("/ip4/203.0.113.5/tcp/4001"),
            at("/ip6/2001:db8::5/udp/4001/quic-v1"),
            relayed.clone(),
            "not an address".to_string(),
        ];
        let reach = Reach::sort(&addrs);
        assert_eq!(
            reach.public,
            [
                at("/ip4/203.0.113.5/tcp/4001"),
                at("/ip6/2001:db8::5/udp/4001/quic-v1")
            ]
        );
        assert_eq!(reach.relayed, [relayed]);
        assert_eq!(reach.local.len(), 4);
    }
}
