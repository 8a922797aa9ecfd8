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

#[test]
fn a_home_restored_from_a_backup_takes_back_what_it_wrote_and_loses_nothing() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let s = sam.daemon();
    sam.add("before the backup");
    eventually(WAIT, "Alex to hold Sam's first entry", || {
        alex.has_body("before the backup")
    });

    // The backup: Sam's home, copied while the daemon is stopped.
    s.stop();
    let backup = sam.home().with_extension("backup");
    copy_dir(&sam.home(), &backup);

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
