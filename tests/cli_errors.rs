//! Bad input at the command line: one clear sentence, a non-zero exit, and
//! nothing changed.

mod common;

use common::Device;

/// Runs `args`, expects failure with one `duet: ...` line on stderr that
/// mentions `hint`, and checks the journal is exactly as it was.
fn fails_cleanly(device: &Device, args: &[&str], hint: &str) {
    let before = device.initialised().then(|| device.json(&["log"]));
    let out = device.run(args);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "duet {args:?} should fail");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "one sentence for {args:?}, got: {stderr}");
    assert!(lines[0].starts_with("duet: "), "{stderr}");
    assert!(lines[0].contains(hint), "`{hint}` not in: {stderr}");
    assert!(!lines[0].contains("panicked"), "{stderr}");
    if let Some(before) = before {
        assert_eq!(
            device.json(&["log"]),
            before,
            "duet {args:?} changed the journal"
        );
    }
}

trait Initialised {
    fn initialised(&self) -> bool;
}

impl Initialised for Device {
    fn initialised(&self) -> bool {
        self.home().join("store.sqlite").exists()
    }
}

#[test]
fn an_unknown_entry_id_is_one_sentence() {
    let device = Device::init("Alex");
    device.add("something true");
    for cmd in ["show", "rm", "heard"] {
        fails_cleanly(&device, &[cmd, "zzzzzzz"], "no entry has the id `zzzzzzz`");
    }
    fails_cleanly(&device, &["react", "zzzzzzz", "🙂"], "no entry");
    fails_cleanly(&device, &["reply", "zzzzzzz", "hi"], "no entry");
    fails_cleanly(&device, &["edit", "zzzzzzz", "new"], "no entry");
}

#[test]
fn an_empty_entry_is_refused() {
    let device = Device::init("Alex");
    device.add("keep me");
    fails_cleanly(&device, &["add", ""], "the entry is empty");
    fails_cleanly(&device, &["add", "   \n  "], "the entry is empty");
    let id = device.add("and me");
    fails_cleanly(&device, &["edit", &id, " "], "the entry is empty");
}

#[test]
fn an_invalid_date_is_refused() {
    let device = Device::init("Alex");
    device.add("a day");
    fails_cleanly(
        &device,
        &["log", "--since", "the day after never"],
        "is not a date duet understands",
    );
    fails_cleanly(
        &device,
        &["log", "--until", "2026-13-45"],
        "is not a date duet understands",
    );
}

#[test]
fn a_home_that_is_not_initialised_says_how_to_start() {
    let device = Device::new();
    for args in [
        &["log"][..],
        &["add", "hello"],
        &["show", "abcd"],
        &["export", "--format", "json"],
    ] {
        fails_cleanly(&device, args, "duet init --person NAME");
    }
    assert!(
        !device.home().join("store.sqlite").exists(),
        "nothing was created"
    );
}

#[test]
fn a_home_initialised_twice_is_refused_and_kept() {
    let device = Device::init("Alex");
    device.add("our first entry");
    let key = std::fs::read(device.home().join("journal.key")).expect("key");
    fails_cleanly(
        &device,
        &["init", "--person", "Sam"],
        "already holds a journal",
    );
    assert_eq!(
        std::fs::read(device.home().join("journal.key")).expect("key"),
        key
    );
    assert_eq!(device.bodies(), ["our first entry"]);
}

#[test]
fn other_bad_input_is_refused_too() {
    let device = Device::init("Alex");
    let id = device.add("mine");
    fails_cleanly(&device, &["heard", &id], "is yours");
    fails_cleanly(
        &device,
        &["export", "--format", "json", "--recipient", "age1nope"],
        "not a valid age recipient",
    );
    // A usage mistake says all clap knows, over a few lines, and exits 2.
    let out = device.run(&["add", "--kind", "rant", "x"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.starts_with("duet: ") && stderr.contains("`rant` is not a kind"),
        "{stderr}"
    );
    assert_eq!(device.bodies(), ["mine"]);
    fails_cleanly(&device, &["add"], "no text given and no editor set");
}

#[test]
fn commands_work_as_a_person_would_use_them() {
    let device = Device::init("Alex");
    let a = device.add("We should go to Lisbon in the spring.");
    device.ok(&[
        "add",
        "--kind",
        "gratitude",
        "--tag",
        "home",
        "Thanks for the soup.",
    ]);
    device.ok(&["react", &a[..5], "❤️"]);
    device.ok(&["reply", &a, "Yes! April?"]);
    let shown = device.ok(&["show", &a]);
    assert!(shown.contains("Lisbon") && shown.contains("Yes! April?") && shown.contains("❤️"));
    let listed = device.ok(&["log", "--kind", "gratitude"]);
    assert!(listed.contains("Alex · gratitude") && listed.contains("#home"));
    assert!(!listed.contains("Lisbon"));
    assert_eq!(
        device
            .json(&["log", "--search", "LISBON"])
            .as_array()
            .map(Vec::len),
        Some(1)
    );
    assert_eq!(
        device
            .json(&["log", "--since", "yesterday"])
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    assert_eq!(
        device
            .json(&["log", "--until", "yesterday"])
            .as_array()
            .map(Vec::len),
        Some(0)
    );
    assert_eq!(
        device.json(&["log", "-n", "1"]).as_array().map(Vec::len),
        Some(1)
    );
    device.ok(&["rm", "--yes", &a]);
    assert_eq!(device.bodies(), ["Thanks for the soup."]);
    let prompt = device.json(&["prompt"]);
    assert!(prompt["text"].as_str().is_some_and(|t| t.len() > 10));
}

#[test]
fn a_missing_key_or_an_emptied_store_says_what_to_restore() {
    let device = Device::init("Alex");
    device.add("words worth restoring");
    let home = device.home();
    let key = home.join("journal.key");
    let aside = home.join("journal.key.aside");
    std::fs::rename(&key, &aside).expect("move the key aside");
    let out = device.run(&["log"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("journal.key is missing") && stderr.contains("restore journal.key"),
        "{stderr}"
    );
    assert!(!stderr.contains("move it aside"), "{stderr}");
    // Nothing was changed: with the key back, everything reads.
    std::fs::rename(&aside, &key).expect("put the key back");
    assert!(device.has_body("words worth restoring"));

    let store = home.join("store.sqlite");
    let kept = std::fs::read(&store).expect("store");
    std::fs::write(&store, b"").expect("empty the store");
    let out = device.run(&["log"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("missing or empty") && stderr.contains("restore store.sqlite"),
        "{stderr}"
    );
    std::fs::write(&store, kept).expect("restore the store");
    assert!(device.has_body("words worth restoring"));
}
