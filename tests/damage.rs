//! One damaged byte does not cost a journal: a stored envelope, or the
//! snapshot, whose bytes no longer verify is set aside, every command
//! works on the rest, and with a partner's device online the daemon gets
//! a good copy back and the journal is whole again.

mod common;

use std::time::Duration;

use common::{eventually, pair, Device};

const WAIT: Duration = Duration::from_secs(60);

/// Flips one byte in the middle of the bytes in `sql`'s one row.
fn flip_a_byte(device: &Device, select: &str, update: &str) {
    let db = rusqlite::Connection::open(device.home().join("store.sqlite")).expect("open");
    let (key, mut bytes): (i64, Vec<u8>) = db
        .query_row(select, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("a row");
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x20;
    db.execute(update, rusqlite::params![bytes, key])
        .expect("write the damage");
}

#[test]
fn a_damaged_envelope_is_set_aside_and_fetched_again() {
    let alex = Device::init("Alex");
    let a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let _s = sam.daemon();
    let first = alex.add("the first evening");
    alex.add("the second evening, which gets damaged");
    alex.add("the third evening");
    eventually(WAIT, "Sam to hold all three", || {
        sam.has_body("first evening")
            && sam.has_body("which gets damaged")
            && sam.has_body("third evening")
    });
    a.stop();

    // One byte of the second entry's envelope, in Alex's store.
    let db = rusqlite::Connection::open(alex.home().join("store.sqlite")).expect("open");
    let me: Vec<u8> = db
        .query_row(
            "SELECT author FROM envelopes ORDER BY pos DESC LIMIT 1",
            [],
            |r| r.get(0),
        )
        .expect("Alex's last envelope");
    let seq: i64 = db
        .query_row(
            "SELECT MAX(seq) - 1 FROM envelopes WHERE author = ?1",
            [&me],
            |r| r.get(0),
        )
        .expect("seq");
    drop(db);
    flip_a_byte(
        &alex,
        &format!(
            "SELECT pos, bytes FROM envelopes WHERE author = X'{}' AND seq = {seq}",
            me.iter().map(|b| format!("{b:02X}")).collect::<String>()
        ),
        "UPDATE envelopes SET bytes = ?1 WHERE pos = ?2",
    );

    // Every command works on the rest, and says what happened once. (The
    // first to load the journal finds the damage: `duet log` reads the
    // sealed read index while it is current, which holds the entry as it
    // was, and lists from the journal once the damage is set aside.)
    let out = alex.run(&["show", &first]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("set aside"),
        "{said}\n{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // Every other entry reads: the one after the damaged change waits
    // behind it in automerge, and is read from its own change meanwhile.
    assert!(alex.has_body("the first evening"));
    assert!(alex.has_body("the third evening"));
    assert!(!alex.has_body("which gets damaged"));
    assert!(alex.ok(&["log"]).contains("waiting for an earlier change"));
    let export = alex.ok(&["export", "--format", "md"]);
    assert!(export.contains("the first evening") && export.contains("the third evening"));

    // `duet doctor` says what is wrong and what fixes it.
    let doctor = alex.run(&["doctor"]);
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success(), "{said}");
    assert!(
        said.contains("was set aside") && said.contains("duet daemon"),
        "{said}"
    );

    // With Sam's device online, Alex's daemon starts and gets it back.
    let _a = alex.daemon();
    eventually(WAIT, "the damaged entry back from Sam", || {
        alex.has_body("which gets damaged")
    });
    assert!(alex.has_body("the first evening") && alex.has_body("the third evening"));
    eventually(WAIT, "`duet doctor` clean", || {
        alex.run(&["doctor"]).status.success()
    });
}

#[test]
fn a_damaged_snapshot_is_set_aside_and_a_partner_sends_its_own() {
    let alex = Device::init("Alex");
    let a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let _s = sam.daemon();
    alex.add("kept in the snapshot");
    sam.add("Sam's words, also in it");
    eventually(WAIT, "both entries on both devices", || {
        alex.has_body("also in it") && sam.has_body("kept in the snapshot")
    });
    a.stop();
    alex.ok(&["compact"]);
    alex.add("written after the snapshot");
    flip_a_byte(
        &alex,
        "SELECT id, bytes FROM snapshot WHERE id = 1",
        "UPDATE snapshot SET bytes = ?1 WHERE id = ?2",
    );

    // What lies beyond the snapshot still reads and exports.
    let out = alex.run(&["log"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(alex.has_body("written after the snapshot"));
    let export = alex.ok(&["export", "--format", "md"]);
    assert!(export.contains("written after the snapshot"), "{export}");
    let doctor = alex.run(&["doctor"]);
    let said = String::from_utf8_lossy(&doctor.stdout);
    assert!(!doctor.status.success(), "{said}");
    assert!(said.contains("set aside"), "{said}");

    let _a = alex.daemon();
    eventually(WAIT, "the journal whole again from Sam's snapshot", || {
        alex.has_body("kept in the snapshot")
            && alex.has_body("also in it")
            && alex.has_body("written after the snapshot")
    });
    eventually(WAIT, "`duet doctor` clean", || {
        alex.run(&["doctor"]).status.success()
    });
    alex.add("Alex writes on");
    eventually(WAIT, "Alex's new entry at Sam's", || {
        sam.has_body("Alex writes on")
    });
}

#[test]
fn a_damaged_device_list_or_first_change_is_written_again() {
    for record in ["roster", "base"] {
        let alex = Device::init("Alex");
        alex.add("an entry before the damage");
        flip_a_byte(
            &alex,
            &format!("SELECT rowid, value FROM meta WHERE key = '{record}'"),
            "UPDATE meta SET value = ?1 WHERE rowid = ?2",
        );
        assert!(alex.has_body("before the damage"), "{record}");
        alex.add("an entry after the damage");
        let _a = alex.daemon();
        alex.add("an entry through the daemon");
        for body in [
            "before the damage",
            "after the damage",
            "through the daemon",
        ] {
            assert!(alex.has_body(body), "{record}: {body}");
        }
        let doctor = alex.run(&["doctor"]);
        let said = String::from_utf8_lossy(&doctor.stdout);
        assert!(doctor.status.success(), "{record}: {said}");
        assert!(said.contains("is whole again"), "{record}: {said}");
    }
}
