//! A lost device is removed, and the key moves on: the removed device is
//! refused and told, cannot open what is written after, and the devices
//! that stay go on syncing, with nothing lost.

mod common;

use std::time::Duration;

use common::{eventually, pair, Device};
use duet_core::envelope::{self, OpenError};
use duet_core::keys::{DeviceKey, JournalKey};
use duet_core::ledger::records;
use duet_core::store::Store;

const WAIT: Duration = Duration::from_secs(60);

fn device_id(device: &Device) -> String {
    let v = device.json(&["devices"]);
    v.as_array()
        .expect("list")
        .iter()
        .find(|d| d["this_device"] == true)
        .and_then(|d| d["id"].as_str())
        .expect("this device")
        .to_string()
}

/// The newest envelope `author` wrote, as `holder` stores it.
fn newest_envelope_of(holder: &Device, author: &str) -> Vec<u8> {
    let db = rusqlite::Connection::open(holder.home().join("store.sqlite")).expect("open");
    let author = duet_core::DeviceId::from_text(author).expect("id");
    db.query_row(
        "SELECT bytes FROM envelopes WHERE author = ?1 ORDER BY seq DESC LIMIT 1",
        [author.0.as_slice()],
        |r| r.get(0),
    )
    .expect("an envelope")
}

#[test]
fn a_removed_device_is_refused_told_and_cannot_read_what_follows() {
    let laptop = Device::init("Alex");
    let _l = laptop.daemon();
    let desktop = pair(&laptop, "Sam", "desktop");
    let _d = desktop.daemon();
    let phone = pair(&laptop, "Alex", "phone");
    let p = phone.daemon();
    phone.add("from the phone, before it was lost");
    eventually(WAIT, "the phone's entry everywhere", || {
        laptop.has_body("before it was lost") && desktop.has_body("before it was lost")
    });
    p.stop();

    // The phone is lost: the laptop removes it.
    let phone_id = device_id(&phone);
    let out = laptop.run(&["devices", "remove", &phone_id[..8], "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("phone") && said.contains("Removed"), "{said}");
    let listed = laptop.ok(&["devices"]);
    assert!(listed.contains("Removed"), "{listed}");

    // Laptop and desktop go on, both ways, under the new key.
    laptop.add("after the removal, from the laptop");
    desktop.add("after the removal, from the desktop");
    eventually(WAIT, "both entries on both devices", || {
        ["from the laptop", "from the desktop"]
            .iter()
            .all(|b| laptop.has_body(b) && desktop.has_body(b))
    });
    // The removed phone is no problem for the devices that stay.
    let doctor = laptop.run(&["doctor"]);
    assert!(
        doctor.status.success(),
        "{}",
        String::from_utf8_lossy(&doctor.stdout)
    );
    // The desktop's person was told once, by whichever command ran first.
    desktop.run(&["log"]);
    let told = desktop.stderr.borrow().clone();
    assert_eq!(
        told.matches("removed Alex's device \"phone\"").count(),
        1,
        "{told}"
    );

    // The phone comes back with its old home: it is told, not let in.
    let _p = phone.daemon();
    eventually(WAIT, "the phone to be told it was removed", || {
        phone
            .ok(&["status"])
            .contains("This device was removed from the journal by Alex's test")
    });
    phone.add("from the phone, after it was removed");
    std::thread::sleep(Duration::from_secs(3));
    assert!(!laptop.has_body("after it was removed"));
    assert!(!desktop.has_body("after it was removed"));
    assert!(!phone.has_body("after the removal"));
    assert!(phone.has_body("before it was lost"));
    let doctor = phone.run(&["doctor"]);
    assert!(!doctor.status.success());
    assert!(String::from_utf8_lossy(&doctor.stdout).contains("this device was removed"));
    let again = phone.run(&["devices", "remove", &device_id(&laptop), "--yes"]);
    assert!(!again.status.success());
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("cannot remove others"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    // What the laptop wrote since, copied by hand to the phone, does not
    // open with any key the phone holds.
    let home = duet_core::home::Home::new(phone.home());
    let device = DeviceKey::read(&home.device_key_path()).expect("device key");
    let mut key = JournalKey::read(&home.journal_key_path()).expect("journal key");
    let store = Store::open(&home.store_path()).expect("store");
    records::read_epochs(&store, &device, &mut key).expect("epochs");
    assert_eq!(key.epochs(), vec![0]);
    let laptop_id = device_id(&laptop);
    let later = newest_envelope_of(&laptop, &laptop_id);
    let sealed = envelope::decode(&later).expect("decode");
    assert!(sealed.key_id.is_some(), "sealed to a new epoch");
    assert!(matches!(
        sealed.decrypt(&key),
        Err(OpenError::UnknownEpoch(_))
    ));
    assert!(key.decrypt_any(&later).is_none());
    drop(store);

    // Snapshots after the removal are sealed to the new epoch too, and
    // the devices that stay go on reading and syncing through them.
    laptop.ok(&["compact"]);
    desktop.ok(&["compact"]);
    let snapshot: Vec<u8> = rusqlite::Connection::open(laptop.home().join("store.sqlite"))
        .expect("open")
        .query_row("SELECT bytes FROM snapshot WHERE id = 1", [], |r| r.get(0))
        .expect("a snapshot");
    assert!(envelope::decode(&snapshot)
        .expect("decode")
        .key_id
        .is_some());
    assert!(laptop.has_body("before it was lost") && laptop.has_body("from the desktop"));
    desktop.add("after compacting");
    eventually(WAIT, "the desktop's entry on the laptop", || {
        laptop.has_body("after compacting")
    });
}

#[test]
fn a_device_paired_after_a_removal_reads_every_epoch() {
    let laptop = Device::init("Alex");
    let _l = laptop.daemon();
    let phone = pair(&laptop, "Alex", "phone");
    laptop.add("written in the first epoch");
    let phone_id = device_id(&phone);
    laptop.ok(&["devices", "remove", &phone_id, "--yes"]);
    laptop.add("written in the second epoch");

    let tablet = pair(&laptop, "Sam", "tablet");
    let _t = tablet.daemon();
    eventually(WAIT, "both epochs on the new device", || {
        tablet.has_body("first epoch") && tablet.has_body("second epoch")
    });
    tablet.add("the tablet writes");
    eventually(WAIT, "the tablet's entry on the laptop", || {
        laptop.has_body("the tablet writes")
    });
}

#[test]
fn leaving_takes_out_every_device_of_the_person_and_keeps_a_readable_copy() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = pair(&alex, "Sam", "desktop");
    let s = sam.daemon();
    sam.add("Sam, before leaving");
    alex.add("Alex, before Sam left");
    eventually(WAIT, "both entries on both devices", || {
        alex.has_body("before leaving") && sam.has_body("before Sam left")
    });
    let out = sam.run(&["leave", "--yes"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eventually(WAIT, "Alex's devices to learn that Sam left", || {
        alex.ok(&["devices"]).contains("Removed")
    });
    drop(s);
    alex.add("Alex, after Sam left");
    let _s = sam.daemon();
    std::thread::sleep(Duration::from_secs(3));
    assert!(!sam.has_body("after Sam left"));
    assert!(sam.has_body("Alex, before Sam left") && sam.has_body("Sam, before leaving"));
    let export = sam.ok(&["export", "--format", "md"]);
    assert!(export.contains("Alex, before Sam left"), "{export}");
    assert!(sam.ok(&["status"]).contains("it left"));
    assert!(alex.has_body("Sam, before leaving"));
}

/// A removal crossing a pairing: the desktop removes the phone while it is
/// apart from the laptop, and the laptop meanwhile pairs a tablet. The new
/// epoch was sealed to the devices the desktop knew; the tablet asks a
/// member for it when it meets an envelope sealed to it, and reads on.
#[test]
fn a_device_paired_while_a_removal_was_on_its_way_gets_the_new_key() {
    let laptop = Device::init("Alex");
    let _l = laptop.daemon();
    let desktop = pair(&laptop, "Sam", "desktop");
    let d = desktop.daemon();
    let phone = pair(&laptop, "Alex", "phone");
    eventually(WAIT, "the desktop to know the phone", || {
        desktop.ok(&["devices"]).contains("phone")
    });
    d.stop();

    // Apart: the desktop removes the phone; the laptop pairs a tablet.
    desktop.ok(&["devices", "remove", &device_id(&phone), "--yes"]);
    let tablet = pair(&laptop, "Alex", "tablet");
    let _t = tablet.daemon();

    // Together again: the desktop writes under the new epoch.
    let _d = desktop.daemon();
    desktop.add("written after the phone was removed");
    eventually(WAIT, "the entry on the laptop", || {
        laptop.has_body("after the phone was removed")
    });
    eventually(WAIT, "the tablet to get the key and read the entry", || {
        tablet.has_body("after the phone was removed")
    });
    tablet.add("the tablet writes under the new key");
    eventually(WAIT, "the tablet's entry on the desktop", || {
        desktop.has_body("the tablet writes under the new key")
    });
}

/// The devices `device` lists as removed, sorted.
fn removed_ids(device: &Device) -> Vec<String> {
    let v = device.json(&["devices"]);
    let mut out: Vec<String> = v
        .as_array()
        .expect("list")
        .iter()
        .filter(|d| !d["removed"].is_null())
        .filter_map(|d| d["id"].as_str().map(str::to_string))
        .collect();
    out.sort();
    out
}

/// Tells `who`'s store where `whom` listens, as a sync hello between them
/// would: devices paired by a third learn each other's addresses only by
/// meeting (mDNS on a real network).
fn introduce(who: &Device, whom: &Device) {
    let addrs = whom.addrs();
    assert!(!addrs.is_empty(), "the daemon listens");
    let id = duet_core::DeviceId::from_text(&device_id(whom)).expect("id");
    let store = Store::open(&duet_core::home::Home::new(who.home()).store_path()).expect("store");
    store.remember_addrs(&id, &addrs).expect("remember");
}

/// Alex's laptop and Sam's desktop, apart, remove each other. Both
/// removals stand, on every device that stays (Alex's phone, Sam's
/// tablet), whichever each heard first; what they write next is sealed to
/// an epoch neither removed device holds.
#[test]
fn two_devices_that_remove_each_other_are_both_removed_everywhere() {
    let laptop = Device::init("Alex");
    let l = laptop.daemon();
    let phone = pair(&laptop, "Alex", "phone");
    let _p = phone.daemon();
    let desktop = pair(&laptop, "Sam", "desktop");
    let d = desktop.daemon();
    let tablet = pair(&laptop, "Sam", "tablet");
    let _t = tablet.daemon();
    phone.add("the phone, before");
    tablet.add("the tablet, before");
    eventually(
        WAIT,
        "everyone to hold both entries and know every device",
        || {
            [&laptop, &phone, &desktop, &tablet].iter().all(|x| {
                x.has_body("the phone, before")
                    && x.has_body("the tablet, before")
                    && x.ok(&["devices"]).contains("tablet")
            })
        },
    );
    for (who, whom) in [
        (&phone, &tablet),
        (&tablet, &phone),
        (&desktop, &phone),
        (&desktop, &tablet),
        (&laptop, &tablet),
    ] {
        introduce(who, whom);
    }
    let connected_to = |device: &Device, name: &str| {
        device.json(&["status"])["status"]["peers"]
            .as_array()
            .is_some_and(|peers| {
                peers
                    .iter()
                    .any(|p| p["connected"] == true && p["name"] == name)
            })
    };
    eventually(WAIT, "the phone and the tablet to meet", || {
        connected_to(&phone, "tablet") && connected_to(&tablet, "phone")
    });
    l.stop();
    d.stop();

    // Apart, each removes the other.
    let (laptop_id, desktop_id) = (device_id(&laptop), device_id(&desktop));
    laptop.ok(&["devices", "remove", &desktop_id, "--yes"]);
    desktop.ok(&["devices", "remove", &laptop_id, "--yes"]);

    // Back on line, one after the other.
    let _l = laptop.daemon();
    std::thread::sleep(Duration::from_secs(2));
    let _d = desktop.daemon();
    let mut both = vec![laptop_id.clone(), desktop_id.clone()];
    both.sort();
    eventually(WAIT, "the phone and the tablet to remove both", || {
        removed_ids(&phone) == both && removed_ids(&tablet) == both
    });
    // Both removed devices are told.
    eventually(WAIT, "both removed devices to know", || {
        [&laptop, &desktop].iter().all(|x| {
            x.ok(&["status"])
                .contains("This device was removed from the journal")
        })
    });

    // The two that stay go on, under a key neither removed device holds.
    phone.add("the phone, after both were removed");
    tablet.add("the tablet, after both were removed");
    eventually(WAIT, "both new entries on both staying devices", || {
        ["the phone, after", "the tablet, after"]
            .iter()
            .all(|b| phone.has_body(b) && tablet.has_body(b))
    });
    assert!(phone.has_body("the tablet, before") && tablet.has_body("the phone, before"));
    let phone_id = device_id(&phone);
    let later = newest_envelope_of(&tablet, &phone_id);
    for removed in [&laptop, &desktop] {
        let home = duet_core::home::Home::new(removed.home());
        let device = DeviceKey::read(&home.device_key_path()).expect("device key");
        let mut key = JournalKey::read(&home.journal_key_path()).expect("journal key");
        let store = Store::open(&home.store_path()).expect("store");
        records::read_epochs(&store, &device, &mut key).expect("epochs");
        assert!(
            key.decrypt_any(&later).is_none()
                && envelope::decode(&later)
                    .expect("decode")
                    .decrypt(&key)
                    .is_err(),
            "a removed device's keys do not open what the phone wrote"
        );
    }
    std::thread::sleep(Duration::from_secs(2));
    assert!(!laptop.has_body("after both were removed"));
    assert!(!desktop.has_body("after both were removed"));
}
