use super::*;
use crate::keys::DeviceKey;
use crate::replica::Replica;
use crate::testing::{add, alex, everything, pair};

/// A ledger without the journal key, told `members`.
fn keyless(of: &Replica, members: &[DeviceId]) -> Ledger {
    Ledger::create(
        Store::open_in_memory().expect("store"),
        of.journal_id(),
        DeviceKey::generate().id(),
        members,
    )
    .expect("ledger")
}

#[test]
fn a_ledger_without_the_key_verifies_and_stores_what_members_sealed() {
    let mut a = alex();
    for i in 0..3 {
        add(&mut a, &format!("entry {i}"));
    }
    let mut mirror = keyless(&a, &[a.device_id()]);
    for envelope in everything(&a) {
        mirror.receive_sealed(&envelope).expect("verifies");
    }
    assert_eq!(mirror.vector().expect("vv"), a.vector().expect("vv"));
    // It serves them on exactly as a member would.
    let out = mirror
        .outgoing_for(&VersionVector::new())
        .expect("outgoing");
    assert_eq!(out.envelopes, everything(&a));
    // And it knows nothing of what they say.
    assert!(mirror
        .stored_after(0)
        .expect("stored")
        .iter()
        .all(|e| e.hash.is_none()));
}

#[test]
fn a_ledger_refuses_strangers_forgeries_other_journals_and_replays() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    add(&mut b, "from Sam");
    let mut mirror = keyless(&a, &[a.device_id()]);
    let sams = everything(&b).pop().expect("Sam's");
    assert!(matches!(
        mirror.receive_sealed(&sams),
        Err(ReceiveError::Open(OpenError::UnknownAuthor(_)))
    ));
    let alexs = everything(&a).pop().expect("Alex's");
    let mut forged = alexs.clone();
    let mid = forged.len() / 2;
    forged[mid] ^= 1;
    assert!(matches!(
        mirror.receive_sealed(&forged),
        Err(ReceiveError::Open(OpenError::BadSignature))
    ));
    let other = alex();
    assert!(matches!(
        mirror.receive_sealed(&everything(&other).pop().expect("one")),
        Err(ReceiveError::Open(OpenError::WrongJournal))
    ));
    mirror.receive_sealed(&alexs).expect("Alex's verifies");
    assert!(matches!(
        mirror.receive_sealed(&alexs),
        Err(ReceiveError::Replay { .. })
    ));
    assert_eq!(mirror.envelope_count().expect("count"), 1);
}

#[test]
fn a_ledger_keeps_a_snapshot_only_when_it_covers_the_one_it_holds() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    let mut mirror = keyless(&a, &[a.device_id(), b.device_id()]);
    add(&mut a, "from Alex");
    a.compact().expect("compact");
    let from_alex = a.store().snapshot().expect("read").expect("a snapshot");
    add(&mut b, "from Sam");
    b.compact().expect("compact");
    let from_sam = b.store().snapshot().expect("read").expect("a snapshot");
    assert!(mirror
        .receive_sealed_snapshot(&from_alex.bytes)
        .expect("verifies"));
    assert_eq!(mirror.vector().expect("vv"), from_alex.covers);
    // Sam's covers what Alex's does not and misses what it does: kept out,
    // so nothing the held one covers is lost.
    assert!(!mirror
        .receive_sealed_snapshot(&from_sam.bytes)
        .expect("verifies"));
    // A member merges both and seals one that covers both: that one is kept.
    b.receive_snapshot(&from_alex.bytes).expect("merge");
    let merged = b.store().snapshot().expect("read").expect("a snapshot");
    assert!(mirror
        .receive_sealed_snapshot(&merged.bytes)
        .expect("verifies"));
    assert_eq!(mirror.vector().expect("vv"), b.vector().expect("vv"));
}

#[test]
fn a_statement_damaged_on_disk_is_neither_counted_nor_handed_on() {
    let mut a = alex();
    let b = pair(&mut a, "Sam", "laptop");
    let all = a.ledger().statements().expect("statements");
    assert!(all.len() >= 2, "a statement for each device");
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("store.sqlite");
    let mut ledger = Ledger::create(
        Store::open(&path).expect("store"),
        a.journal_id(),
        DeviceKey::generate().id(),
        &[a.device_id()],
    )
    .expect("ledger");
    assert_eq!(ledger.take_statements(&all, true).expect("take").1, None);
    assert!(ledger.members().contains(&b.device_id()));
    let whole = ledger.statements_digest().expect("digest");
    // One byte of one stored statement flips.
    let raw = rusqlite::Connection::open(&path).expect("open");
    let (rowid, mut bytes): (i64, Vec<u8>) = raw
        .query_row(
            "SELECT rowid, bytes FROM statements ORDER BY rowid LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a statement");
    bytes[120] ^= 1;
    raw.execute(
        "UPDATE statements SET bytes = ?1 WHERE rowid = ?2",
        rusqlite::params![bytes, rowid],
    )
    .expect("damage");
    assert_eq!(ledger.store().statements().expect("raw").len(), all.len());
    let kept = ledger.statements().expect("statements");
    assert_eq!(kept.len(), all.len() - 1, "the damaged one is left out");
    assert!(kept.iter().all(|s| all.contains(s)));
    assert_ne!(ledger.statements_digest().expect("digest"), whole);
    // A peer hands it over again, and the list is whole.
    ledger.take_statements(&all, true).expect("take again");
    assert_eq!(ledger.statements().expect("statements").len(), all.len());
    assert_eq!(ledger.statements_digest().expect("digest"), whole);
}
