//! `duet log` reads a page from the sealed read index, and lists exactly
//! what reading the whole journal lists; a damaged index heals.

mod common;

use common::Device;

/// Every form of `duet log` compared here.
const VIEWS: &[&[&str]] = &[
    &["log", "--no-pager"],
    &["--json", "log"],
    &["log", "--no-pager", "-n", "3"],
    &["--json", "log", "-n", "2"],
    &["log", "--no-pager", "--oneline"],
    &["log", "--no-pager", "--reverse", "-n", "4"],
    &["--json", "log", "--kind", "feeling"],
    &["log", "--no-pager", "--tag", "home"],
    &["--json", "log", "--search", "LISBON"],
    &["--json", "log", "--search", "a reply"],
    &["log", "--no-pager", "--by", "alex", "-n", "1"],
    &["log", "--no-pager", "--kind", "need"],
    &[
        "--json",
        "log",
        "--since",
        "2026-11-02",
        "--until",
        "2026-11-03",
    ],
];

/// A journal with replies, reactions, an edit, a removal, an entry
/// written up for an earlier day, several kinds and tags.
fn journal() -> Device {
    let device = Device::init("Alex");
    let first = device.add("first words");
    device.ok(&[
        "add",
        "--kind",
        "feeling",
        "--tag",
        "home",
        "--mood",
        "calm",
        "tired but glad",
    ]);
    device.ok(&[
        "add",
        "--kind",
        "dream",
        "--tag",
        "travel",
        "Lisbon in spring",
    ]);
    let gone = device.add("a joke that fell flat");
    device.ok(&[
        "add",
        "--kind",
        "memory",
        "--tag",
        "home",
        "--date",
        "2026-11-02",
        "the first flat",
    ]);
    device.ok(&[
        "add",
        "--kind",
        "gratitude",
        "--date",
        "2026-11-01",
        "for the soup",
    ]);
    device.ok(&["reply", &first, "a reply to myself"]);
    device.ok(&["react", &first, "❤️"]);
    device.ok(&["edit", &first, "first words, edited"]);
    device.ok(&["rm", "--yes", &gone]);
    device
}

/// What each view prints, read from the index (the default) and from
/// the whole journal (`DUET_NO_INDEX`).
fn views(device: &Device, index: bool) -> Vec<String> {
    VIEWS
        .iter()
        .map(|args| {
            let mut cmd = device.cmd(args);
            if !index {
                cmd.env("DUET_NO_INDEX", "1");
            }
            let out = cmd.output().expect("run duet");
            assert!(
                out.status.success(),
                "duet {args:?}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8(out.stdout).expect("utf-8")
        })
        .collect()
}

fn store(device: &Device) -> rusqlite::Connection {
    rusqlite::Connection::open(device.home().join("store.sqlite")).expect("open store")
}

fn rows(device: &Device) -> i64 {
    store(device)
        .query_row("SELECT COUNT(*) FROM read_index", [], |r| r.get(0))
        .expect("count")
}

#[test]
fn log_from_the_index_prints_what_the_whole_journal_prints() {
    let device = journal();
    assert_eq!(rows(&device), 6, "one row per entry, the removed one too");
    let whole = views(&device, false);
    assert!(whole[1].contains("a reply to myself") && whole[1].contains("❤️"));
    assert!(!whole[1].contains("fell flat"));
    assert_eq!(views(&device, true), whole);
    // An entry added without a daemon goes through the writer and keeps
    // the index current; the views still agree.
    device.ok(&["add", "--kind", "need", "--tag", "home", "a quiet evening"]);
    assert_eq!(rows(&device), 7);
    assert_eq!(views(&device, true), views(&device, false));
}

#[test]
fn log_reads_the_index_not_the_journal() {
    let device = journal();
    let indexed = views(&device, true);
    // With the stored changes gone (and nothing stored after what the
    // index reflects), only the index still knows the entries: what
    // `duet log` prints comes from it.
    store(&device)
        .execute("DELETE FROM envelopes", [])
        .expect("delete envelopes");
    assert_eq!(views(&device, true), indexed);
    let whole = device
        .cmd(&["--json", "log"])
        .env("DUET_NO_INDEX", "1")
        .output()
        .expect("run duet");
    assert!(!String::from_utf8_lossy(&whole.stdout).contains("Lisbon"));
}

#[test]
fn a_damaged_or_missing_index_is_rebuilt_and_log_stays_right() {
    let device = journal();
    let whole = views(&device, false);
    // Rows deleted behind duet's back.
    store(&device)
        .execute(
            "DELETE FROM read_index WHERE rowid IN (SELECT rowid FROM read_index LIMIT 2)",
            [],
        )
        .expect("delete rows");
    assert_eq!(views(&device, true), whole);
    assert_eq!(rows(&device), 6, "the index was built again");
    // One row's sealed bytes damaged.
    let (key, bytes): (Vec<u8>, Vec<u8>) = store(&device)
        .query_row(
            "SELECT key, bytes FROM read_index ORDER BY ord DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("a row");
    let mut damaged = bytes.clone();
    let last = damaged.len() - 1;
    damaged[last] ^= 0x55;
    store(&device)
        .execute(
            "UPDATE read_index SET bytes = ?1 WHERE key = ?2",
            rusqlite::params![damaged, key],
        )
        .expect("damage");
    assert_eq!(views(&device, true), whole);
    let healed: Vec<u8> = store(&device)
        .query_row("SELECT bytes FROM read_index WHERE key = ?1", [&key], |r| {
            r.get(0)
        })
        .expect("the row is there again");
    assert_ne!(healed, damaged, "the damaged row was sealed again");
    // The whole index and its state gone.
    store(&device)
        .execute_batch("DELETE FROM read_index; DELETE FROM meta WHERE key = 'read-index';")
        .expect("drop the index");
    assert_eq!(views(&device, true), whole);
    assert_eq!(rows(&device), 6);
}

#[test]
fn a_daemon_keeps_the_index_current_as_a_partners_entries_arrive() {
    use std::time::Duration;
    let wait = Duration::from_secs(60);
    let alex = journal();
    let _a = alex.daemon();
    let sam = common::pair(&alex, "Sam", "phone");
    let _s = sam.daemon();
    let mine = alex.add("written with the daemon running");
    common::eventually(wait, "Alex's entry to reach Sam", || {
        sam.has_body("daemon running")
    });
    sam.ok(&["heard", &mine]);
    sam.ok(&[
        "add",
        "--kind",
        "laugh",
        "--tag",
        "home",
        "from Sam's phone",
    ]);
    // Alex's daemon stores both and brings the index current in a
    // whole-journal job: the rows grow without any command on Alex's
    // side loading the journal.
    common::eventually(wait, "the index to take in Sam's entry", || {
        rows(&alex) == 8
    });
    common::eventually(wait, "the index to show Sam's heard mark", || {
        views(&alex, true)[1].contains("\"heard\": [\n      {\n        \"person\": \"Sam\"")
    });
    assert_eq!(views(&alex, true), views(&alex, false));
}
