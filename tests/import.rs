//! `duet import` and `duet join --bring`: an earlier journal's entries,
//! brought into the shared one with who wrote them, their dates and
//! their answers, and sent to the partner like any entry.

mod common;

use std::time::Duration;

use common::{eventually, pair, Device, Invite};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(90);

/// Whether `device` holds an entry with this id.
fn holds(device: &Device, id: &str) -> bool {
    device.run(&["show", id]).status.success()
}

/// Sam's earlier journal, shared with Jo: a gratitude of Sam's that Jo
/// answered, a dream of Jo's that Sam answered, and one Sam deleted.
/// Returns the home and the ids of Sam's entry and Jo's.
fn sams_earlier_journal() -> (Device, String, String) {
    let old = Device::init("Sam");
    let o = old.daemon();
    let jo = pair(&old, "Jo", "phone");
    let j = jo.daemon();
    let sams = old.json(&[
        "add",
        "--kind",
        "gratitude",
        "--tag",
        "walks",
        "--mood",
        "warm",
        "Thank you for the walk by the river",
    ])["id"]
        .as_str()
        .expect("id")
        .to_string();
    old.ok(&["edit", &sams, "--tag", "walks", "--tag", "sunday"]);
    let gone = old.add("taken back");
    old.ok(&["rm", "--yes", &gone]);
    eventually(WAIT, "Sam's entry to reach Jo", || holds(&jo, &sams));
    let jos = jo.json(&["add", "--kind", "dream", "A house by the sea"])["id"]
        .as_str()
        .expect("id")
        .to_string();
    jo.ok(&["react", &sams, "❤️"]);
    jo.ok(&["reply", &sams, "Jo answers"]);
    jo.ok(&["heard", &sams]);
    eventually(WAIT, "Jo's answers to reach Sam", || {
        holds(&old, &jos)
            && old.json(&["show", &sams])["heard"]
                .as_array()
                .is_some_and(|h| !h.is_empty())
    });
    old.ok(&["react", &jos, "🙂"]);
    old.ok(&["reply", &jos, "Sam answers"]);
    old.ok(&["heard", &jos]);
    j.stop();
    o.stop();
    (old, sams, jos)
}

fn people(values: &Value) -> Vec<&str> {
    values
        .as_array()
        .expect("array")
        .iter()
        .map(|v| v["person"].as_str().expect("person"))
        .collect()
}

#[test]
fn import_brings_every_entry_with_its_authorship_to_the_partner_and_twice_adds_nothing() {
    let (old, sams, jos) = sams_earlier_journal();
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let _s = sam.daemon();
    let from = old.home();
    let from = from.to_str().expect("utf-8 path");

    let first = sam.json(&["import", from]);
    assert_eq!(first["imported"], 2, "{first}");
    assert_eq!(first["by_others"], 1, "{first}");
    assert_eq!(first["already_here"], 0, "{first}");

    // Sam's own entry: Sam's, with its date, edit date, kind, tags, mood,
    // and Jo's answers kept as Jo's, imported by Sam.
    let before = old.json(&["show", &sams]);
    let mine = sam.json(&["show", &sams]);
    assert_eq!(mine["person"], "Sam");
    for field in ["created", "edited", "kind", "tags", "mood", "body"] {
        assert_eq!(mine[field], before[field], "{field}");
    }
    assert!(mine["imported"]["author"].is_null(), "{mine}");
    assert_eq!(mine["replies"][0]["body"], "Jo answers");
    assert_eq!(
        mine["replies"][0]["person"], "Sam",
        "signed by Sam's device"
    );
    assert_eq!(mine["replies"][0]["imported"]["person"], "Jo");
    assert_eq!(
        mine["replies"][0]["created"],
        before["replies"][0]["created"]
    );
    assert_eq!(people(&mine["reactions"]), Vec::<&str>::new());
    assert_eq!(people(&mine["imported"]["reactions"]), ["Jo"]);
    assert_eq!(mine["imported"]["reactions"][0]["emoji"], "❤️");
    assert_eq!(people(&mine["imported"]["heard"]), ["Jo"]);

    // Jo's entry: never shown as Sam's own, nor forged as Jo's.
    let theirs = sam.json(&["show", &jos]);
    assert_eq!(theirs["person"], "Sam");
    assert_eq!(theirs["imported"]["author"]["person"], "Jo");
    assert_eq!(theirs["kind"], "dream");
    assert_eq!(theirs["created"], old.json(&["show", &jos])["created"]);
    assert_eq!(people(&theirs["reactions"]), ["Sam"]);
    assert_eq!(people(&theirs["heard"]), ["Sam"]);
    assert_eq!(theirs["replies"][0]["body"], "Sam answers");
    assert!(theirs["replies"][0]["imported"].is_null());
    assert!(
        !sam.bodies().iter().any(|b| b == "taken back"),
        "a deleted entry is not brought"
    );

    // Alex's device receives them by sync, the same on both sides.
    eventually(WAIT, "the imported entries to reach Alex", || {
        holds(&alex, &sams) && holds(&alex, &jos)
    });
    assert_eq!(alex.json(&["show", &jos]), sam.json(&["show", &jos]));
    assert_eq!(alex.json(&["show", &sams]), sam.json(&["show", &sams]));
    let shown = alex.ok(&["show", &jos]);
    assert!(shown.contains("Jo (imported by Sam)"), "{shown}");
    let listed = alex.ok(&["log"]);
    assert!(listed.contains("❤️ Jo (imported by Sam)"), "{listed}");
    let markdown = alex.ok(&["export", "--format", "md"]);
    assert!(markdown.contains("Jo (imported by Sam)"), "{markdown}");

    let again = sam.json(&["import", from]);
    assert_eq!(again["imported"], 0, "{again}");
    assert_eq!(again["already_here"], 2, "{again}");
    assert_eq!(sam.json(&["log"]).as_array().expect("log").len(), 2);
    assert_eq!(
        old.json(&["log"]).as_array().expect("log").len(),
        2,
        "the earlier home is left as it was"
    );
}

#[test]
fn join_bring_moves_the_earlier_journal_aside_and_brings_its_entries() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = Device::init("Sam");
    let written = sam.json(&["add", "--kind", "feeling", "I felt heard today"])["id"]
        .as_str()
        .expect("id")
        .to_string();
    sam.add("Plans for the summer");
    let addr = alex.addrs().into_iter().next().expect("Alex's address");
    let join_bring = |code: &str| {
        sam.cmd(&[
            "join",
            "--bring",
            "--no-mdns",
            "--addr",
            &addr,
            "--timeout",
            "60s",
        ])
        .env("DUET_CODE", code)
        .output()
        .expect("join")
    };

    // The store is the daemon's while it runs: nothing is moved from under it.
    let running = sam.daemon();
    let refused = join_bring("1-unused-code");
    assert!(!refused.status.success());
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(said.contains("daemon is running"), "{said}");
    running.stop();

    // A join that fails leaves the home as it was.
    let invite = Invite::open(&alex, "2m");
    let failed = sam
        .cmd(&[
            "join",
            "--bring",
            "--no-mdns",
            "--addr",
            "/ip4/127.0.0.1/tcp/1",
            "--timeout",
            "5s",
        ])
        .env("DUET_CODE", &invite.code)
        .output()
        .expect("join");
    assert!(!failed.status.success());
    let said = String::from_utf8_lossy(&failed.stderr);
    assert!(
        said.contains("could not"),
        "it failed reaching, not parsing: {said}"
    );
    assert_eq!(sam.json(&["log"]).as_array().expect("log").len(), 2);
    assert!(!sam.home().join("joining").exists());
    assert!(!sam.home().join("retired").exists());

    let out = join_bring(&invite.code);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "join --bring failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let joined = invite.finish().expect("the invite reports Sam's device");
    assert_eq!(
        joined["joined"]["person"], "Sam",
        "the name Sam wrote under"
    );
    assert!(said.contains("Brought 2 entries"), "{said}");

    // The earlier journal is kept whole and readable where it says.
    let retired: Vec<_> = std::fs::read_dir(sam.home().join("retired"))
        .expect("a retired folder")
        .map(|d| d.expect("entry").path())
        .collect();
    assert_eq!(retired.len(), 1, "{retired:?}");
    let kept = retired[0].to_str().expect("utf-8 path");
    assert!(said.contains(kept), "{said}");
    let old_log = sam.json(&["--home", kept, "log"]);
    assert_eq!(old_log.as_array().expect("log").len(), 2);

    // The home now holds the shared journal, with Sam's entries in it.
    let devices = sam.json(&["devices"]);
    assert_eq!(people(&devices), ["Alex", "Sam"]);
    let entry = sam.json(&["show", &written]);
    assert_eq!(
        (entry["person"].as_str(), entry["kind"].as_str()),
        (Some("Sam"), Some("feeling"))
    );
    let _s = sam.daemon();
    eventually(WAIT, "Sam's earlier entries to reach Alex", || {
        alex.has_body("felt heard") && alex.has_body("summer")
    });
}
