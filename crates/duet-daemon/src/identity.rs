//! The device's identity on the network: its ed25519 key is its libp2p
//! `PeerId`, so a connection authenticated by Noise proves which member
//! device is on the other end.

use duet_core::journal::DeviceRecord;
use duet_core::keys::DeviceKey;
use duet_core::DeviceId;
use libp2p::identity::{self, Keypair, PeerId};

/// The libp2p keypair for this device's key.
pub fn keypair(device: &DeviceKey) -> Keypair {
    let mut secret = device.secret_bytes();
    let bytes: &mut [u8] = &mut secret[..];
    // 32 bytes are always a valid ed25519 secret; the conversion only
    // fails on a wrong length, which `secret_bytes` rules out.
    Keypair::ed25519_from_bytes(bytes).expect("a 32-byte ed25519 secret")
}

/// The `PeerId` of a member device.
pub fn peer_id(device: &DeviceId) -> Option<PeerId> {
    let public = identity::ed25519::PublicKey::try_from_bytes(&device.0).ok()?;
    Some(identity::PublicKey::from(public).to_peer_id())
}

/// The device behind a `PeerId`, when it is an ed25519 identity (libp2p
/// inlines ed25519 public keys into their peer ids).
pub fn device_id(peer: &PeerId) -> Option<DeviceId> {
    let multihash = peer.as_ref();
    if multihash.code() != 0 {
        return None;
    }
    let public = identity::PublicKey::try_decode_protobuf(multihash.digest()).ok()?;
    let ed = public.try_into_ed25519().ok()?;
    Some(DeviceId(ed.to_bytes()))
}

/// A peer as its device's short id, as `duet devices` shows it.
pub fn short(peer: &PeerId) -> String {
    device_id(peer).map_or_else(|| peer.to_string(), |d| d.short())
}

/// A peer as the daemon's log names it: "Alex/ab12cd34" for a device of
/// the journal (its person and short id, as `duet devices` shows them);
/// the short id alone for a device the list does not hold (a stranger, a
/// device joining, or any device on a mirror, which reads no names); the
/// libp2p id only for a peer whose key is not a device key.
pub fn named(peer: &PeerId, devices: &[DeviceRecord]) -> String {
    let Some(device) = device_id(peer) else {
        return peer.to_string();
    };
    let text = device.to_text();
    match devices.iter().find(|d| d.id == text) {
        // A person's name is the other device's to choose: nothing in it
        // may start a new log line or colour the terminal.
        Some(d) => format!(
            "{}/{}",
            d.person
                .chars()
                .filter(|c| !c.is_control())
                .collect::<String>(),
            device.short()
        ),
        None => device.short(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_key_is_its_peer_id() {
        let device = DeviceKey::generate();
        let pair = keypair(&device);
        let peer = pair.public().to_peer_id();
        assert_eq!(peer_id(&device.id()), Some(peer));
        assert_eq!(device_id(&peer), Some(device.id()));
    }

    #[test]
    fn a_member_is_named_by_person_and_short_id_and_a_stranger_by_short_id() {
        let device = DeviceKey::generate();
        let peer = keypair(&device).public().to_peer_id();
        let record = DeviceRecord {
            id: device.id().to_text(),
            person: "Al\nex".into(),
            name: "laptop".into(),
            added_by: None,
            added_at: 0,
            role: None,
        };
        assert_eq!(
            named(&peer, &[record]),
            format!("Alex/{}", device.id().short())
        );
        assert_eq!(named(&peer, &[]), device.id().short());
    }
}
