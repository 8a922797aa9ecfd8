use super::*;
use crate::journal::{EntryEdit, EntryKind, NewEntry};
use crate::replica::Replica;
use crate::testing::{alex, everything, now, pair};

fn reopen(r: Replica) -> Replica {
    let (store, device, key) = r.into_parts();
    Replica::open(store, device, key).expect("reopen")
}

fn deliver(from: &Replica, to: &mut Replica) {
    for env in everything(from) {
        let _ = to.receive_envelope(&env);
    }
}

fn write(r: &mut Replica, kind: EntryKind, tags: &[&str], body: &str, at: i64) -> String {
    r.commit(|j, a| {
        j.add_entry(
            a,
            NewEntry {
                kind,
                tags: tags.iter().map(|t| t.to_string()).collect(),
                mood: (kind == EntryKind::Feeling).then(|| "calm".to_string()),
                body: body.into(),
                ..NewEntry::default()
            },
            at,
        )
    })
    .expect("add")
}

/// A journal with replies, reactions, heard marks, an edit, a deletion, a
/// conflict, an entry dated earlier than others, several kinds and tags.
fn busy_journal() -> Replica {
    let mut laptop = alex();
    let mut sam = pair(&mut laptop, "Sam", "phone");
    let mut desktop = pair(&mut laptop, "Alex", "desktop");
    deliver(&laptop, &mut sam);
    deliver(&laptop, &mut desktop);
    let t = now();
    let first = write(
        &mut laptop,
        EntryKind::Note,
        &["home"],
        "first words",
        t + 1_000,
    );
    let feeling = write(
        &mut laptop,
        EntryKind::Feeling,
        &["work", "home"],
        "tired but glad",
        t + 2_000,
    );
    let gone = write(
        &mut laptop,
        EntryKind::Laugh,
        &[],
        "a joke that fell flat",
        t + 3_000,
    );
    let dream = write(
        &mut sam,
        EntryKind::Dream,
        &["travel"],
        "Lisbon in spring",
        t + 4_000,
    );
    // Written up for an earlier day: placed between older rows.
    write(
        &mut sam,
        EntryKind::Memory,
        &["home"],
        "the first flat",
        t + 1_500,
    );
    deliver(&sam, &mut laptop);
    deliver(&laptop, &mut sam);
    sam.commit(|j, a| j.reply(a, &first, "me too", t + 5_000))
        .expect("reply");
    sam.commit(|j, a| Ok(((), j.react(a, &feeling, "❤️", t + 5_100)?)))
        .expect("react");
    sam.commit(|j, a| Ok(((), j.heard(a, &feeling, t + 5_200)?)))
        .expect("heard");
    laptop
        .commit(|j, a| Ok(((), j.react(a, &dream, "✨", t + 5_300)?)))
        .expect("react");
    let edit = |body: &str| EntryEdit {
        body: Some(body.to_string()),
        ..EntryEdit::default()
    };
    laptop
        .commit(|j, a| {
            Ok((
                (),
                j.edit_entry(a, &feeling, edit("tired, and glad"), t + 6_000)?,
            ))
        })
        .expect("edit");
    laptop
        .commit(|j, a| Ok(((), j.remove_entry(a, &gone, t + 6_100)?)))
        .expect("remove");
    // Two of Alex's devices edit one entry at once: a conflict.
    deliver(&laptop, &mut desktop);
    desktop
        .commit(|j, a| {
            Ok((
                (),
                j.edit_entry(a, &first, edit("first words, from the desk"), t + 7_000)?,
            ))
        })
        .expect("edit");
    laptop
        .commit(|j, a| {
            Ok((
                (),
                j.edit_entry(a, &first, edit("first words, from the laptop"), t + 7_000)?,
            ))
        })
        .expect("edit");
    deliver(&sam, &mut laptop);
    deliver(&desktop, &mut laptop);
    reopen(laptop)
}

fn filters() -> Vec<Filter> {
    let t = now();
    vec![
        Filter::default(),
        Filter {
            limit: Some(2),
            ..Filter::default()
        },
        Filter {
            kind: Some(EntryKind::Feeling),
            ..Filter::default()
        },
        Filter {
            tag: Some("HOME".into()),
            limit: Some(2),
            ..Filter::default()
        },
        Filter {
            person: Some("sam".into()),
            ..Filter::default()
        },
        Filter {
            search: Some("laptop".into()),
            ..Filter::default()
        },
        Filter {
            search: Some("me too".into()),
            ..Filter::default()
        },
        Filter {
            since: Some(t + 1_500),
            until: Some(t + 4_000),
            ..Filter::default()
        },
        Filter {
            kind: Some(EntryKind::Need),
            ..Filter::default()
        },
    ]
}

fn page_of(r: &Replica, filter: &Filter) -> Option<Page> {
    r.index()
        .page(r.store(), filter, None, filter.limit.unwrap_or(usize::MAX))
        .expect("page")
}

#[test]
fn a_page_from_the_index_is_what_the_journal_lists() {
    let laptop = busy_journal();
    let all = laptop.journal().query(&Filter::default());
    assert!(all.iter().any(|e| !e.conflicts.is_empty()), "a conflict");
    assert!(all
        .iter()
        .any(|e| !e.replies.is_empty() && !e.heard.is_empty() || !e.replies.is_empty()));
    assert!(all
        .iter()
        .any(|e| !e.heard.is_empty() && !e.reactions.is_empty()));
    for filter in filters() {
        let page = page_of(&laptop, &filter).expect("the index is current");
        assert_eq!(page.entries, laptop.journal().query(&filter), "{filter:?}");
        assert_eq!(page.devices, laptop.devices());
        assert!(!page.journal_empty);
    }
    // Pages of two, one after another, are the whole list.
    let mut joined = Vec::new();
    let mut cursor = None;
    loop {
        let page = laptop
            .index()
            .page(laptop.store(), &Filter::default(), cursor, 2)
            .expect("page")
            .expect("current");
        joined.extend(page.entries);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(joined, all);
}

#[test]
fn nothing_of_an_entry_is_in_the_index_in_the_clear() {
    let laptop = busy_journal();
    let store = laptop.store();
    let rows = store.index_rows_down(None, 100).expect("rows");
    assert!(rows.len() >= 5);
    let state = store.record(STATE).expect("state").expect("kept");
    for bytes in rows.iter().map(|r| &r.bytes).chain([&state]) {
        for words in [
            "first words",
            "Lisbon",
            "travel",
            "me too",
            "Sam",
            "feeling",
        ] {
            assert!(
                !bytes.windows(words.len()).any(|w| w == words.as_bytes()),
                "{words} in the clear"
            );
        }
    }
}

/// Asserts that `r`'s index gives no page now, and that once reopened it
/// gives `expected` again: the index was built anew.
fn healed_on_reopen(r: Replica, expected: &[Entry]) -> Replica {
    assert!(page_of(&r, &Filter::default()).is_none());
    let r = reopen(r);
    assert_eq!(
        page_of(&r, &Filter::default()).expect("healed").entries,
        expected
    );
    r
}

#[test]
fn an_index_missing_rows_or_with_a_damaged_row_is_built_again() {
    let laptop = busy_journal();
    let expected = laptop.journal().query(&Filter::default());
    // Rows deleted from the disk: noticed, not listed short.
    let top = laptop
        .store()
        .index_rows_down(None, 1)
        .expect("rows")
        .remove(0);
    laptop.store().index_delete(&top.key).expect("delete");
    let laptop = healed_on_reopen(laptop, &expected);
    // One row's bytes damaged: the page gives way, the index is rebuilt.
    let mut row = laptop
        .store()
        .index_rows_down(None, 3)
        .expect("rows")
        .remove(2);
    let last = row.bytes.len() - 1;
    row.bytes[last] ^= 1;
    laptop.store().index_put(&row).expect("damage");
    let laptop = healed_on_reopen(laptop, &expected);
    // Every row gone and the state with them.
    laptop.store().index_clear().expect("clear");
    laptop.index().forget(laptop.store()).expect("forget");
    healed_on_reopen(laptop, &expected);
}

#[test]
fn an_index_missing_rows_after_a_compaction_is_built_again() {
    let mut laptop = busy_journal();
    laptop.compact().expect("compact");
    assert_eq!(laptop.ledger().envelope_count().expect("count"), 0);
    let expected = laptop.journal().query(&Filter::default());
    let laptop = reopen(laptop);
    assert_eq!(
        page_of(&laptop, &Filter::default())
            .expect("current")
            .entries,
        expected
    );
    // Rows gone from the disk while the state stays: a replica opened
    // afresh (its position 0, no envelope left) builds them again.
    let top = laptop.store().index_rows_down(None, 2).expect("rows");
    for row in &top {
        laptop.store().index_delete(&row.key).expect("delete");
    }
    healed_on_reopen(laptop, &expected);
}

#[test]
fn rows_are_deflated_and_a_row_of_plain_json_still_opens() {
    let laptop = busy_journal();
    let expected = page_of(&laptop, &Filter::default())
        .expect("current")
        .entries;
    let index = laptop.index();
    let stored = laptop.store().index_rows_down(None, 1000).expect("rows");
    assert!(!stored.is_empty());
    for row in &stored {
        let plain = index.keys.open(&row.key, &row.bytes).expect("open");
        assert_eq!(plain.first(), Some(&DEFLATED));
        // The row as it was written before rows were compressed.
        let json = serde_json::to_vec(&index.open_row(row).expect("row")).expect("json");
        laptop
            .store()
            .index_put(&IndexRow {
                key: row.key.clone(),
                ord: row.ord,
                bytes: index.keys.seal(&row.key, &json),
            })
            .expect("put");
    }
    assert_eq!(
        page_of(&laptop, &Filter::default())
            .expect("plain rows")
            .entries,
        expected
    );
}

#[test]
fn a_stale_index_gives_no_page_until_a_replica_brings_it_current() {
    let mut laptop = alex();
    let mut sam = pair(&mut laptop, "Sam", "phone");
    deliver(&laptop, &mut sam);
    write(&mut laptop, EntryKind::Note, &[], "one", now() + 1);
    write(&mut sam, EntryKind::Need, &[], "two", now() + 2);
    // The envelope is stored without the index knowing.
    deliver(&sam, &mut laptop);
    assert!(page_of(&laptop, &Filter::default()).is_none());
    laptop.refresh().expect("refresh");
    let laptop = reopen(laptop);
    let page = page_of(&laptop, &Filter::default()).expect("current");
    assert_eq!(page.entries, laptop.journal().query(&Filter::default()));
    assert_eq!(page.entries.len(), 2);
}

#[test]
fn a_writer_puts_the_entries_it_adds_in_the_index_and_keeps_its_start() {
    let laptop = busy_journal();
    let index = Index::new(laptop.device_key(), &laptop.journal_id());
    let start = index
        .start(laptop.store())
        .expect("start")
        .expect("current");
    assert_eq!(start, laptop.writer_start());
    let (store, device, key) = laptop.into_parts();
    let mut writer = crate::writer::Writer::open(store, device, key, start).expect("writer");
    for (i, kind) in [EntryKind::Gratitude, EntryKind::Note]
        .into_iter()
        .enumerate()
    {
        writer
            .commit(|j, a| {
                j.add_entry(
                    a,
                    NewEntry {
                        kind,
                        tags: vec!["later".into()],
                        body: format!("written without the journal {i}"),
                        ..NewEntry::default()
                    },
                    // The second is dated before everything else.
                    if i == 0 { now() + 9_000 } else { now() - 9_000 },
                )
            })
            .expect("write");
    }
    let paged = index
        .page(writer.store(), &Filter::default(), None, usize::MAX)
        .expect("page")
        .expect("the writer kept the index current");
    let start = index
        .start(writer.store())
        .expect("start")
        .expect("current");
    let at = writer.start();
    assert_eq!(
        (start.frontier.heads(), start.frontier.max_op(), start.pos),
        (at.frontier.heads(), at.frontier.max_op(), at.pos)
    );
    let (store, device, key) = writer.into_parts();
    let laptop = Replica::open(store, device, key).expect("open");
    assert_eq!(paged.entries, laptop.journal().query(&Filter::default()));
    assert_eq!(
        laptop.writer_start().frontier.heads(),
        start.frontier.heads()
    );
}

#[test]
fn rows_find_their_place_when_no_gap_is_left() {
    let mut laptop = alex();
    write(&mut laptop, EntryKind::Note, &[], "oldest", now());
    write(
        &mut laptop,
        EntryKind::Note,
        &[],
        "newest",
        now() + 1_000_000,
    );
    // Each entry goes between the last one and the newest, halving the
    // gap there until none is left (2^16 halves to nothing in 17).
    for i in 0..19 {
        write(
            &mut laptop,
            EntryKind::Note,
            &[],
            &format!("entry {i}"),
            now() + 1 + i,
        );
    }
    let page = page_of(&laptop, &Filter::default()).expect("current");
    assert_eq!(page.entries, laptop.journal().query(&Filter::default()));
    assert_eq!(page.entries.len(), 21);
}

#[test]
fn the_inflater_gives_whole_rows_and_refuses_cut_or_damaged_ones() {
    let mut inflater = Inflater::new();
    // Text that deflates far below a quarter of its size makes the
    // inflater grow its buffer several times.
    let long = "we laughed until the tea went cold. ".repeat(2000);
    for json in [&b"{}"[..], long.as_bytes(), b"a short row"] {
        let deflated = deflate_row(json);
        assert_eq!(deflated[0], DEFLATED);
        let back = inflater.inflate(&deflated[1..]).expect("inflates");
        assert_eq!(back.as_slice(), json);
    }
    let deflated = deflate_row(long.as_bytes());
    assert!(inflater.inflate(&deflated[1..deflated.len() - 3]).is_none());
    let mut damaged = deflated.clone();
    damaged[1] ^= 0xff;
    damaged[2] ^= 0xff;
    assert_ne!(
        inflater
            .inflate(&damaged[1..])
            .as_deref()
            .map(Vec::as_slice),
        Some(long.as_bytes())
    );
    // The same inflater goes on working after a refusal.
    assert_eq!(
        inflater
            .inflate(&deflated[1..])
            .expect("inflates")
            .as_slice(),
        long.as_bytes()
    );
}
