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
    assert!(matches!(
        j.resolve_id("zz"),
        Err(JournalError::NoSuchEntry(_))
    ));
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
