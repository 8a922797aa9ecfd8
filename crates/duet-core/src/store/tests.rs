use rusqlite::Connection;

use super::*;
use crate::ids::{random_bytes, DeviceId};
use crate::vv::VersionVector;

#[test]
fn the_vector_advances_only_over_contiguous_envelopes() {
    let mut store = Store::open_in_memory().expect("store");
    let a = DeviceId(random_bytes());
    for seq in [1, 2, 4] {
        store
            .insert_received(&a, seq, Some(&[0; 32]), b"x")
            .expect("insert");
    }
    assert_eq!(store.vector().expect("vv").get(&a), 2);
    assert!(store.holds(&a, 4).expect("holds"));
    assert!(!store.holds(&a, 3).expect("holds"));
    store
        .insert_received(&a, 3, Some(&[0; 32]), b"x")
        .expect("insert");
    assert_eq!(store.vector().expect("vv").get(&a), 4);
    assert_eq!(
        store
            .insert_received(&a, 3, Some(&[0; 32]), b"x")
            .expect("dup"),
        None
    );
}

#[test]
fn replacing_the_snapshot_deletes_what_it_covers_once() {
    let mut store = Store::open_in_memory().expect("store");
    let a = DeviceId(random_bytes());
    for seq in 1..=5 {
        store
            .insert_received(&a, seq, Some(&[0; 32]), b"x")
            .expect("insert");
    }
    let covers: VersionVector = [(a, 3)].into_iter().collect();
    assert!(store
        .replace_snapshot(0, &covers, b"snap", &[])
        .expect("replace"));
    assert_eq!(store.envelope_count().expect("count"), 2);
    assert!(store.holds(&a, 2).expect("holds"));
    // A second compaction from a stale reading changes nothing.
    assert!(!store
        .replace_snapshot(0, &covers, b"stale", &[])
        .expect("replace"));
    assert_eq!(
        store.snapshot().expect("snap").expect("some").bytes,
        b"snap"
    );
}

#[test]
fn local_inserts_take_consecutive_numbers() {
    let mut store = Store::open_in_memory().expect("store");
    let me = DeviceId(random_bytes());
    for expected in 1..=3u64 {
        let (seq, _) = store
            .insert_local(&me, &[0; 32], |seq, _| {
                Ok::<_, ()>(seq.to_be_bytes().to_vec())
            })
            .expect("store")
            .expect("seal");
        assert_eq!(seq, expected);
    }
    assert_eq!(store.vector().expect("vv").get(&me), 3);
}

#[test]
fn a_restored_store_numbers_after_what_a_peer_holds_of_it() {
    let mut store = Store::open_in_memory().expect("store");
    let me = DeviceId(random_bytes());
    let partner = DeviceId(random_bytes());
    let insert = |store: &mut Store| {
        store
            .insert_local(&me, &[0; 32], |seq, _| {
                Ok::<_, ()>(seq.to_be_bytes().to_vec())
            })
            .expect("store")
            .expect("seal")
            .0
    };
    assert_eq!(insert(&mut store), 1);
    // The partner was last seen holding five of this device's envelopes:
    // this store is a restored copy that lacks 2 to 5.
    let theirs: VersionVector = [(me, 5)].into_iter().collect();
    store.record_sync(&partner, 1, &theirs).expect("record");
    assert_eq!(insert(&mut store), 6);
    // A claim no device could reach is not believed.
    let absurd: VersionVector = [(me, u64::MAX - 1)].into_iter().collect();
    store.record_sync(&partner, 2, &absurd).expect("record");
    assert_eq!(insert(&mut store), 7);
}

#[test]
fn a_store_from_a_newer_duet_is_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("store.sqlite");
    drop(Store::open(&path).expect("create"));
    let conn = Connection::open(&path).expect("open");
    conn.pragma_update(None, "user_version", 99).expect("bump");
    drop(conn);
    assert!(matches!(
        Store::open(&path),
        Err(StoreError::TooNew { found: 99, .. })
    ));
}
