//! Pairing, as plain state: code phrases, the `duet:` URI, and the SPAKE2
//! handshake with key confirmation bound to both devices' PeerIds.
//!
//! A code phrase looks like `7-crisp-lantern-orbit`: a nameplate that tells
//! concurrent invitations apart (random, never derived from the words) and
//! three words from the EFF short list (~31 bits). The URI in the QR code
//! carries a 128-bit secret instead of words. Either becomes the SPAKE2
//! password; an attacker gets one guess per invitation, because a wrong
//! guess ends it.

use std::fmt;

use chacha20poly1305::aead::{Aead, AeadInPlace, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use data_encoding::BASE32_NOPAD;
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use libp2p::{Multiaddr, PeerId};
use sha2::Sha256;
use spake2::{Ed25519Group, Identity, Password, Spake2};
use zeroize::Zeroizing;

use crate::wordlist;

/// Words in a code phrase.
pub const CODE_WORDS: usize = 3;
/// Words shown to both people to compare.
pub const VERIFY_WORDS: usize = 3;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PairingError {
    #[error("`{text}` is not a duet code; it looks like 7-crisp-lantern-orbit")]
    BadCode { text: String },
    #[error("`{word}` is not a word of the code list; check the spelling")]
    UnknownWord { word: String },
    #[error("not a duet pairing URI: {0}")]
    BadUri(&'static str),
    #[error("the pairing handshake failed: {0}")]
    Handshake(&'static str),
    #[error("the code is wrong; this invitation has ended, ask for a new one")]
    WrongCode,
}

/// A code phrase: `nameplate-word-word-word`.
#[derive(Clone, PartialEq, Eq)]
pub struct Code {
    pub nameplate: u32,
    words: Vec<String>,
}

impl Code {
    pub fn generate(nameplate: u32) -> Self {
        let list = wordlist::words();
        let words = (0..CODE_WORDS)
            .map(|_| list[uniform(list.len())].to_string())
            .collect();
        Self { nameplate, words }
    }

    /// Parses what a person typed: case, spaces and extra dashes forgiven.
    pub fn parse(text: &str) -> Result<Self, PairingError> {
        let normalised = text.trim().to_ascii_lowercase().replace([' ', '_'], "-");
        let mut parts = normalised.split('-').filter(|p| !p.is_empty());
        let nameplate = parts
            .next()
            .and_then(|n| n.parse::<u32>().ok())
            .ok_or_else(|| PairingError::BadCode {
                text: text.trim().to_string(),
            })?;
        let words: Vec<String> = parts.map(str::to_string).collect();
        if words.len() != CODE_WORDS {
            return Err(PairingError::BadCode {
                text: text.trim().to_string(),
            });
        }
        if let Some(bad) = words.iter().find(|w| !wordlist::contains(w)) {
            return Err(PairingError::UnknownWord { word: bad.clone() });
        }
        Ok(Self { nameplate, words })
    }

    /// The SPAKE2 password this code stands for.
    pub fn password(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(format!("duet-code-v1:{self}").into_bytes())
    }
}

impl fmt::Display for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.nameplate, self.words.join("-"))
    }
}

impl fmt::Debug for Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Code({}-…)", self.nameplate)
    }
}

/// What the QR code holds: `duet:pair?v=1&n=NAMEPLATE&peer=PEERID&s=SECRET&a=ADDR...`.
/// A custom scheme, so a phone's scanner does not visit it and burn it.
#[derive(Clone, PartialEq, Eq)]
pub struct PairUri {
    pub nameplate: u32,
    pub peer: PeerId,
    pub secret: [u8; 16],
    pub addrs: Vec<Multiaddr>,
}

impl PairUri {
    pub fn password(&self) -> Zeroizing<Vec<u8>> {
        let mut p = b"duet-uri-v1:".to_vec();
        p.extend_from_slice(&self.secret);
        Zeroizing::new(p)
    }

    pub fn parse(text: &str) -> Result<Self, PairingError> {
        let rest = text
            .trim()
            .strip_prefix("duet:pair?")
            .ok_or(PairingError::BadUri("it should start with duet:pair?"))?;
        let (mut version, mut nameplate, mut peer, mut secret) = (None, None, None, None);
        let mut addrs = Vec::new();
        for pair in rest.split('&') {
            let (key, value) = pair
                .split_once('=')
                .ok_or(PairingError::BadUri("a field has no value"))?;
            match key {
                "v" => version = Some(value),
                "n" => nameplate = value.parse().ok(),
                "peer" => peer = value.parse::<PeerId>().ok(),
                "s" => {
                    secret = BASE32_NOPAD
                        .decode(value.to_ascii_uppercase().as_bytes())
                        .ok()
                        .and_then(|b| <[u8; 16]>::try_from(b).ok())
                }
                "a" => {
                    if let Ok(addr) = value.parse::<Multiaddr>() {
                        addrs.push(addr);
                    }
                }
                _ => {}
            }
        }
        if version != Some("1") {
            return Err(PairingError::BadUri("unknown version; update duet"));
        }
        Ok(Self {
            nameplate: nameplate.ok_or(PairingError::BadUri("no nameplate"))?,
            peer: peer.ok_or(PairingError::BadUri("no valid peer id"))?,
            secret: secret.ok_or(PairingError::BadUri("no valid secret"))?,
            addrs,
        })
    }
}

impl fmt::Display for PairUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "duet:pair?v=1&n={}&peer={}&s={}",
            self.nameplate,
            self.peer,
            BASE32_NOPAD.encode(&self.secret).to_ascii_lowercase()
        )?;
        for addr in &self.addrs {
            write!(f, "&a={addr}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for PairUri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "PairUri(n={}, peer={}, secret redacted)",
            self.nameplate, self.peer
        )
    }
}

/// Which end of the handshake this is. The joiner is SPAKE2's side A.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Joiner,
    Inviter,
}

/// A SPAKE2 exchange in progress.
pub struct Handshake {
    spake: Spake2<Ed25519Group>,
    side: Side,
    joiner: PeerId,
    inviter: PeerId,
    mine: Vec<u8>,
}

impl Handshake {
    /// Starts the exchange; returns the message to send to the other side.
    pub fn start(side: Side, password: &[u8], joiner: PeerId, inviter: PeerId) -> (Self, Vec<u8>) {
        let pw = Password::new(password);
        let (a, b) = (
            Identity::new(&joiner.to_bytes()),
            Identity::new(&inviter.to_bytes()),
        );
        let (spake, mine) = match side {
            Side::Joiner => Spake2::<Ed25519Group>::start_a(&pw, &a, &b),
            Side::Inviter => Spake2::<Ed25519Group>::start_b(&pw, &a, &b),
        };
        let hs = Self {
            spake,
            side,
            joiner,
            inviter,
            mine: mine.clone(),
        };
        (hs, mine)
    }

    /// Finishes with the other side's message. Both sides get a session;
    /// only key confirmation tells whether the passwords matched.
    pub fn finish(self, theirs: &[u8]) -> Result<Session, PairingError> {
        let key = Zeroizing::new(
            self.spake
                .finish(theirs)
                .map_err(|_| PairingError::Handshake("the other side's message is malformed"))?,
        );
        let (msg_a, msg_b) = match self.side {
            Side::Joiner => (self.mine.as_slice(), theirs),
            Side::Inviter => (theirs, self.mine.as_slice()),
        };
        let mut transcript = Vec::new();
        for part in [
            b"duet-pair-v1".as_slice(),
            &self.joiner.to_bytes(),
            &self.inviter.to_bytes(),
            msg_a,
            msg_b,
        ] {
            transcript.extend_from_slice(&(part.len() as u32).to_be_bytes());
            transcript.extend_from_slice(part);
        }
        let hk = Hkdf::<Sha256>::new(Some(&transcript), &key);
        let mut okm = Zeroizing::new([0u8; 32 * 4]);
        hk.expand(b"duet pairing keys", okm.as_mut())
            .map_err(|_| PairingError::Handshake("key derivation"))?;
        let part = |i: usize| -> [u8; 32] {
            let mut k = [0u8; 32];
            k.copy_from_slice(&okm[i * 32..(i + 1) * 32]);
            k
        };
        Ok(Session {
            side: self.side,
            confirm_joiner: Zeroizing::new(part(0)),
            confirm_inviter: Zeroizing::new(part(1)),
            seal_key: Zeroizing::new(part(2)),
            words_seed: part(3),
        })
    }
}

/// The keys both sides derive from one SPAKE2 exchange.
pub struct Session {
    side: Side,
    confirm_joiner: Zeroizing<[u8; 32]>,
    confirm_inviter: Zeroizing<[u8; 32]>,
    seal_key: Zeroizing<[u8; 32]>,
    words_seed: [u8; 32],
}

impl Session {
    fn confirm_key(&self, side: Side) -> &[u8; 32] {
        match side {
            Side::Joiner => &self.confirm_joiner,
            Side::Inviter => &self.confirm_inviter,
        }
    }

    /// This side's key-confirmation tag, to send.
    pub fn my_confirmation(&self) -> Vec<u8> {
        tag(self.confirm_key(self.side), self.side)
    }

    /// Checks the other side's tag; `WrongCode` when the passwords differed.
    pub fn check_confirmation(&self, theirs: &[u8]) -> Result<(), PairingError> {
        let other = match self.side {
            Side::Joiner => Side::Inviter,
            Side::Inviter => Side::Joiner,
        };
        let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(self.confirm_key(other))
            .map_err(|_| PairingError::Handshake("confirmation key"))?;
        mac.update(label(other));
        mac.verify_slice(theirs)
            .map_err(|_| PairingError::WrongCode)
    }

    /// Words both people compare; the same on both sides only when both
    /// devices ran the exchange with each other and the same code.
    pub fn verification_words(&self) -> String {
        let list = wordlist::words();
        (0..VERIFY_WORDS)
            .map(|i| {
                let n = u16::from_be_bytes([self.words_seed[2 * i], self.words_seed[2 * i + 1]]);
                list[n as usize % list.len()]
            })
            .collect::<Vec<_>>()
            .join("-")
    }

    /// Encrypts a message from this side to the other: the joiner's
    /// introduction, or the inviter's welcome.
    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>, PairingError> {
        self.seal_as(Message::Main, plaintext)
    }

    /// [`seal`](Self::seal) in place: `buffer` holds the plaintext and
    /// becomes the same sealed message, without a second copy of a
    /// welcome that is tens of megabytes for a long journal. On failure it
    /// still holds the plaintext.
    pub fn seal_in_place(&self, buffer: &mut Vec<u8>) -> Result<(), PairingError> {
        self.seal_in_place_as(Message::Main, buffer)
    }

    /// Decrypts the other side's [`seal`](Self::seal)ed message.
    pub fn open(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, PairingError> {
        self.open_as(Message::Main, ciphertext)
    }

    /// Encrypts the inviter's introduction, sent before its welcome.
    pub fn seal_intro(&self, plaintext: &[u8]) -> Result<Vec<u8>, PairingError> {
        self.seal_as(Message::Intro, plaintext)
    }

    /// Decrypts the other side's [`seal_intro`](Self::seal_intro)ed message.
    pub fn open_intro(&self, ciphertext: &[u8]) -> Result<Zeroizing<Vec<u8>>, PairingError> {
        self.open_as(Message::Intro, ciphertext)
    }

    fn cipher(&self) -> ChaCha20Poly1305 {
        ChaCha20Poly1305::new(chacha20poly1305::Key::from_slice(self.seal_key.as_ref()))
    }

    fn seal_as(&self, message: Message, plaintext: &[u8]) -> Result<Vec<u8>, PairingError> {
        let mut buffer = plaintext.to_vec();
        self.seal_in_place_as(message, &mut buffer)?;
        Ok(buffer)
    }

    fn seal_in_place_as(&self, message: Message, buffer: &mut Vec<u8>) -> Result<(), PairingError> {
        self.cipher()
            .encrypt_in_place(&nonce(self.side, message), b"", buffer)
            .map_err(|_| PairingError::Handshake("sealing"))
    }

    fn open_as(
        &self,
        message: Message,
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, PairingError> {
        let other = match self.side {
            Side::Joiner => Side::Inviter,
            Side::Inviter => Side::Joiner,
        };
        self.cipher()
            .decrypt(&nonce(other, message), ciphertext)
            .map(Zeroizing::new)
            .map_err(|_| PairingError::Handshake("the sealed message does not open"))
    }
}

/// Which of a side's sealed messages: each side seals at most one of
/// each, and each has its own nonce, so no nonce is used twice under the
/// session's key.
#[derive(Clone, Copy)]
enum Message {
    /// The joiner's introduction; the inviter's welcome.
    Main,
    /// The inviter's introduction.
    Intro,
}

fn label(side: Side) -> &'static [u8] {
    match side {
        Side::Joiner => b"duet-confirm-joiner",
        Side::Inviter => b"duet-confirm-inviter",
    }
}

fn tag(key: &[u8; 32], side: Side) -> Vec<u8> {
    // HMAC takes keys of any length; a 32-byte key cannot fail.
    let Ok(mut mac) = <Hmac<Sha256> as Mac>::new_from_slice(key) else {
        return Vec::new();
    };
    mac.update(label(side));
    mac.finalize().into_bytes().to_vec()
}

fn nonce(side: Side, message: Message) -> Nonce {
    let mut n = [0u8; 12];
    n[0] = match side {
        Side::Joiner => 1,
        Side::Inviter => 2,
    };
    n[1] = match message {
        Message::Main => 0,
        Message::Intro => 1,
    };
    n.into()
}

/// How long, in words: "1 second", "5 minutes", "1 minute 30 seconds",
/// "2 hours".
pub fn in_words(span: std::time::Duration) -> String {
    let secs = span.as_secs();
    let parts: Vec<String> = [
        (secs / 3600, "hour"),
        (secs % 3600 / 60, "minute"),
        (secs % 60, "second"),
    ]
    .into_iter()
    .filter(|(n, _)| *n > 0)
    .map(|(n, unit)| match n {
        1 => format!("1 {unit}"),
        n => format!("{n} {unit}s"),
    })
    .collect();
    if parts.is_empty() {
        return "0 seconds".to_string();
    }
    parts.join(" ")
}

/// A uniform index below `n`, from the OS random source.
fn uniform(n: usize) -> usize {
    let limit = u32::MAX - u32::MAX % n as u32;
    loop {
        let v = u32::from_be_bytes(duet_core::ids::random_bytes());
        if v < limit {
            return (v % n as u32) as usize;
        }
    }
}

/// A random nameplate, 1 to 99, that is not in `taken`.
pub fn new_nameplate(taken: &[u32]) -> u32 {
    loop {
        let n = uniform(99) as u32 + 1;
        if !taken.contains(&n) {
            return n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn peers() -> (PeerId, PeerId) {
        (PeerId::random(), PeerId::random())
    }

    #[test]
    fn codes_round_trip_and_forgive_typing() {
        let code = Code::generate(7);
        let text = code.to_string();
        assert_eq!(Code::parse(&text).expect("parse"), code);
        assert_eq!(
            Code::parse(&format!("  {} ", text.to_uppercase().replace('-', " "))).expect("parse"),
            code
        );
        assert!(matches!(
            Code::parse("7-crisp-lantern"),
            Err(PairingError::BadCode { .. })
        ));
        assert!(matches!(
            Code::parse("seven-acid-acorn-acre"),
            Err(PairingError::BadCode { .. })
        ));
        assert!(matches!(
            Code::parse("7-acid-acorn-duet"),
            Err(PairingError::UnknownWord { .. })
        ));
    }

    #[test]
    fn spans_read_as_words_with_the_right_number() {
        let words = |s| in_words(std::time::Duration::from_secs(s));
        assert_eq!(words(1), "1 second");
        assert_eq!(words(45), "45 seconds");
        assert_eq!(words(90), "1 minute 30 seconds");
        assert_eq!(words(60), "1 minute");
        assert_eq!(words(300), "5 minutes");
        assert_eq!(words(3600), "1 hour");
        assert_eq!(words(7200), "2 hours");
        assert_eq!(words(5400), "1 hour 30 minutes");
        assert_eq!(words(0), "0 seconds");
    }

    #[test]
    fn uris_round_trip() {
        let uri = PairUri {
            nameplate: 12,
            peer: PeerId::random(),
            secret: duet_core::ids::random_bytes(),
            addrs: vec!["/ip4/127.0.0.1/tcp/4001".parse().expect("addr")],
        };
        let parsed = PairUri::parse(&uri.to_string()).expect("parse");
        assert_eq!(parsed, uri);
        assert!(PairUri::parse("https://example.com").is_err());
    }

    fn run(joiner_pw: &[u8], inviter_pw: &[u8]) -> (Session, Session) {
        let (j, i) = peers();
        let (hj, mj) = Handshake::start(Side::Joiner, joiner_pw, j, i);
        let (hi, mi) = Handshake::start(Side::Inviter, inviter_pw, j, i);
        (
            hj.finish(&mi).expect("joiner"),
            hi.finish(&mj).expect("inviter"),
        )
    }

    #[test]
    fn the_same_code_confirms_on_both_sides_and_seals() {
        let (j, i) = run(b"7-acid-acorn-acre", b"7-acid-acorn-acre");
        i.check_confirmation(&j.my_confirmation())
            .expect("inviter accepts");
        j.check_confirmation(&i.my_confirmation())
            .expect("joiner accepts");
        assert_eq!(j.verification_words(), i.verification_words());
        let sealed = i.seal(b"the journal key").expect("seal");
        assert_eq!(
            j.open(&sealed).expect("open").as_slice(),
            b"the journal key"
        );
        assert!(
            i.open(&sealed).is_err(),
            "a side cannot open its own message"
        );
        // Sealed in place, the same message.
        let mut buffer = b"the journal key".to_vec();
        i.seal_in_place(&mut buffer).expect("seal in place");
        assert_eq!(buffer, sealed);
    }

    #[test]
    fn a_wrong_code_fails_confirmation_on_both_sides() {
        let (j, i) = run(b"7-acid-acorn-acre", b"7-acid-acorn-acts");
        assert_eq!(
            i.check_confirmation(&j.my_confirmation()),
            Err(PairingError::WrongCode)
        );
        assert_eq!(
            j.check_confirmation(&i.my_confirmation()),
            Err(PairingError::WrongCode)
        );
        assert!(j.open(&i.seal(b"secret").expect("seal")).is_err());
        assert!(j.open_intro(&i.seal_intro(b"Alex").expect("seal")).is_err());
    }

    #[test]
    fn the_inviters_introduction_opens_only_as_an_introduction() {
        let (j, i) = run(b"7-acid-acorn-acre", b"7-acid-acorn-acre");
        let intro = i.seal_intro(b"Alex's laptop").expect("seal");
        assert_eq!(
            j.open_intro(&intro).expect("open").as_slice(),
            b"Alex's laptop"
        );
        // Its own nonce: it is not the welcome, and the welcome is not it.
        assert!(j.open(&intro).is_err());
        assert!(j.open_intro(&i.seal(b"welcome").expect("seal")).is_err());
    }
}
