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

/// Three sealed envelopes of `device` in `store`, as `insert_local` makes
/// them; returns their links.
fn seal_three(store: &mut Store, device: &crate::keys::DeviceKey) -> Vec<[u8; 32]> {
    use crate::envelope::{seal, Body};
    let key = crate::keys::JournalKey::generate();
    let journal = store.journal_id().expect("journal");
    let mut links = Vec::new();
    for i in 0..3u8 {
        let (seq, _) = store
            .insert_local(&device.id(), &[i; 32], |seq, link| {
                links.push(link);
                seal(
                    &journal,
                    device,
                    &Body::Change { seq, link },
                    &key.recipient(),
                    b"change",
                )
            })
            .expect("store")
            .expect("seal");
        assert_eq!(seq, u64::from(i) + 1);
    }
    links
}

#[test]
fn own_links_and_tips_are_kept_and_told() {
    let mut store = Store::open_in_memory().expect("store");
    let device = crate::keys::DeviceKey::generate();
    store
        .initialise(&crate::ids::JournalId(random_bytes()), &device.id())
        .expect("init");
    let links = seal_three(&mut store, &device);
    assert_eq!(store.own_link_at(2).expect("link"), Some(links[1]));
    assert_eq!(
        store.tips().expect("tips"),
        vec![Tip {
            author: device.id(),
            seq: 3,
            link: links[2]
        }]
    );
}

#[test]
fn resealing_gives_up_own_envelopes_and_numbers_after_the_peers_tip() {
    let mut store = Store::open_in_memory().expect("store");
    let device = crate::keys::DeviceKey::generate();
    let me = device.id();
    store
        .initialise(&crate::ids::JournalId(random_bytes()), &me)
        .expect("init");
    seal_three(&mut store, &device);
    store.confirm_own(1).expect("confirm");
    // A peer holds this device's changes up to 5, under another history.
    let theirs = [9u8; 32];
    let changes = vec![([2u8; 32], b"two".to_vec()), ([3u8; 32], b"three".to_vec())];
    let heal = store
        .reseal_own(
            &me,
            1,
            5,
            theirs,
            &changes,
            false,
            7,
            |seq, link, change| {
                let mut out = seq.to_be_bytes().to_vec();
                out.extend_from_slice(&link);
                out.extend_from_slice(change);
                Ok::<_, ()>(out)
            },
        )
        .expect("store")
        .expect("seal");
    assert_eq!(
        heal,
        Heal {
            at: 7,
            kept: 1,
            resealed: 2,
            copy: false
        }
    );
    // Kept up to 1; 2 to 5 are left for the peer's; the two changes are 6 and 7.
    assert_eq!(store.vector().expect("vv").get(&me), 1);
    let held: Vec<u64> = store
        .envelopes_of(&me, 1, 100)
        .expect("held")
        .iter()
        .map(|e| e.seq)
        .collect();
    assert_eq!(held, vec![1, 6, 7]);
    assert_eq!(store.heals().expect("heals"), vec![heal]);
    // The next own envelope follows them, its link chained on.
    let (seq, _) = store
        .insert_local(&me, &[8; 32], |seq, _| {
            Ok::<_, ()>(seq.to_be_bytes().to_vec())
        })
        .expect("store")
        .expect("seal");
    assert_eq!(seq, 8);
}

#[test]
fn a_store_from_before_links_gets_them_filled_in() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("store.sqlite");
    let device = crate::keys::DeviceKey::generate();
    let partner = DeviceId(random_bytes());
    let links = {
        let mut store = Store::open(&path).expect("create");
        store
            .initialise(&crate::ids::JournalId(random_bytes()), &device.id())
            .expect("init");
        let links = seal_three(&mut store, &device);
        let theirs: VersionVector = [(device.id(), 2)].into_iter().collect();
        store.record_sync(&partner, 1, &theirs).expect("record");
        links
    };
    // Back to schema 4, as a store written before links were kept.
    let conn = Connection::open(&path).expect("open");
    conn.execute_batch(
        "DROP TABLE own_chain; DROP TABLE heals;
         ALTER TABLE vector DROP COLUMN link;
         ALTER TABLE quarantine DROP COLUMN covers;
         ALTER TABLE peers DROP COLUMN clock_ahead;
         DROP TABLE removed; DROP TABLE told;
         DROP TABLE removers; DROP TABLE kept_from; DROP TABLE statements;
         DROP TABLE read_index;
         DELETE FROM meta WHERE key = 'own_confirmed';
         PRAGMA user_version = 4;",
    )
    .expect("downgrade");
    drop(conn);
    let store = Store::open(&path).expect("migrate");
    assert_eq!(store.own_link_at(3).expect("link"), Some(links[2]));
    assert_eq!(store.tips().expect("tips")[0].link, links[2]);
    // What the partner was last seen holding counts as confirmed.
    assert_eq!(store.own_confirmed().expect("confirmed"), 2);
}
