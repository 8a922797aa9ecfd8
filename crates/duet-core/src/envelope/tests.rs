use proptest::prelude::*;

use super::*;

struct Fixture {
    journal: JournalId,
    author: DeviceKey,
    key: JournalKey,
}

impl Fixture {
    fn new() -> Self {
        Self {
            journal: JournalId::random(),
            author: DeviceKey::generate(),
            key: JournalKey::generate(),
        }
    }

    fn change(&self, seq: u64, payload: &[u8]) -> Vec<u8> {
        seal(
            &self.journal,
            &self.author,
            &Body::Change { seq, link: [0; 32] },
            &self.key.recipient(),
            payload,
        )
        .expect("seal")
    }

    fn open(&self, bytes: &[u8]) -> Result<Vec<u8>, OpenError> {
        let me = self.author.id();
        open(bytes, Kind::Change, &self.journal, |a| *a == me, &self.key).map(|(_, p)| p)
    }
}

#[test]
fn a_sealed_change_opens_to_its_payload() {
    let f = Fixture::new();
    let bytes = f.change(7, b"payload");
    assert_eq!(f.open(&bytes).expect("opens"), b"payload");
    let sealed = decode(&bytes).expect("decodes");
    assert_eq!(
        sealed.body,
        Body::Change {
            seq: 7,
            link: [0; 32]
        }
    );
    assert_eq!(sealed.author, f.author.id());
}

#[test]
fn a_sealed_snapshot_carries_its_version_vector() {
    let f = Fixture::new();
    let covers: VersionVector = [(f.author.id(), 12)].into_iter().collect();
    let body = Body::Snapshot {
        covers: covers.clone(),
    };
    let bytes = seal(&f.journal, &f.author, &body, &f.key.recipient(), b"doc").expect("seal");
    let me = f.author.id();
    let (sealed, doc) =
        open(&bytes, Kind::Snapshot, &f.journal, |a| *a == me, &f.key).expect("opens");
    assert_eq!(doc, b"doc");
    assert_eq!(sealed.body, Body::Snapshot { covers });
    assert_eq!(
        f.open(&bytes).unwrap_err(),
        OpenError::WrongKind {
            expected: Kind::Change,
            got: Kind::Snapshot
        }
    );
}

#[test]
fn tampered_ciphertext_fails_the_signature() {
    let f = Fixture::new();
    let mut bytes = f.change(1, b"payload");
    let mid = bytes.len() - 64 - 10;
    bytes[mid] ^= 1;
    assert_eq!(f.open(&bytes), Err(OpenError::BadSignature));
}

#[test]
fn a_bad_signature_is_rejected() {
    let f = Fixture::new();
    let mut bytes = f.change(1, b"payload");
    let last = bytes.len() - 1;
    bytes[last] ^= 0x80;
    assert_eq!(f.open(&bytes), Err(OpenError::BadSignature));
}

#[test]
fn a_signature_by_someone_else_is_rejected() {
    let f = Fixture::new();
    let mallory = DeviceKey::generate();
    let mut bytes = f.change(1, b"payload");
    // Keep Alex's name in the header but sign as Mallory.
    let signed = bytes.len() - 64;
    let forged = mallory.sign(&bytes[..signed]);
    bytes[signed..].copy_from_slice(&forged);
    assert_eq!(f.open(&bytes), Err(OpenError::BadSignature));
}

#[test]
fn an_unknown_author_is_rejected_before_decryption() {
    let f = Fixture::new();
    let stranger = Fixture {
        journal: f.journal,
        author: DeviceKey::generate(),
        key: JournalKey::generate(),
    };
    let bytes = stranger.change(1, b"payload");
    assert_eq!(
        f.open(&bytes),
        Err(OpenError::UnknownAuthor(stranger.author.id()))
    );
}

#[test]
fn another_journals_envelope_is_rejected() {
    let f = Fixture::new();
    let other = Fixture {
        journal: JournalId::random(),
        author: DeviceKey::generate(),
        key: JournalKey::generate(),
    };
    assert_eq!(
        f.open(&other.change(1, b"payload")),
        Err(OpenError::WrongJournal)
    );
}

#[test]
fn a_member_signed_payload_for_another_key_is_undecryptable() {
    let f = Fixture::new();
    let wrong_key = JournalKey::generate();
    let bytes = seal(
        &f.journal,
        &f.author,
        &Body::Change {
            seq: 1,
            link: [0; 32],
        },
        &wrong_key.recipient(),
        b"payload",
    )
    .expect("seal");
    assert_eq!(f.open(&bytes), Err(OpenError::Undecryptable));
}

#[test]
fn every_truncation_is_rejected_as_truncated() {
    let f = Fixture::new();
    let bytes = f.change(1, b"payload");
    for len in 0..bytes.len() {
        let err = f.open(&bytes[..len]).unwrap_err();
        assert!(
            matches!(err, OpenError::Truncated),
            "length {len} gave {err:?}"
        );
    }
}

#[test]
fn oversized_and_trailing_bytes_are_rejected() {
    let f = Fixture::new();
    let mut bytes = f.change(1, b"payload");
    bytes.push(0);
    assert_eq!(f.open(&bytes), Err(OpenError::TrailingBytes(1)));
    let mut huge = f.change(1, b"payload");
    huge.resize(MAX_ENVELOPE_BYTES + 1, 0);
    assert!(matches!(f.open(&huge), Err(OpenError::TooLarge { .. })));
    let err = seal(
        &f.journal,
        &f.author,
        &Body::Change {
            seq: 1,
            link: [0; 32],
        },
        &f.key.recipient(),
        &vec![b'x'; MAX_ENVELOPE_BYTES],
    )
    .unwrap_err();
    assert!(matches!(err, SealError::TooLarge { .. }));
}

#[test]
fn headers_that_lie_are_rejected() {
    let f = Fixture::new();
    let good = f.change(1, b"payload");
    let mut bad_magic = good.clone();
    bad_magic[0] = b'X';
    assert_eq!(f.open(&bad_magic), Err(OpenError::BadMagic));
    let mut future = good.clone();
    future[4] = 9;
    assert_eq!(f.open(&future), Err(OpenError::UnsupportedVersion(9)));
    let mut kind = good.clone();
    kind[5] = 77;
    assert_eq!(f.open(&kind), Err(OpenError::UnknownKind(77)));
    let mut zero_seq = good.clone();
    zero_seq[54..62].copy_from_slice(&0u64.to_be_bytes());
    assert!(matches!(
        f.open(&zero_seq),
        Err(OpenError::MalformedHeader(_))
    ));
    let mut long_len = good;
    long_len[94..98].copy_from_slice(&u32::MAX.to_be_bytes());
    assert_eq!(f.open(&long_len), Err(OpenError::Truncated));
}

// The fuzzing harness for the decoders that take peer bytes. It runs on
// stable as part of `cargo test`: arbitrary bytes, and valid envelopes with
// random bytes flipped, inserted or cut, must give an error and never a
// panic, and a mutated envelope must never open.
proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn decode_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = decode(&bytes);
        let _ = VersionVector::decode(&bytes);
    }

    #[test]
    fn decode_never_panics_behind_a_valid_prefix(tail in proptest::collection::vec(any::<u8>(), 0..256), kind in 0u8..4) {
        let mut bytes = MAGIC.to_vec();
        bytes.push(FORMAT_VERSION);
        bytes.push(kind);
        bytes.extend_from_slice(&tail);
        let _ = decode(&bytes);
    }

    #[test]
    fn a_mutated_envelope_never_opens(
        edits in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>(), 0u8..3), 1..4)
    ) {
        let f = Fixture::new();
        let good = f.change(3, b"a journal entry");
        let mut bytes = good.clone();
        for (at, byte, op) in edits {
            let i = at.index(bytes.len().max(1));
            match op {
                0 if i < bytes.len() => bytes[i] ^= byte | 1,
                1 => bytes.insert(i.min(bytes.len()), byte),
                _ => bytes.truncate(i),
            }
        }
        prop_assume!(bytes != good);
        prop_assert!(f.open(&bytes).is_err());
    }
}

#[test]
fn armored_ciphertext_inside_an_envelope_is_undecryptable() {
    let f = Fixture::new();
    let armored = age::encrypt_and_armor(&f.key.recipient(), b"payload").expect("armor");
    let mut bytes = MAGIC.to_vec();
    bytes.push(FORMAT_VERSION);
    bytes.push(Kind::Change as u8);
    bytes.extend_from_slice(&f.journal.0);
    bytes.extend_from_slice(&f.author.id().0);
    bytes.extend_from_slice(&1u64.to_be_bytes());
    bytes.extend_from_slice(&[0; 32]);
    bytes.extend_from_slice(&(armored.len() as u32).to_be_bytes());
    bytes.extend_from_slice(armored.as_bytes());
    let signature = f.author.sign(&bytes);
    bytes.extend_from_slice(&signature);
    assert_eq!(f.open(&bytes), Err(OpenError::Undecryptable));
}
