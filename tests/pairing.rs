//! Pairing with real daemons on loopback: by code, by URI, a wrong code,
//! and a device that never paired.

mod common;

use std::time::{Duration, Instant};

use common::{eventually, join_with_code, pair, Device, Invite};

const LIVE: Duration = Duration::from_secs(2);

/// Adds on `from` and returns how long until `to` can read it.
fn travel_time(from: &Device, to: &Device, text: &str) -> Duration {
    let start = Instant::now();
    from.add(text);
    eventually(Duration::from_secs(30), "the entry to arrive", || {
        to.has_body(text)
    });
    start.elapsed()
}

#[test]
fn devices_paired_by_code_phrase_exchange_entries_within_seconds() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let _s = sam.daemon();
    let there = travel_time(&alex, &sam, "from Alex, by code");
    let back = travel_time(&sam, &alex, "from Sam, by code");
    assert!(there < LIVE && back < LIVE, "{there:?} / {back:?}");
    let devices = sam.json(&["devices"]);
    assert_eq!(devices.as_array().map(Vec::len), Some(2));
}

#[test]
fn devices_paired_by_uri_exchange_entries_within_seconds() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = Device::new();
    let invite = Invite::open(&alex, "2m");
    assert!(invite.uri.starts_with("duet:pair?"));
    let out = sam
        .cmd(&[
            "join",
            "--uri",
            &invite.uri,
            "--person",
            "Sam",
            "--device",
            "phone",
            "--no-mdns",
        ])
        .output()
        .expect("join");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    invite.finish().expect("joined");
    let _s = sam.daemon();
    let there = travel_time(&alex, &sam, "from Alex, by URI");
    let back = travel_time(&sam, &alex, "from Sam, by URI");
    assert!(there < LIVE && back < LIVE, "{there:?} / {back:?}");
}

#[test]
fn a_wrong_code_fails_on_both_sides_and_ends_the_invitation() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let addr = alex.addrs().remove(0);
    let invite = Invite::open(&alex, "2m");
    // Same nameplate, other words: the right invitation, the wrong secret.
    let nameplate = invite
        .code
        .split('-')
        .next()
        .expect("nameplate")
        .to_string();
    let wrong = if invite.code.ends_with("-acid") {
        format!("{nameplate}-acorn-acorn-acorn")
    } else {
        format!("{nameplate}-acid-acid-acid")
    };
    let sam = Device::new();
    let out = join_with_code(&sam, "Sam", "laptop", &wrong, &addr);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("code is wrong"), "{err}");
    // One sentence, after the progress lines.
    assert_eq!(
        err.lines().filter(|l| l.starts_with("duet:")).count(),
        1,
        "{err}"
    );
    let right_code = invite.code.clone();
    let inviter_err = invite.finish().expect_err("the invitation fails too");
    assert!(inviter_err.contains("wrong code"), "{inviter_err}");
    for key in ["device.key", "journal.key", "store.sqlite"] {
        assert!(
            !sam.home().join(key).exists(),
            "{key} must not be stored on a failed join"
        );
    }
    // The right code does not revive the ended invitation.
    let retry = join_with_code(&sam, "Sam", "laptop", &right_code, &addr);
    assert!(!retry.status.success());
    let err = String::from_utf8_lossy(&retry.stderr);
    assert!(err.contains("has no open invitation"), "{err}");
    // A new invitation works.
    let sam2 = pair(&alex, "Sam", "laptop");
    assert!(sam2.home().join("journal.key").exists());
}

#[test]
fn a_device_that_never_paired_is_refused_and_gets_nothing() {
    let alex = Device::init("Alex");
    let daemon = alex.daemon();
    alex.add("a private entry");
    let addr = alex.addrs().remove(0);
    let stranger = Device::new();
    let out = stranger
        .cmd(&[
            "join",
            "--person",
            "Mallory",
            "--no-mdns",
            "--addr",
            &addr,
            "--timeout",
            "5s",
        ])
        .env("DUET_CODE", "7-acid-acorn-acre")
        .output()
        .expect("join");
    assert!(!out.status.success());
    assert!(!stranger.home().join("journal.key").exists());
    assert!(
        !stranger.home().join("store.sqlite").exists(),
        "the stranger received nothing"
    );
    eventually(
        Duration::from_secs(10),
        "the member to log the refusal",
        || {
            daemon
                .log_text()
                .contains("refused a connection from a device that is not a member")
        },
    );
}

#[test]
fn an_invitation_expires_after_its_timeout() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let invite = Invite::open(&alex, "1s");
    let err = invite.finish().expect_err("the invitation expires");
    assert!(err.contains("expired"), "{err}");
}

#[test]
fn the_demo_pairs_two_devices_and_converges() {
    let out = std::process::Command::new(common::duet_bin())
        .arg("demo")
        .env_remove("DUET_HOME")
        .output()
        .expect("demo");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("the two journals are identical"), "{text}");
}
