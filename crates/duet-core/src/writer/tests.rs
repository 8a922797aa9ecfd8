use super::*;
use crate::envelope::{self, Body, OpenError};
use crate::home::Home;
use crate::journal::NewEntry;
use crate::testing::{add, everything, now, pair};

/// A journal on disk with `n` entries.
fn home_with_entries(dir: &std::path::Path, n: usize) -> Home {
    let home = Home::new(dir.join("alex"));
    let mut whole = home.init("Alex", "laptop", now()).expect("init");
    for i in 0..n {
        add(&mut whole, &format!("entry {i}"));
    }
    home
}

/// A writer on `home`, started where its whole journal ends.
fn writer(home: &Home) -> Writer {
    let start = home.open().expect("whole").writer_start();
    home.open_writer(start).expect("writer")
}

fn write(writer: &mut Writer, body: &str) -> String {
    writer
        .commit(|j, a| {
            j.add_entry(
                a,
                NewEntry {
                    body: body.into(),
                    ..NewEntry::default()
                },
                now(),
            )
        })
        .expect("add")
}

#[test]
fn a_writer_adds_entries_that_merge_into_the_whole_journal() {
    let dir = tempfile::tempdir().expect("dir");
    let home = home_with_entries(dir.path(), 3);
    let mut w = writer(&home);
    assert_eq!(w.devices().len(), 1);
    for i in 0..2 {
        write(&mut w, &format!("from the daemon {i}"));
    }
    // A write by another process in between is taken into its frontier.
    add(&mut home.open().expect("whole"), "from the CLI");
    w.refresh().expect("refresh");
    write(&mut w, "from the daemon 2");
    drop(w);

    let mut whole = home.open().expect("whole");
    // Each write continued the history, as with the whole document loaded.
    assert_eq!(whole.journal().frontier().heads().len(), 1);
    let bodies: Vec<String> = whole
        .journal()
        .all_entries()
        .into_iter()
        .map(|e| e.body)
        .collect();
    assert_eq!(bodies.len(), 7, "{bodies:?}");
    for i in 0..3 {
        assert!(bodies.contains(&format!("from the daemon {i}")));
    }
    // A whole-document write after them depends on them, and a partner's
    // replica takes every envelope in.
    let id = add(&mut whole, "after the daemon");
    let mut sam = pair(&mut whole, "Sam", "laptop");
    for env in everything(&whole) {
        let _ = sam.receive_envelope(&env);
    }
    sam.refresh().expect("refresh");
    assert!(sam.journal().entry(&id).is_some());
    assert_eq!(sam.journal().all_entries().len(), 8);
    // Compaction folds the writer's changes in like any others.
    whole.compact().expect("compact");
    let reopened = home.open().expect("reopen");
    assert_eq!(reopened.journal().all_entries().len(), 8);
}

#[test]
fn a_writer_needs_the_records_a_whole_replica_leaves() {
    let dir = tempfile::tempdir().expect("dir");
    let home = home_with_entries(dir.path(), 1);
    let start = home.open().expect("whole").writer_start();
    let (store, device, key) = home.open().expect("whole").into_parts();
    store.set_record(BASE, b"").expect("clear");
    // A record that does not open, while the key opens the rest, is set
    // aside: the writer lacks it until a whole replica writes it again.
    assert!(matches!(
        Writer::open(store, device, key, start.clone()),
        Err(ReplicaError::Missing(_))
    ));
    let (store, device, key) = home.open().expect("whole").into_parts();
    assert!(Writer::open(store, device, key, start).is_ok());
}

#[test]
fn a_writer_learns_new_devices_from_what_it_stores_and_checks_attribution() {
    let dir = tempfile::tempdir().expect("dir");
    let home = home_with_entries(dir.path(), 1);
    let mut whole = home.open().expect("whole");
    // Sam's laptop joins and writes; Sam's second device is paired in by it.
    let mut sam = pair(&mut whole, "Sam", "laptop");
    drop(whole);
    let mut w = writer(&home);
    let mut phone = pair(&mut sam, "Sam", "phone");
    add(&mut phone, "from the phone");
    let phone_entry = everything(&phone).pop().expect("an envelope");
    // Before the record that adds the phone arrives, its envelope is from
    // an unknown device.
    assert!(matches!(
        w.receive_envelope(&phone_entry),
        Err(ReceiveError::Open(OpenError::UnknownAuthor(_)))
    ));
    for env in everything(&sam) {
        let _ = w.receive_envelope(&env);
    }
    assert!(w.ledger().members().contains(&phone.device_id()));
    assert!(w.devices().iter().any(|d| d.name == "phone"));
    w.receive_envelope(&phone_entry).expect("now it verifies");

    // A change that writes an entry as another person is refused.
    let forged = {
        let base = home.open().expect("whole").journal().base_change();
        let mut j = Journal::writer(&base.expect("base")).expect("writer");
        j.write_as(&sam.device_id());
        let author = Author {
            person: "Alex".into(),
            device: sam.device_id(),
        };
        let new = NewEntry {
            body: "forged".into(),
            ..NewEntry::default()
        };
        j.add_entry(&author, new, now()).expect("write").1
    };
    let sealed = envelope::seal(
        &sam.journal_id(),
        sam.device_key(),
        &Body::Change {
            seq: 2,
            link: [0; 32],
        },
        &sam.journal_key().recipient(),
        &forged.bytes,
    )
    .expect("seal");
    assert!(matches!(
        w.receive_envelope(&sealed),
        Err(ReceiveError::BadPayload(JournalError::Breach(
            crate::journal::Breach::Misattributed { .. }
        )))
    ));

    // What the writer learned is in the store for the next writer.
    drop(w);
    let again = writer(&home);
    assert!(again.ledger().members().contains(&phone.device_id()));
    let whole = home.open().expect("whole");
    assert_eq!(whole.journal().all_entries().len(), 2);
}
