use automerge::transaction::Transactable;
use automerge::{ActorId, ObjType, ReadDoc, ROOT};

use crate::journal::actor_for;

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
        role: None,
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

/// The two people: Alex's device and Sam's.
struct Two<'a>(&'a Setup);

impl People for Two<'_> {
    fn person_of(&self, device: &DeviceId) -> Option<&str> {
        if *device == self.0.alex {
            Some("Alex")
        } else if *device == self.0.sam {
            Some("Sam")
        } else {
            None
        }
    }

    fn is_person(&self, name: &str) -> bool {
        name == "Alex" || name == "Sam"
    }
}

/// One change a device makes, as `actor`, on a copy of the document.
fn change_as(
    s: &Setup,
    actor: ActorId,
    write: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &Setup),
) -> Change {
    let mut doc = s.journal.doc.fork().with_actor(actor);
    let mut tx = doc.transaction();
    write(&mut tx, s);
    tx.commit();
    doc.get_last_local_change().expect("a change").clone()
}

/// One change Sam's device makes on a copy of the document.
fn by_sam(
    s: &Setup,
    write: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &Setup),
) -> Change {
    change_as(s, actor_for(&s.sam), write)
}

/// One change Alex's device makes on a copy of the document.
fn by_alex(
    s: &Setup,
    write: impl FnOnce(&mut automerge::transaction::Transaction<'_>, &Setup),
) -> Change {
    change_as(s, actor_for(&s.alex), write)
}

fn check(s: &Setup, change: &Change) -> Result<Vec<DeviceRecord>, Breach> {
    s.schema.check(change, &s.sam, &Two(s), NOW)
}

fn check_alex(s: &Setup, change: &Change) -> Result<Vec<DeviceRecord>, Breach> {
    s.schema.check(change, &s.alex, &Two(s), NOW)
}

fn child(
    tx: &automerge::transaction::Transaction<'_>,
    obj: &automerge::ObjId,
    key: &str,
) -> automerge::ObjId {
    match tx.get(obj, key).expect("get") {
        Some((_, id)) => id,
        None => panic!("no {key}"),
    }
}

#[test]
fn ordinary_writes_pass() {
    let s = setup();
    let reply = by_sam(&s, |tx, s| {
        let replies = child(tx, &s.entry, "replies");
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

#[test]
fn a_change_is_written_by_an_actor_of_its_signer() {
    let s = setup();
    let stray = change_as(&s, ActorId::random(), |tx, s| {
        tx.put_object(&s.journal.entries, "1", ObjType::Map)
            .expect("put");
    });
    assert_eq!(check(&s, &stray), Err(Breach::Actor));
    let as_alex = by_alex(&s, |tx, s| {
        tx.put_object(&s.journal.entries, "1", ObjType::Map)
            .expect("put");
    });
    assert_eq!(check(&s, &as_alex), Err(Breach::Actor));
}

#[test]
fn only_its_own_person_edits_or_removes_an_entry() {
    let s = setup();
    for (key, value) in [
        ("body", "Sam's words now"),
        ("kind", "need"),
        ("deleted", ""),
    ] {
        let edit = by_sam(&s, |tx, s| {
            tx.put(&s.entry, key, value).expect("put");
        });
        assert_eq!(check(&s, &edit), Err(Breach::NotOwner), "{key}");
    }
    let tags = by_sam(&s, |tx, s| {
        tx.put_object(&s.entry, "tags", ObjType::List).expect("put");
    });
    assert_eq!(check(&s, &tags), Err(Breach::NotOwner));
    let honest = by_alex(&s, |tx, s| {
        tx.put(&s.entry, "body", "Alex, again").expect("put");
        tx.put(&s.entry, "edited", ScalarValue::Timestamp(NOW))
            .expect("put");
    });
    assert_eq!(check_alex(&s, &honest), Ok(vec![]));
}

#[test]
fn nobody_reacts_or_hears_as_the_other_person() {
    let s = setup();
    let reacts_as_alex = by_sam(&s, |tx, s| {
        let reactions = child(tx, &s.entry, "reactions");
        let heart = tx.put_object(&reactions, "♥", ObjType::Map).expect("put");
        tx.put(&heart, "Alex", ScalarValue::Timestamp(NOW))
            .expect("put");
    });
    assert_eq!(check(&s, &reacts_as_alex), Err(Breach::AsOtherPerson));
    let hears_as_alex = by_sam(&s, |tx, s| {
        let heard = child(tx, &s.entry, "heard");
        tx.put(&heard, "Alex", ScalarValue::Timestamp(NOW))
            .expect("put");
    });
    assert_eq!(check(&s, &hears_as_alex), Err(Breach::AsOtherPerson));
    let reacts = by_sam(&s, |tx, s| {
        let reactions = child(tx, &s.entry, "reactions");
        let heart = tx.put_object(&reactions, "♥", ObjType::Map).expect("put");
        tx.put(&heart, "Sam", ScalarValue::Timestamp(NOW))
            .expect("put");
        let heard = child(tx, &s.entry, "heard");
        tx.put(&heard, "Sam", ScalarValue::Timestamp(NOW))
            .expect("put");
    });
    assert_eq!(check(&s, &reacts), Ok(vec![]));
    // Not even in one's own entry: Alex writes no mark under Sam's name.
    let alex_as_sam = by_alex(&s, |tx, s| {
        let heard = child(tx, &s.entry, "heard");
        tx.put(&heard, "Sam", ScalarValue::Timestamp(NOW))
            .expect("put");
    });
    assert_eq!(check_alex(&s, &alex_as_sam), Err(Breach::AsOtherPerson));
}

#[test]
fn what_others_write_into_an_entry_is_not_its_authors_to_replace() {
    let s = setup();
    for key in ["reactions", "replies", "heard", "person", "created"] {
        let replaces = by_alex(&s, |tx, s| {
            tx.put_object(&s.entry, key, ObjType::Map).expect("put");
        });
        assert_eq!(
            check_alex(&s, &replaces),
            Err(Breach::MadeOnce { key }),
            "{key}"
        );
    }
    // Sam replies; Alex then overwrites the reply in Alex's own entry.
    let mut s = s;
    let reply = by_sam(&s, |tx, s| {
        let replies = child(tx, &s.entry, "replies");
        let r = tx.put_object(&replies, "r1", ObjType::Map).expect("reply");
        tx.put(&r, "person", "Sam").expect("put");
        tx.put(&r, "body", "yes").expect("put");
    });
    s.journal.doc.apply_changes([reply]).expect("apply");
    let wipes = by_alex(&s, |tx, s| {
        let replies = child(tx, &s.entry, "replies");
        tx.put(&replies, "r1", "gone").expect("put");
    });
    assert_eq!(check_alex(&s, &wipes), Err(Breach::Replaces));
    let edits = by_alex(&s, |tx, s| {
        let replies = child(tx, &s.entry, "replies");
        let r = child(tx, &replies, "r1");
        tx.put(&r, "body", "no").expect("put");
    });
    assert_eq!(check_alex(&s, &edits), Err(Breach::NotOwner));
}

#[test]
fn a_device_is_recorded_once_with_a_real_name() {
    let s = setup();
    let record = |id: String, person: &'static str| {
        move |tx: &mut automerge::transaction::Transaction<'_>, s: &Setup| {
            let r = tx
                .put_object(&s.journal.devices, id, ObjType::Map)
                .expect("record");
            tx.put(&r, "person", person).expect("put");
            tx.put(&r, "name", "phone").expect("put");
            tx.put(&r, "added_by", s.sam.to_text()).expect("put");
            tx.put(&r, "added_at", ScalarValue::Timestamp(NOW))
                .expect("put");
        }
    };
    let over = by_sam(&s, record(s.alex.to_text(), "Sam"));
    assert_eq!(check(&s, &over), Err(Breach::DeviceReplaced));
    // Beside Sam's own record, from before it (automerge would keep both).
    let base = s.schema.base.expect("base");
    let mut doc = s
        .journal
        .doc
        .fork_at(&[base])
        .expect("fork")
        .with_actor(actor_for(&s.sam));
    let mut tx = doc.transaction();
    record(s.sam.to_text(), "Sam")(&mut tx, &s);
    tx.commit();
    let beside = doc.get_last_local_change().expect("a change").clone();
    assert_eq!(check(&s, &beside), Err(Breach::DeviceReplaced));
    let newcomer = DeviceKey::generate().id().to_text();
    let reserved = by_sam(&s, record(newcomer.clone(), "body"));
    assert_eq!(check(&s, &reserved), Err(Breach::ReservedName));
    let fine = by_sam(&s, record(newcomer, "Sam"));
    assert_eq!(check(&s, &fine).map(|r| r.len()), Ok(1));
}

#[test]
fn a_change_into_an_object_of_an_unknown_device_waits() {
    let s = setup();
    let stranger = DeviceKey::generate().id();
    let mut doc = s.journal.doc.fork().with_actor(actor_for(&stranger));
    let mut tx = doc.transaction();
    let theirs = tx
        .put_object(&s.journal.entries, "9", ObjType::Map)
        .expect("put");
    tx.commit();
    let mut doc = doc.with_actor(actor_for(&s.sam));
    let mut tx = doc.transaction();
    tx.put(&theirs, "body", "x").expect("put");
    tx.commit();
    let change = doc.get_last_local_change().expect("a change").clone();
    assert_eq!(check(&s, &change), Err(Breach::UnknownMaker));
}

#[test]
fn the_partner_reacts_to_a_reply_under_their_own_name_and_changes_nothing_else() {
    let mut s = setup();
    let alex = Author {
        person: "Alex".into(),
        device: s.alex,
    };
    let id = s.journal.all_entries()[0].id.clone();
    let (reply, _) = s.journal.reply(&alex, &id, "mine", NOW).expect("reply");
    let in_reply = |tx: &automerge::transaction::Transaction<'_>, s: &Setup| {
        let replies = child(tx, &s.entry, "replies");
        child(tx, &replies, &reply)
    };
    let reacts = by_sam(&s, |tx, s| {
        let r = in_reply(tx, s);
        let hug = tx.put_object(&r, "🤗", ObjType::Map).expect("put");
        tx.put(&hug, "Sam", ScalarValue::Timestamp(NOW))
            .expect("put");
    });
    assert_eq!(check(&s, &reacts), Ok(vec![]));
    let as_alex = by_sam(&s, |tx, s| {
        let r = in_reply(tx, s);
        let hug = tx.put_object(&r, "🤗", ObjType::Map).expect("put");
        tx.put(&hug, "Alex", ScalarValue::Timestamp(NOW))
            .expect("put");
    });
    assert_eq!(check(&s, &as_alex), Err(Breach::AsOtherPerson));
    let rewrites = by_sam(&s, |tx, s| {
        let r = in_reply(tx, s);
        tx.put(&r, "body", "not yours").expect("put");
    });
    assert!(check(&s, &rewrites).is_err());
    for field in ["body", "imported", "prompt"] {
        let claims = by_sam(&s, |tx, s| {
            let r = in_reply(tx, s);
            tx.put_object(&r, field, ObjType::Map).expect("put");
        });
        assert!(check(&s, &claims).is_err(), "{field}");
    }
}
