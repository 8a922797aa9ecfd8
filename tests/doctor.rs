//! `duet doctor` says what is wrong in plain sentences, with what fixes
//! it, and `--repair` fixes what can be fixed on the device alone.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use common::{eventually, pair, Device};

const WAIT: Duration = Duration::from_secs(60);

fn doctor(device: &Device, args: &[&str]) -> (bool, String) {
    let mut all = vec!["doctor"];
    all.extend_from_slice(args);
    let out = device.run(&all);
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

#[test]
fn repair_makes_the_keys_private_again() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let (ok, said) = doctor(&alex, &[]);
    assert!(ok, "{said}");
    assert!(said.contains("Nothing is wrong"), "{said}");

    let key = alex.home().join("journal.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (ok, said) = doctor(&alex, &[]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("journal.key can be read by other users") && said.contains("--repair"),
        "{said}"
    );
    // Checking alone changes nothing.
    let mode = std::fs::metadata(&key).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o644);

    let (ok, said) = doctor(&alex, &["--repair"]);
    assert!(ok, "{said}");
    assert!(
        said.contains("repaired: journal.key is now yours alone"),
        "{said}"
    );
    let mode = std::fs::metadata(&key).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
}

#[test]
fn peers_clocks_and_addresses_are_checked() {
    let alex = Device::init("Alex");
    let a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let s = sam.daemon();
    eventually(WAIT, "the two daemons to meet", || {
        let v = sam.json(&["status"]);
        v["status"]["peers"][0]["connected"] == true
    });
    // The daemons told each other their clocks: the same machine's.
    eventually(WAIT, "Sam's clock to be known to Alex", || {
        let v = alex.json(&["status"]);
        v["status"]["peers"][0]["clock_ahead"].is_i64()
    });
    let ahead = alex.json(&["status"])["status"]["peers"][0]["clock_ahead"]
        .as_i64()
        .expect("clock");
    assert!(ahead.abs() < 10_000, "{ahead} ms on one machine");
    let (ok, said) = doctor(&alex, &[]);
    assert!(ok, "{said}");
    assert!(
        said.contains("Sam's laptop is connected") && said.contains("the daemon listens on"),
        "{said}"
    );
    s.stop();
    a.stop();

    // Sam's clock, as last said, three hours ahead.
    let db = rusqlite::Connection::open(alex.home().join("store.sqlite")).expect("open");
    db.execute("UPDATE peers SET clock_ahead = ?1", [3 * 3_600_000i64])
        .expect("update");
    drop(db);
    let (ok, said) = doctor(&alex, &[]);
    assert!(!ok, "{said}");
    assert!(
        said.contains("Sam's laptop's clock is about 3 hours ahead of this device's")
            && said.contains("automatic date and time"),
        "{said}"
    );
}
