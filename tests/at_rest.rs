//! Nothing a person writes reaches the disk in the clear.

mod common;

use std::process::Stdio;

use common::{assert_not_in_clear_under, files_under, Device};

const CANARY: &str = "canary-7f3a9c-zebra-lantern";

#[test]
fn entry_text_never_reaches_any_file_under_the_home_in_the_clear() {
    let device = Device::init("Alex");
    // Hold the store open so SQLite keeps its WAL and shared-memory files
    // around for the scan, as they would be while the daemon runs.
    let hold = rusqlite::Connection::open(device.home().join("store.sqlite")).expect("open");
    hold.query_row("SELECT COUNT(*) FROM envelopes", [], |r| r.get::<_, i64>(0))
        .expect("read");

    let id = device.add(&format!("as an argument: {CANARY}"));
    let added = device.run_with_stdin(
        &["add", "-", "--kind", "feeling", "--tag", "canary"],
        format!("from stdin: {CANARY}").as_bytes(),
    );
    assert!(added.status.success());
    let editor = format!("sh -c 'echo \"from the editor: {CANARY}\" > \"$1\"' --");
    let status = device
        .cmd(&["add"])
        .env("EDITOR", &editor)
        .stdout(Stdio::null())
        .status()
        .expect("editor add");
    assert!(status.success());
    device.ok(&["reply", &id, &format!("a reply: {CANARY}")]);
    device.ok(&["edit", &id, &format!("an edit: {CANARY}")]);

    let bodies = device.bodies();
    assert_eq!(
        bodies.len(),
        3,
        "all three entries are readable: {bodies:?}"
    );
    assert!(bodies.iter().all(|b| b.contains(CANARY)));

    // The sealed read index holds every entry's current state: the scan
    // below covers its rows too.
    let indexed: i64 = hold
        .query_row("SELECT COUNT(*) FROM read_index", [], |r| r.get(0))
        .expect("read index");
    assert_eq!(indexed, 3, "one index row per entry");

    let scan = |when: &str, expect_wal: bool| {
        let files = files_under(device.dir.path());
        assert!(
            !expect_wal || files.iter().any(|f| f.to_string_lossy().ends_with("-wal")),
            "the WAL should exist during the {when} scan: {files:?}"
        );
        assert_not_in_clear_under(device.dir.path(), CANARY, when);
    };
    scan("first", true);
    device.ok(&["compact"]);
    scan("after compaction", false);
    // The editor's private buffer directory is gone.
    let run = device.dir.path().join("run").join("duet");
    let leftovers: Vec<_> = std::fs::read_dir(&run)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    assert!(
        leftovers.is_empty(),
        "editor buffers left behind: {leftovers:?}"
    );
    drop(hold);
}
