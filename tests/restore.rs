//! A home restored from a backup does not lose words: once its daemon has
//! met a partner's, it takes back what it wrote after the backup (its own
//! envelopes, which the partner holds) and numbers its new envelopes after
//! them, so both devices end with every entry ever written.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{eventually, pair, Device};

const WAIT: Duration = Duration::from_secs(60);

fn copy_dir(from: &Path, to: &Path) {
    let status = Command::new("cp")
        .arg("-a")
        .arg(from)
        .arg(to)
        .status()
        .expect("cp");
    assert!(status.success());
}

/// Alex (daemon running) and Sam's laptop, paired, with one entry of
/// Sam's at both; then a backup of Sam's home, copied while its daemon is
/// stopped. Returns Alex, Alex's daemon, Sam and the backup's path.
fn paired_with_a_backup() -> (Device, common::Daemon, Device, std::path::PathBuf) {
    let alex = Device::init("Alex");
    let a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let s = sam.daemon();
    sam.add("before the backup");
    eventually(WAIT, "Alex to hold Sam's first entry", || {
        alex.has_body("before the backup")
    });
    s.stop();
    let backup = sam.home().with_extension("backup");
    copy_dir(&sam.home(), &backup);
    (alex, a, sam, backup)
}

#[test]
fn a_home_restored_from_a_backup_takes_back_what_it_wrote_and_loses_nothing() {
    let (alex, _a, sam, backup) = paired_with_a_backup();

    // Sam writes on after the backup; it reaches Alex.
    let s = sam.daemon();
    sam.add("after the backup, first");
    sam.add("after the backup, second");
    eventually(WAIT, "Alex to hold what Sam wrote after the backup", || {
        alex.has_body("after the backup, first") && alex.has_body("after the backup, second")
    });
    s.stop();

    // The laptop is restored from the backup.
    std::fs::remove_dir_all(sam.home()).expect("remove");
    copy_dir(&backup, &sam.home());
    assert!(!sam.has_body("after the backup, first"));

    // Its daemon meets Alex's and takes back its own envelopes.
    let _s = sam.daemon();
    eventually(
        WAIT,
        "Sam to take back what it wrote after the backup",
        || sam.has_body("after the backup, first") && sam.has_body("after the backup, second"),
    );
    sam.add("after the restore");
    alex.add("Alex, after Sam's restore");
    eventually(WAIT, "every entry on both devices", || {
        let all = [
            "before the backup",
            "after the backup, first",
            "after the backup, second",
            "after the restore",
            "Alex, after Sam's restore",
        ];
        all.iter().all(|b| alex.has_body(b) && sam.has_body(b))
    });
}

/// The case that loses words without healing: after the restore, the
/// laptop writes offline under a number its partner already holds for
/// another change (written after the backup). Both must survive.
#[test]
fn writing_on_a_restored_home_before_it_meets_the_partner_loses_nothing() {
    let (alex, _a, sam, backup) = paired_with_a_backup();

    // One entry after the backup reaches Alex: Alex now holds Sam's next
    // number, which the restored home will use again.
    let s = sam.daemon();
    sam.add("after the backup");
    eventually(WAIT, "Alex to hold what Sam wrote after the backup", || {
        alex.has_body("after the backup")
    });
    s.stop();

    std::fs::remove_dir_all(sam.home()).expect("remove");
    copy_dir(&backup, &sam.home());
    // Written with no daemon and no partner: the same number again.
    sam.add("offline, after the restore");
    alex.add("Alex, meanwhile");

    let _s = sam.daemon();
    let all = [
        "before the backup",
        "after the backup",
        "offline, after the restore",
        "Alex, meanwhile",
    ];
    eventually(WAIT, "every entry on both devices", || {
        all.iter().all(|b| alex.has_body(b) && sam.has_body(b))
    });
    // Later writes sync as usual, both ways.
    sam.add("Sam, online again");
    alex.add("Alex, online again");
    eventually(WAIT, "the later entries on both devices", || {
        ["Sam, online again", "Alex, online again"]
            .iter()
            .all(|b| alex.has_body(b) && sam.has_body(b))
    });
    // No entry shows twice, and status says what happened.
    for device in [&alex, &sam] {
        let bodies = device.bodies();
        assert_eq!(bodies.len(), 6, "{bodies:?}");
    }
    let status = sam.ok(&["status"]);
    assert!(status.contains("restored from a backup"), "{status}");
}

/// Two copies of one home run at once (a copied folder started on a
/// second computer): each write of either reaches the partner and the
/// other copy, and both copies say what is going on.
#[test]
fn two_copies_of_one_home_running_at_once_lose_nothing_and_are_told() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let s = sam.daemon();
    sam.add("before the copy");
    eventually(WAIT, "Alex to hold Sam's first entry", || {
        alex.has_body("before the copy")
    });
    s.stop();
    let twin = Device::new();
    std::fs::remove_dir_all(twin.dir.path()).ok();
    std::fs::create_dir_all(twin.dir.path()).expect("dir");
    copy_dir(&sam.home(), &twin.home());

    let _s = sam.daemon();
    let _t = twin.daemon();
    let mut written = vec!["before the copy".to_string()];
    for round in 0..3 {
        for (who, device) in [("laptop", &sam), ("copy", &twin)] {
            let text = format!("{who} writes, round {round}");
            device.add(&text);
            written.push(text);
        }
        // Each round meets the partner before the next.
        eventually(WAIT, "the round to reach Alex", || {
            written.iter().all(|b| alex.has_body(b))
        });
    }
    eventually(WAIT, "every entry on all three", || {
        written
            .iter()
            .all(|b| alex.has_body(b) && sam.has_body(b) && twin.has_body(b))
    });
    eventually(WAIT, "a copy to be told", || {
        [&sam, &twin].iter().any(|d| {
            d.ok(&["status"])
                .contains("Another copy of this device's home")
        })
    });
}
