use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ReadDoc, ROOT};

use super::*;
use crate::ids::JournalId;
use crate::journal::{Author, NewEntry};
use crate::keys::DeviceKey;

const NOW: i64 = 1_700_000_000_000;

struct Setup {
    journal: Journal,
    schema: Schema,
    alex: DeviceId,
    sam: DeviceId,
    entry: automerge::ObjId,
}

/// Alex's journal with Sam's device recorded and one entry of Alex's.
fn setup() -> Setup {
    let alex = DeviceKey::generate().id();
    let sam = DeviceKey::generate().id();
    let record = |id: &DeviceId, person: &str, by: Option<&DeviceId>| DeviceRecord {
        id: id.to_text(),
        person: person.into(),
        name: "laptop".into(),
        added_by: by.map(|b| b.to_text()),
        added_at: NOW,
    };
    let (mut journal, _) =
        Journal::genesis(&JournalId([3; 16]), &record(&alex, "Alex", None), NOW).expect("genesis");
    journal
        .add_device(&record(&sam, "Sam", Some(&alex)))
        .expect("add");
    let author = Author {
        person: "Alex".into(),
        device: alex,
    };
    let new = NewEntry {
        body: "Alex's words".into(),
        ..NewEntry::default()
    };
    journal.add_entry(&author, new, NOW).expect("entry");
    let entry = journal
        .doc
        .map_range(&journal.entries, ..)
        .next()
        .expect("an entry")
        .id();
    let schema = journal.schema();
    Setup {
        journal,
        schema,
        alex,
        sam,
        entry,
    }
}

/// One change Sam's device makes on a copy of the document.
fn by_sam(
    s: &Setup,
    write: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &Setup),
) -> Change {
    let mut doc = s.journal.doc.fork().with_actor(ActorId::random());
    let mut tx = doc.transaction();
    write(&mut tx, s);
    tx.commit();
    doc.get_last_local_change().expect("a change").clone()
}

fn check(s: &Setup, change: &Change) -> Result<Vec<DeviceRecord>, Breach> {
    s.schema.check(change, &s.sam, Some("Sam"), NOW)
}

#[test]
fn ordinary_writes_pass() {
    let s = setup();
    let reply = by_sam(&s, |tx, s| {
        let replies = match tx.get(&s.entry, "replies").expect("get") {
            Some((_, id)) => id,
            None => panic!("replies"),
        };
        let r = tx.put_object(&replies, "r1", ObjType::Map).expect("reply");
        tx.put(&r, "person", "Sam").expect("put");
        tx.put(&r, "device", s.sam.to_text()).expect("put");
        tx.put(&r, "created", ScalarValue::Timestamp(NOW))
            .expect("put");
        tx.put(&r, "body", "yes").expect("put");
    });
    assert_eq!(check(&s, &reply), Ok(vec![]));
}

#[test]
fn nothing_but_the_first_change_writes_the_root() {
    let s = setup();
    let deletes = by_sam(&s, |tx, _| tx.delete(ROOT, "devices").expect("delete"));
    assert_eq!(check(&s, &deletes), Err(Breach::Root));
    let replaces = by_sam(&s, |tx, _| {
        tx.put_object(ROOT, "entries", ObjType::Map).expect("put");
    });
    assert_eq!(check(&s, &replaces), Err(Breach::Root));
    let meta = by_sam(&s, |tx, _| {
        let (_, meta) = tx.get(ROOT, "journal").expect("get").expect("meta");
        tx.put(&meta, "id", "another").expect("put");
    });
    assert_eq!(check(&s, &meta), Err(Breach::Root));
}

#[test]
fn device_records_are_only_added_and_name_their_signer() {
    let s = setup();
    let deletes = by_sam(&s, |tx, s| {
        tx.delete(&s.journal.devices, s.alex.to_text())
            .expect("delete")
    });
    assert_eq!(check(&s, &deletes), Err(Breach::DeviceReplaced));
    let newcomer = DeviceKey::generate().id();
    for added_by in [None, Some(s.alex.to_text())] {
        let forged = by_sam(&s, |tx, s| {
            let r = tx
                .put_object(&s.journal.devices, newcomer.to_text(), ObjType::Map)
                .expect("record");
            tx.put(&r, "person", "Sam").expect("put");
            tx.put(&r, "name", "phone").expect("put");
            if let Some(by) = &added_by {
                tx.put(&r, "added_by", by.as_str()).expect("put");
            }
            tx.put(&r, "added_at", ScalarValue::Timestamp(NOW))
                .expect("put");
        });
        assert_eq!(check(&s, &forged), Err(Breach::AddedBy), "{added_by:?}");
    }
    let honest = by_sam(&s, |tx, s| {
        let r = tx
            .put_object(&s.journal.devices, newcomer.to_text(), ObjType::Map)
            .expect("record");
        tx.put(&r, "person", "Sam").expect("put");
        tx.put(&r, "name", "phone").expect("put");
        tx.put(&r, "added_by", s.sam.to_text()).expect("put");
        tx.put(&r, "added_at", ScalarValue::Timestamp(NOW))
            .expect("put");
    });
    let made = check(&s, &honest).expect("a device Sam paired");
    assert_eq!(made.len(), 1);
}

#[test]
fn entries_are_never_deleted_or_replaced_in_the_entries_map() {
    let s = setup();
    let key = s
        .journal
        .doc
        .map_range(&s.journal.entries, ..)
        .next()
        .expect("an entry")
        .key
        .to_string();
    let deletes = by_sam(&s, |tx, s| {
        tx.delete(&s.journal.entries, key.as_str()).expect("delete")
    });
    assert_eq!(check(&s, &deletes), Err(Breach::EntryReplaced));
    let replaces = by_sam(&s, |tx, s| {
        tx.put_object(&s.journal.entries, key.as_str(), ObjType::Map)
            .expect("put");
    });
    assert_eq!(check(&s, &replaces), Err(Breach::EntryReplaced));
}

#[test]
fn absurd_times_are_refused() {
    let s = setup();
    for ms in [0, MIN_TIME_MS - 1, NOW + MAX_AHEAD_MS + 1, i64::MAX] {
        let change = by_sam(&s, |tx, s| {
            tx.put(&s.entry, "heard", ScalarValue::Timestamp(ms))
                .expect("put");
        });
        assert_eq!(check(&s, &change), Err(Breach::AbsurdTime { ms }));
    }
}

#[test]
fn a_change_that_expands_past_the_limits_is_refused() {
    let s = setup();
    let many = by_sam(&s, |tx, s| {
        let list = tx
            .put_object(&s.entry, "tags", ObjType::List)
            .expect("list");
        for i in 0..(MAX_CHANGE_OPS + 1) {
            tx.insert(&list, i, "x").expect("insert");
        }
    });
    assert!(matches!(check(&s, &many), Err(Breach::TooManyOps { .. })));
    // A compressed change whose data inflates past the cap.
    let zeros = vec![0u8; MAX_CHANGE_BYTES * 2];
    let mut deflate = flate2::write::DeflateEncoder::new(Vec::new(), flate2::Compression::best());
    std::io::Write::write_all(&mut deflate, &zeros).expect("deflate");
    let data = deflate.finish().expect("deflate");
    let mut chunk = vec![0x85, 0x6f, 0x4a, 0x83, 0, 0, 0, 0, 2];
    leb128::write::unsigned(&mut chunk, data.len() as u64).expect("len");
    chunk.extend_from_slice(&data);
    assert!(chunk.len() < 10_000, "a small payload: {}", chunk.len());
    assert!(matches!(
        check_packed(&chunk),
        Err(JournalError::Breach(Breach::TooLarge))
    ));
}
