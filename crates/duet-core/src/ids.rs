//! Identifiers: devices, journals and entries.

use std::fmt;

use data_encoding::BASE32_NOPAD;

/// A device's ed25519 public key. It is also the device's libp2p `PeerId`
/// (the daemon converts it), and it names the author of every envelope.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DeviceId(pub [u8; 32]);

impl DeviceId {
    /// The full id as lowercase base32 (52 characters): stable, and safe in
    /// file names, JSON and automerge map keys.
    pub fn to_text(&self) -> String {
        to_base32(&self.0)
    }

    /// Parses what [`DeviceId::to_text`] wrote.
    pub fn from_text(text: &str) -> Option<Self> {
        from_base32(text).map(Self)
    }

    /// The first eight characters, which is what people see.
    pub fn short(&self) -> String {
        self.to_text()[..8].to_string()
    }
}

impl fmt::Debug for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DeviceId({})", self.short())
    }
}

impl fmt::Display for DeviceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_text())
    }
}

/// A journal's random id. Envelopes carry it so that bytes from another
/// journal are refused before anything else is looked at.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct JournalId(pub [u8; 16]);

impl JournalId {
    pub fn random() -> Self {
        Self(random_bytes())
    }

    pub fn to_text(&self) -> String {
        to_base32(&self.0)
    }

    pub fn from_text(text: &str) -> Option<Self> {
        from_base32(text).map(Self)
    }
}

impl fmt::Debug for JournalId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "JournalId({})", self.to_text())
    }
}

/// Lowercase base32 without padding: safe in file names, JSON and map keys.
fn to_base32(bytes: &[u8]) -> String {
    BASE32_NOPAD.encode(bytes).to_ascii_lowercase()
}

fn from_base32<const N: usize>(text: &str) -> Option<[u8; N]> {
    let bytes = BASE32_NOPAD
        .decode(text.to_ascii_uppercase().as_bytes())
        .ok()?;
    bytes.try_into().ok()
}

/// Alphabet for entry ids: lowercase letters and digits without the ones
/// people confuse (`i`, `l`, `o`, `u`), so ids read aloud and type cleanly.
const ENTRY_ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A new random entry id of ten characters (50 bits): short enough to type
/// a prefix of, long enough that two devices never pick the same one.
pub fn new_entry_id() -> String {
    let bytes: [u8; 10] = random_bytes();
    bytes
        .iter()
        .map(|b| ENTRY_ALPHABET[(*b & 31) as usize] as char)
        .collect()
}

/// Fills an array from the operating system's random source.
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    // The OS random source failing is not something duet can recover from
    // or route around; every key would be unsafe.
    getrandom::fill(&mut out).expect("the operating system's random source failed");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn device_id_text_round_trips() {
        let id = DeviceId(random_bytes());
        assert_eq!(DeviceId::from_text(&id.to_text()), Some(id));
        assert_eq!(id.to_text().len(), 52);
        assert!(DeviceId::from_text("not an id").is_none());
    }

    #[test]
    fn entry_ids_are_ten_unambiguous_characters() {
        let id = new_entry_id();
        assert_eq!(id.len(), 10);
        assert!(id.bytes().all(|b| ENTRY_ALPHABET.contains(&b)));
    }
}
