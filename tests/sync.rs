//! Sync between real daemons on loopback: offline edits and conflicts,
//! three devices, and a daemon killed in the middle of a transfer.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{eventually, pair, Device};

const WAIT: Duration = Duration::from_secs(60);

fn log_of(d: &Device) -> serde_json::Value {
    d.json(&["log"])
}

#[test]
fn offline_devices_merge_and_show_concurrent_edits_as_a_conflict_on_both() {
    let laptop = Device::init("Alex");
    let a = laptop.daemon();
    let desktop = pair(&laptop, "Alex", "desktop");
    let d = desktop.daemon();
    let shared = laptop.add("the entry both will edit");
    eventually(WAIT, "the first entry to reach the desktop", || {
        desktop.has_body("both will edit")
    });
    // An answer goes through the daemon with its question, and the
    // partner's device shows both.
    laptop.ok(&["prompt", "--answer", "the", "sea", "at", "dawn"]);
    eventually(WAIT, "the answer to reach the desktop", || {
        desktop.has_body("the sea at dawn")
    });
    let question = laptop.json(&["prompt"])["text"].clone();
    assert_eq!(log_of(&desktop)[0]["prompt"], question);
    assert!(desktop.ok(&["log"]).contains("Q: "));
    a.stop();
    let stopped_in = d.stop();
    assert!(
        stopped_in < Duration::from_secs(2),
        "SIGTERM took {stopped_in:?}"
    );

    laptop.add("written on the laptop while apart");
    desktop.add("written on the desktop while apart");
    laptop.ok(&["edit", &shared, "edited on the laptop"]);
    desktop.ok(&["edit", &shared, "edited on the desktop"]);

    let _a = laptop.daemon();
    let _d = desktop.daemon();
    eventually(WAIT, "both devices to hold every entry", || {
        laptop.has_body("desktop while apart") && desktop.has_body("laptop while apart")
    });
    eventually(WAIT, "both journals to be identical", || {
        log_of(&laptop) == log_of(&desktop)
    });
    for device in [&laptop, &desktop] {
        let entry = device.json(&["show", &shared]);
        let mut versions = vec![entry["body"].as_str().expect("body").to_string()];
        versions.extend(
            entry["conflicts"]
                .as_array()
                .expect("conflicts")
                .iter()
                .map(|v| v.as_str().expect("str").to_string()),
        );
        versions.sort();
        assert_eq!(versions, ["edited on the desktop", "edited on the laptop"]);
        assert!(device.ok(&["log"]).contains("2 versions"));
        // Who wrote it and who edited it last, from the signed changes.
        let ids: Vec<String> = device
            .json(&["devices"])
            .as_array()
            .expect("devices")
            .iter()
            .map(|d| d["id"].as_str().expect("id").to_string())
            .collect();
        assert_eq!(entry["device"], ids[0].as_str());
        let by = entry["edited_by"].as_str().expect("edited_by");
        assert!(ids.iter().any(|id| id == by), "{by}");
        let shown = device.ok(&["show", &shared]);
        assert!(
            shown.contains("written ")
                && shown.contains("(edited ")
                && shown.contains(" on Alex's "),
            "{shown}"
        );
    }
}

#[test]
fn three_devices_converge_through_the_one_they_share() {
    let laptop = Device::init("Alex");
    let _l = laptop.daemon();
    let sam = pair(&laptop, "Sam", "laptop");
    let _s = sam.daemon();
    eventually(WAIT, "Sam to connect", || {
        sam.json(&["status"])["status"]["peers"][0]["connected"] == true
    });
    let desktop = pair(&laptop, "Alex", "desktop");
    let _d = desktop.daemon();
    desktop.add("hello from Alex's desktop");
    sam.add("hello from Sam's laptop");
    laptop.add("hello from Alex's laptop");
    for device in [&laptop, &sam, &desktop] {
        eventually(WAIT, "every entry everywhere", || {
            device.has_body("Alex's desktop")
                && device.has_body("Sam's laptop")
                && device.has_body("Alex's laptop")
        });
    }
    eventually(WAIT, "identical journals", || {
        let l = log_of(&laptop);
        l == log_of(&sam) && l == log_of(&desktop)
    });
    let devices = sam.json(&["devices"]);
    let names: Vec<String> = devices
        .as_array()
        .expect("list")
        .iter()
        .map(|d| {
            format!(
                "{} {}",
                d["person"].as_str().unwrap_or(""),
                d["name"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert!(names.contains(&"Alex desktop".to_string()), "{names:?}");
    // Sam was told, once, on whichever command ran first after it arrived.
    sam.ok(&["log", "-n", "1"]);
    let told = sam.stderr.borrow().clone();
    let notices: Vec<&str> = told.lines().filter(|l| l.contains("notice")).collect();
    assert_eq!(notices.len(), 1, "one notice: {told}");
    assert!(
        notices[0].contains("desktop") && notices[0].contains("Alex"),
        "{told}"
    );
}

#[test]
fn a_daemon_killed_mid_transfer_finishes_it_after_restart_without_loss_or_duplicates() {
    let alex = Device::init("Alex");
    let a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    a.stop();
    // A long history written while Sam was away, kept as envelopes so the
    // transfer is many messages, not one snapshot.
    const N: usize = 1500;
    {
        let mut replica = duet_core::home::Home::new(alex.home())
            .open()
            .expect("open");
        replica.set_compact_after(usize::MAX);
        for i in 0..N {
            let new = duet_core::journal::NewEntry {
                body: format!(
                    "history entry {i}: we walked by the river and talked about the future"
                ),
                ..Default::default()
            };
            replica
                .commit(|j, a| j.add_entry(a, new, 1_700_000_000_000 + i as i64))
                .expect("add");
        }
    }
    let _a = alex.daemon_with(&[("DUET_COMPACT_AFTER", "1000000")]);
    let s = sam.daemon_with(&[("DUET_COMPACT_AFTER", "1000000")]);
    let store = sam.home().join("store.sqlite");
    let count = || -> i64 {
        rusqlite::Connection::open(&store)
            .and_then(|c| c.query_row("SELECT COUNT(*) FROM envelopes", [], |r| r.get(0)))
            .unwrap_or(0)
    };
    // Kill as early into the transfer as can be seen, polling closely, so
    // a fast machine does not finish it first.
    let started = std::time::Instant::now();
    while count() <= 5 {
        assert!(started.elapsed() < WAIT, "the transfer never started");
        std::thread::sleep(Duration::from_millis(1));
    }
    let at_kill = count();
    s.kill();
    assert!(
        at_kill < N as i64,
        "the transfer finished before the kill ({at_kill}); the test proved nothing"
    );
    let _s = sam.daemon_with(&[("DUET_COMPACT_AFTER", "1000000")]);
    eventually(WAIT, "the transfer to complete", || {
        sam.json(&["log"]).as_array().map_or(0, Vec::len) == N
    });
    let bodies = sam.bodies();
    let unique: HashSet<&String> = bodies.iter().collect();
    assert_eq!(unique.len(), N, "no entry lost or duplicated");
    eventually(WAIT, "identical journals", || log_of(&alex) == log_of(&sam));
    let check: String = rusqlite::Connection::open(&store)
        .expect("open")
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .expect("check");
    assert_eq!(check, "ok");
}

#[test]
fn a_second_daemon_on_the_same_home_refuses_to_start() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let out = alex.run(&["daemon", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("already running"), "{err}");
}

#[test]
fn invite_and_sync_say_clearly_when_no_daemon_runs() {
    let alex = Device::init("Alex");
    for cmd in ["invite", "sync"] {
        let out = alex.run(&[cmd]);
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("duet daemon"), "{cmd}: {err}");
        assert_eq!(err.lines().count(), 1, "{err}");
    }
    let status = alex.json(&["status"]);
    assert_eq!(status["daemon_running"], false);
}

#[test]
fn a_device_learns_where_its_partner_listens_from_the_sync_hello() {
    let laptop = Device::init("Alex");
    let _a = laptop.daemon();
    let desktop = pair(&laptop, "Alex", "desktop");
    // Only the desktop dials (it knows the laptop's address from pairing);
    // the laptop learns where the desktop listens from its hello.
    let _d = desktop.daemon();
    let desktop_addrs = desktop.addrs();
    assert!(!desktop_addrs.is_empty());
    let store = laptop.home().join("store.sqlite");
    eventually(WAIT, "the laptop to remember the desktop's address", || {
        let Ok(db) = rusqlite::Connection::open(&store) else {
            return false;
        };
        let remembered: Vec<String> = db
            .prepare("SELECT addrs FROM peers")
            .and_then(|mut s| {
                s.query_map([], |r| r.get::<_, String>(0))
                    .and_then(|rows| rows.collect())
            })
            .unwrap_or_default();
        desktop_addrs
            .iter()
            .any(|a| remembered.iter().any(|r| r.contains(a.as_str())))
    });
}
