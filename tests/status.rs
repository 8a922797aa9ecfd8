//! What `duet status`, `duet sync` and the daemon's log tell a person:
//! accurate right after a sync, in entries and device names, and plain
//! text in a log file.

mod common;

use std::time::Duration;

use common::{eventually, pair, Device};

const WAIT: Duration = Duration::from_secs(60);
/// Well under the daemons' 10-second comparison of vectors, which would
/// hide a status that only becomes right then.
const SOON: Duration = Duration::from_secs(5);

/// The device id of `who`'s device named `name`, as `duet devices` lists it.
fn device_id(of: &Device, person: &str, name: &str) -> String {
    of.json(&["devices"])
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["person"] == person && d["name"] == name)
        .and_then(|d| d["id"].as_str())
        .expect("the device is listed")
        .to_string()
}

/// `who`'s status of the peer with device id `peer`.
fn peer_status(who: &Device, peer: &str) -> serde_json::Value {
    let status = who.json(&["status"]);
    assert_eq!(status["daemon_running"], true, "{status}");
    status["status"]["peers"]
        .as_array()
        .expect("peers")
        .iter()
        .find(|p| p["device_id"] == peer)
        .cloned()
        .expect("the peer is in the status")
}

fn nothing_waits(peer: &serde_json::Value) -> bool {
    peer["waiting"] == 0
        && peer["to_go"] == serde_json::json!({ "entries": 0, "replies": 0, "other": 0 })
}

#[test]
fn right_after_an_entry_arrives_nothing_waits_to_go_back_to_the_partner() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let _s = sam.daemon();
    let alex_id = device_id(&alex, "Alex", &alex_name(&alex));
    let sam_id = device_id(&alex, "Sam", "laptop");
    eventually(WAIT, "the two daemons to connect", || {
        peer_status(&alex, &sam_id)["connected"] == true
            && peer_status(&sam, &alex_id)["connected"] == true
    });

    sam.add("a walk by the river");
    eventually(WAIT, "Sam's entry to reach Alex", || {
        alex.has_body("by the river")
    });
    let seen = peer_status(&alex, &sam_id);
    assert!(
        nothing_waits(&seen),
        "Alex's device holds nothing Sam's lacks: {seen}"
    );
    let text = alex.ok(&["status"]);
    assert!(text.contains("nothing waiting to go"), "{text}");
    assert!(!text.contains("envelope"), "{text}");
    eventually(SOON, "Sam's status to see that Alex has it", || {
        nothing_waits(&peer_status(&sam, &alex_id))
    });

    // A change that has not gone yet is counted as what it is.
    alex.add("one for Sam");
    eventually(WAIT, "Alex's entry to reach Sam", || {
        sam.has_body("one for Sam")
    });
    let seen = peer_status(&sam, &alex_id);
    assert!(nothing_waits(&seen), "{seen}");
}

/// The name `duet init` gave this device.
fn alex_name(alex: &Device) -> String {
    alex.json(&["devices"])
        .as_array()
        .expect("devices")
        .iter()
        .find(|d| d["this_device"] == true)
        .and_then(|d| d["name"].as_str())
        .expect("this device")
        .to_string()
}

#[test]
fn status_and_sync_name_the_partner_as_duet_devices_does() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let _s = sam.daemon();
    let sam_id = device_id(&alex, "Sam", "laptop");
    let short = &sam_id[..8];
    eventually(WAIT, "the two daemons to connect", || {
        peer_status(&alex, &sam_id)["connected"] == true
    });
    let synced = alex.ok(&["sync"]);
    let named = format!("Sam's laptop ({short})");
    assert!(synced.contains(&named), "{synced}");
    assert!(!synced.contains(&sam_id), "no bare device id: {synced}");
    assert!(!synced.contains("envelope"), "{synced}");
    let json = alex.json(&["sync"]);
    let peer = &json["peers"][0];
    assert_eq!(peer["device_id"], sam_id.as_str(), "{json}");
    assert_eq!(peer["person"], "Sam", "{json}");
    assert!(peer["received_tally"]["entries"].is_u64(), "{json}");

    let status = alex.ok(&["status"]);
    assert!(status.contains(short) && status.contains("Sam"), "{status}");
    assert!(!status.contains(&sam_id), "{status}");
}

#[test]
fn a_daemon_logging_to_a_file_writes_plain_text_naming_devices_as_duet_devices_does() {
    let alex = Device::init("Alex");
    let a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let s = sam.daemon_with(&[("NO_COLOR", "1")]);
    let sam_id = device_id(&alex, "Sam", "laptop");
    let alex_id = device_id(&alex, "Alex", &alex_name(&alex));
    eventually(WAIT, "the two daemons to connect", || {
        peer_status(&alex, &sam_id)["connected"] == true
    });
    let named = format!("Sam/{}", &sam_id[..8]);
    eventually(WAIT, "Alex's log to name Sam's device", || {
        a.log_text().contains(&named)
    });
    eventually(WAIT, "Sam's log to name Alex's device", || {
        s.log_text().contains(&format!("Alex/{}", &alex_id[..8]))
    });
    let peer_id = |id: &str| {
        let device = duet_core::DeviceId::from_text(id).expect("a device id");
        duet_daemon::identity::peer_id(&device)
            .expect("an ed25519 key")
            .to_string()
    };
    for (log, other) in [(&a, &sam_id), (&s, &alex_id)] {
        let bytes = std::fs::read(&log.log).expect("the log");
        assert!(
            !bytes.contains(&0x1b),
            "no colour codes in a log file:\n{}",
            String::from_utf8_lossy(&bytes)
        );
        // Only while it joined, not a member yet, may a device appear by
        // its libp2p id.
        let text = String::from_utf8_lossy(&bytes);
        let by_peer_id = text
            .lines()
            .filter(|l| l.contains(&peer_id(other)))
            .find(|l| !l.contains("not a member"));
        assert!(
            by_peer_id.is_none(),
            "a member is never named by its libp2p id:\n{text}"
        );
    }
}
