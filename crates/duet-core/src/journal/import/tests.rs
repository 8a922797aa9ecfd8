use automerge::transaction::Transactable;
use automerge::ObjType;

use super::*;
use crate::ids::JournalId;
use crate::journal::{Breach, DeviceRecord, EntryEdit, EntryKind, NewEntry};
use crate::keys::DeviceKey;
use crate::ledger::roster::Roster;

const T: i64 = 1_700_000_000_000;

fn author(person: &str) -> Author {
    Author {
        person: person.into(),
        device: DeviceKey::generate().id(),
    }
}

fn record(who: &Author, by: Option<&Author>) -> DeviceRecord {
    DeviceRecord {
        id: who.device.to_text(),
        person: who.person.clone(),
        name: "laptop".into(),
        added_by: by.map(|b| b.device.to_text()),
        added_at: T,
        role: None,
    }
}

/// A journal of `first` and `second`'s devices.
fn shared(first: &Author, second: &Author) -> Journal {
    let (mut journal, _) =
        Journal::genesis(&JournalId::random(), &record(first, None), T).expect("genesis");
    journal
        .add_device(&record(second, Some(first)))
        .expect("device");
    journal
}

fn note(kind: EntryKind, body: &str) -> NewEntry {
    NewEntry {
        kind,
        tags: vec!["walks".into()],
        mood: Some("calm".into()),
        prompt: None,
        body: body.into(),
    }
}

struct Old {
    journal: Journal,
    sams: String,
    jos: String,
}

/// Sam's old journal, shared with Jo: an entry of each, answered by the
/// other, and one Sam deleted.
fn old_journal(sam: &Author) -> Old {
    let jo = author("Jo");
    let mut journal = shared(sam, &jo);
    let (sams, _) = journal
        .add_entry(sam, note(EntryKind::Feeling, "Sam's words"), T + 1)
        .expect("add");
    let edit = EntryEdit {
        body: Some("Sam's words, edited".into()),
        ..EntryEdit::default()
    };
    journal.edit_entry(sam, &sams, edit, T + 5).expect("edit");
    let (jos, _) = journal
        .add_entry(&jo, note(EntryKind::Dream, "Jo's words"), T + 2)
        .expect("add");
    journal.react(&jo, &sams, "❤️", T + 3).expect("react");
    journal
        .reply(&jo, &sams, "Jo answers", T + 4)
        .expect("reply");
    journal.heard(&jo, &sams, T + 6).expect("heard");
    journal.react(sam, &jos, "🙂", T + 7).expect("react");
    journal
        .reply(sam, &jos, "Sam answers", T + 8)
        .expect("reply");
    journal.heard(sam, &jos, T + 9).expect("heard");
    let (gone, _) = journal
        .add_entry(sam, note(EntryKind::Note, "taken back"), T + 10)
        .expect("add");
    journal.remove_entry(sam, &gone, T + 11).expect("rm");
    Old { journal, sams, jos }
}

fn live(journal: &Journal) -> Vec<Entry> {
    let mut entries: Vec<Entry> = journal
        .all_entries()
        .into_iter()
        .filter(|e| e.deleted.is_none())
        .collect();
    entries.sort_by_key(|e| e.created);
    entries
}

#[test]
fn an_import_keeps_authorship_and_passes_the_partners_checks() {
    let sam_before = author("Sam");
    let old = old_journal(&sam_before);
    let alex = author("Alex");
    let sam = author("Sam");
    let mut new = shared(&alex, &sam);
    new.write_as(&sam.device);
    let from = old.journal.journal_id().expect("id").to_text();
    let commit = new
        .import_entries(&sam, &from, &live(&old.journal))
        .expect("import");

    // Alex's device takes the change as it takes any of Sam's.
    let change = automerge::Change::from_bytes(commit.bytes).expect("change");
    let roster = Roster::new(new.devices());
    new.schema()
        .check(&change, &sam.device, &roster, T + 100)
        .expect("the import keeps every rule");

    let mine = new.entry(&old.sams).expect("Sam's entry");
    assert_eq!(mine.person, "Sam");
    assert_eq!(mine.device, sam.device.to_text());
    assert_eq!((mine.created, mine.edited), (T + 1, Some(T + 5)));
    assert_eq!(mine.kind, EntryKind::Feeling);
    assert_eq!(
        (mine.tags.as_slice(), mine.mood.as_deref()),
        (["walks".to_string()].as_slice(), Some("calm"))
    );
    assert_eq!(mine.body, "Sam's words, edited");
    let marker = mine.imported.as_ref().expect("marked as imported");
    assert_eq!(marker.journal, from);
    assert_eq!(marker.author, None, "Sam's own entry stays Sam's");
    assert_eq!(mine.replies.len(), 1);
    let reply = &mine.replies[0];
    assert_eq!((reply.body.as_str(), reply.created), ("Jo answers", T + 4));
    assert_eq!(
        reply.imported.as_ref().map(|o| o.person.as_str()),
        Some("Jo")
    );
    assert!(
        mine.reactions.is_empty() && mine.heard.is_empty(),
        "Jo's are not written as Sam's"
    );
    assert_eq!(marker.reactions.len(), 1);
    assert_eq!(
        (
            marker.reactions[0].person.as_str(),
            marker.reactions[0].emoji.as_str()
        ),
        ("Jo", "❤️")
    );
    assert_eq!(
        marker
            .heard
            .iter()
            .map(|h| h.person.as_str())
            .collect::<Vec<_>>(),
        ["Jo"]
    );

    let theirs = new.entry(&old.jos).expect("Jo's entry");
    assert_eq!(
        theirs.person, "Sam",
        "signed by Sam's device, so Sam's word"
    );
    let origin = theirs
        .imported
        .as_ref()
        .and_then(|i| i.author.as_ref())
        .expect("Jo named");
    assert_eq!(origin.person, "Jo");
    assert_eq!(theirs.kind, EntryKind::Dream);
    assert_eq!(theirs.reactions.len(), 1);
    assert_eq!(theirs.reactions[0].person, "Sam");
    assert_eq!(theirs.heard.len(), 1);
    assert_eq!(theirs.replies[0].imported, None, "Sam's reply is Sam's");

    assert_eq!(new.len(), 2, "the deleted entry is not brought");
    let here = new.entry_ids();
    let again: Vec<Entry> = live(&old.journal)
        .into_iter()
        .filter(|e| !here.contains(&e.id))
        .collect();
    assert!(again.is_empty(), "a second import brings nothing");
}

#[test]
fn the_partner_cannot_mark_an_entry_as_imported_afterwards() {
    let alex = author("Alex");
    let sam = author("Sam");
    let mut journal = shared(&alex, &sam);
    let (id, _) = journal
        .add_entry(&alex, note(EntryKind::Note, "Alex's own"), T)
        .expect("add");
    journal.write_as(&sam.device);
    let obj = journal.entry_obj(&id).expect("entry");
    let mut tx = journal.doc.transaction();
    let marker = tx.put_object(&obj, IMPORTED, ObjType::Map).expect("put");
    tx.put(&marker, "author", "Mallory").expect("put");
    tx.commit();
    let commit = journal.last_commit().expect("commit");
    let change = automerge::Change::from_bytes(commit.bytes).expect("change");
    let roster = Roster::new(journal.devices());
    let checked = journal
        .schema()
        .check(&change, &sam.device, &roster, T + 100);
    assert_eq!(checked, Err(Breach::MadeOnce { key: IMPORTED }));
}

#[test]
fn a_long_journal_is_brought_in_changes_under_the_limits() {
    let sam = author("Sam");
    let mut old = shared(&sam, &author("Jo"));
    let body = "x".repeat(100 * 1024);
    for i in 0..30 {
        old.add_entry(&sam, note(EntryKind::Note, &body), T + i)
            .expect("add");
    }
    let entries = live(&old);
    let runs = batches(&entries);
    assert!(runs.len() > 1, "3 MB of entries is more than one change");
    assert_eq!(runs.iter().map(|r| r.len()).sum::<usize>(), 30);
    let mut new = shared(&author("Alex"), &sam);
    new.write_as(&sam.device);
    for run in runs {
        let commit = new.import_entries(&sam, "old", run).expect("import");
        super::super::check_packed(&commit.bytes).expect("within the size limit");
    }
    assert_eq!(new.len(), 30);
}

#[test]
fn words_written_under_another_name_stay_that_names() {
    let sam = author("Sam");
    let old = old_journal(&sam);
    let samantha = author("Samantha");
    let mut new = shared(&author("Alex"), &samantha);
    new.write_as(&samantha.device);
    new.import_entries(&samantha, "old", &live(&old.journal))
        .expect("import");
    let entry = new.entry(&old.sams).expect("entry");
    assert_eq!(entry.person, "Samantha");
    let first = entry.imported.and_then(|i| i.author).expect("marked");
    assert_eq!(first.person, "Sam", "a name is all that ties the two");
}
