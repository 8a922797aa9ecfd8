use super::*;
use crate::ids::random_bytes;

fn author(person: &str) -> Author {
    Author {
        person: person.to_string(),
        device: DeviceId(random_bytes()),
    }
}

fn genesis(alex: &Author) -> Journal {
    let record = DeviceRecord {
        id: alex.device.to_text(),
        person: alex.person.clone(),
        name: "laptop".into(),
        added_by: None,
        added_at: 1,
        role: None,
    };
    Journal::genesis(&JournalId::random(), &record, 1)
        .expect("genesis")
        .0
}

fn note(body: &str) -> NewEntry {
    NewEntry {
        body: body.into(),
        ..NewEntry::default()
    }
}

/// A second replica of `journal`, as a paired device would hold it.
fn fork(journal: &Journal) -> Journal {
    Journal::load(Some(&journal.save()), []).expect("load")
}

#[test]
fn an_added_entry_reads_back_whole() {
    let alex = author("Alex");
    let mut j = genesis(&alex);
    let new = NewEntry {
        kind: EntryKind::Gratitude,
        tags: vec!["home".into(), "sunday".into()],
        mood: Some("warm".into()),
        prompt: None,
        body: "Thank you for the pancakes.".into(),
    };
    let (id, _) = j.add_entry(&alex, new, 1000).expect("add");
    let e = j.entry(&id).expect("entry");
    assert_eq!(e.person, "Alex");
    assert_eq!(e.kind, EntryKind::Gratitude);
    assert_eq!(e.tags, ["home", "sunday"]);
    assert_eq!(e.mood.as_deref(), Some("warm"));
    assert_eq!(e.body, "Thank you for the pancakes.");
    assert_eq!(e.created, 1000);
    assert!(e.conflicts.is_empty());
}

#[test]
fn concurrent_edits_of_one_entry_keep_both_versions() {
    let alex = author("Alex");
    let mut a = genesis(&alex);
    let (id, _) = a.add_entry(&alex, note("first"), 10).expect("add");
    let mut b = fork(&a);
    let ca = a
        .edit_entry(
            &alex,
            &id,
            EntryEdit {
                body: Some("from laptop".into()),
                ..Default::default()
            },
            20,
        )
        .expect("edit a");
    let cb = b
        .edit_entry(
            &alex,
            &id,
            EntryEdit {
                body: Some("from desktop".into()),
                ..Default::default()
            },
            21,
        )
        .expect("edit b");
    a.apply_change(cb.bytes).expect("apply");
    b.apply_change(ca.bytes).expect("apply");
    let (ea, eb) = (a.entry(&id).expect("a"), b.entry(&id).expect("b"));
    assert_eq!(ea, eb);
    let mut all = vec![ea.body.clone(), ea.conflicts[0].clone()];
    all.sort();
    assert_eq!(all, ["from desktop", "from laptop"]);
    // A later edit resolves the conflict.
    a.edit_entry(
        &alex,
        &id,
        EntryEdit {
            body: Some("merged".into()),
            ..Default::default()
        },
        30,
    )
    .expect("resolve");
    assert!(a.entry(&id).expect("a").conflicts.is_empty());
}

#[test]
fn reactions_replies_and_heard_marks_accumulate() {
    let alex = author("Alex");
    let sam = author("Sam");
    let mut j = genesis(&alex);
    let (id, _) = j
        .add_entry(&alex, note("I need a quiet evening."), 10)
        .expect("add");
    j.react(&sam, &id, "❤️", 11).expect("react");
    j.reply(&sam, &id, "Let's do that tonight.", 12)
        .expect("reply");
    j.heard(&sam, &id, 13).expect("heard");
    assert!(matches!(
        j.heard(&alex, &id, 14),
        Err(JournalError::OwnEntry(_))
    ));
    let e = j.entry(&id).expect("entry");
    assert_eq!(e.reactions.len(), 1);
    assert_eq!(e.reactions[0].emoji, "❤️");
    assert_eq!(e.replies[0].body, "Let's do that tonight.");
    assert_eq!(e.heard[0].person, "Sam");
}

#[test]
fn only_the_author_edits_or_removes_an_entry() {
    let alex = author("Alex");
    let sam = author("Sam");
    let mut j = genesis(&alex);
    let (id, _) = j.add_entry(&alex, note("mine"), 10).expect("add");
    assert!(matches!(
        j.remove_entry(&sam, &id, 11),
        Err(JournalError::NotYours { .. })
    ));
    j.remove_entry(&alex, &id, 12).expect("rm");
    assert!(j.query(&Filter::default()).is_empty());
    assert!(matches!(
        j.react(&sam, &id, "x", 13),
        Err(JournalError::Deleted(_))
    ));
}

#[test]
fn empty_entries_are_refused() {
    let alex = author("Alex");
    let mut j = genesis(&alex);
    assert!(matches!(
        j.add_entry(&alex, note("  \n"), 1),
        Err(JournalError::EmptyBody)
    ));
}

#[test]
fn ids_resolve_from_unique_prefixes() {
    let alex = author("Alex");
    let mut j = genesis(&alex);
    let (id, _) = j.add_entry(&alex, note("one"), 1).expect("add");
    assert_eq!(j.resolve_id(&id[..6]).expect("prefix"), id);
    assert!(matches!(j.resolve_id("zz"), Err(JournalError::ShortId(_))));
    assert!(matches!(
        j.resolve_id("zzzzzzzzzz"),
        Err(JournalError::NoSuchEntry(_))
    ));
}

#[test]
fn query_filters_and_orders_newest_first() {
    let alex = author("Alex");
    let sam = author("Sam");
    let mut j = genesis(&alex);
    for (i, (who, kind, tag)) in [
        (&alex, EntryKind::Dream, "travel"),
        (&sam, EntryKind::Laugh, "cat"),
        (&alex, EntryKind::Need, "rest"),
        (&sam, EntryKind::Dream, "travel"),
    ]
    .into_iter()
    .enumerate()
    {
        let new = NewEntry {
            kind,
            tags: vec![tag.into()],
            mood: None,
            prompt: None,
            body: format!("entry {i} about {tag}"),
        };
        j.add_entry(who, new, 100 + i as i64).expect("add");
    }
    let all = j.query(&Filter::default());
    assert_eq!(
        all.iter().map(|e| e.created).collect::<Vec<_>>(),
        [103, 102, 101, 100]
    );
    let dreams = j.query(&Filter {
        kind: Some(EntryKind::Dream),
        ..Default::default()
    });
    assert_eq!(dreams.len(), 2);
    let by_sam = j.query(&Filter {
        person: Some("sam".into()),
        ..Default::default()
    });
    assert_eq!(by_sam.len(), 2);
    let travel = j.query(&Filter {
        tag: Some("travel".into()),
        limit: Some(1),
        ..Default::default()
    });
    assert_eq!(travel.len(), 1);
    assert_eq!(travel[0].created, 103);
    let window = j.query(&Filter {
        since: Some(101),
        until: Some(103),
        ..Default::default()
    });
    assert_eq!(window.len(), 2);
    let found = j.query(&Filter {
        search: Some("ABOUT CAT".into()),
        ..Default::default()
    });
    assert_eq!(found.len(), 1);
}

#[test]
fn a_map_put_beside_an_entry_does_not_hide_it() {
    let alex = author("Alex");
    let sam = author("Sam");
    let mut a = genesis(&alex);
    a.write_as(&alex.device);
    let mut b = fork(&a);
    b.write_as(&sam.device);
    let (id, _) = a.add_entry(&alex, note("Alex's words"), 5000).expect("add");
    // Sam's copy puts a map at the same key without having seen Alex's.
    let key = entry_key(5000, &id);
    let mut tx = b.doc.transaction();
    let theirs = tx
        .put_object(&b.entries, key.as_str(), ObjType::Map)
        .expect("put");
    tx.put(&theirs, "person", "Sam").expect("put");
    tx.put(&theirs, "body", "Sam's words").expect("put");
    tx.put(&theirs, "created", ScalarValue::Timestamp(5000))
        .expect("put");
    tx.commit();
    a.doc.merge(&mut b.doc).expect("merge");
    let bodies: Vec<String> = a
        .query(&Filter::default())
        .into_iter()
        .map(|e| e.body)
        .collect();
    assert!(bodies.contains(&"Alex's words".to_string()), "{bodies:?}");
    assert!(bodies.contains(&"Sam's words".to_string()), "{bodies:?}");
    // Alex still edits Alex's own, whichever map automerge shows first.
    let edit = EntryEdit {
        body: Some("Alex, edited".into()),
        ..EntryEdit::default()
    };
    a.edit_entry(&alex, &id, edit, 6000).expect("edit");
    let bodies: Vec<String> = a.all_entries().into_iter().map(|e| e.body).collect();
    assert!(bodies.contains(&"Alex, edited".to_string()), "{bodies:?}");
    assert!(bodies.contains(&"Sam's words".to_string()), "{bodies:?}");
}

#[test]
fn who_wrote_and_who_edited_come_from_the_changes() {
    let alex = author("Alex");
    let desktop = author("Alex");
    let mut a = genesis(&alex);
    a.write_as(&alex.device);
    let (id, _) = a.add_entry(&alex, note("first"), 5000).expect("add");
    let mut b = fork(&a);
    b.write_as(&desktop.device);
    let edit = EntryEdit {
        body: Some("second".into()),
        ..EntryEdit::default()
    };
    b.edit_entry(&desktop, &id, edit, 6000).expect("edit");
    let e = b.entry(&id).expect("entry");
    assert_eq!(e.device, alex.device.to_text());
    assert_eq!(e.edited, Some(6000));
    assert_eq!(e.edited_by, Some(desktop.device.to_text()));
}

#[test]
fn an_entry_dated_ahead_of_the_clock_is_listed_by_its_arrival() {
    let alex = author("Alex");
    let mut j = genesis(&alex);
    j.write_as(&alex.device);
    let now = crate::ledger::member::now_ms();
    let day = 24 * 3600 * 1000;
    let (today, _) = j.add_entry(&alex, note("today"), now - 1000).expect("add");
    let (ahead, _) = j
        .add_entry(&alex, note("from the future"), now + 300 * day)
        .expect("add");
    // It arrived yesterday.
    let obj = j.entry_obj(&ahead).expect("obj");
    let hash = j.doc.hash_for_opid(&obj).expect("hash");
    j.set_arrivals([(hash.0, now - day)].into_iter().collect());
    let listed = j.query(&Filter::default());
    assert_eq!(listed[0].id, today, "today's entry is on top");
    assert_eq!(listed[1].id, ahead);
    assert_eq!(listed[1].arrived, Some(now - day));
    let since_today = Filter {
        since: Some(now - 3600 * 1000),
        ..Filter::default()
    };
    let ids: Vec<String> = j.query(&since_today).into_iter().map(|e| e.id).collect();
    assert_eq!(ids, [today]);
    // Without a known arrival it is listed now, marked, not a year on top.
    j.set_arrivals(Default::default());
    let e = j.entry(&ahead).expect("entry");
    assert!(e
        .arrived
        .is_some_and(|t| t <= crate::ledger::member::now_ms()));
}
