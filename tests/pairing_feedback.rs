//! What pairing tells the people doing it, with real daemons on loopback:
//! the joiner's progress and whose confirmation it waits for, a separate
//! bound on that wait, an immediate answer from a device with no open
//! invitation, and the addresses `duet invite` gives for another network.

mod common;

use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Device, Invite};
use duet_daemon::client::Client;
use duet_daemon::control::InviteEvent;

#[test]
fn a_join_at_a_device_with_no_open_invitation_fails_within_five_seconds() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let addr = alex.addrs().remove(0);
    let sam = Device::new();
    let started = Instant::now();
    // mDNS stays on: the device named by --addr decides all the same.
    let out = sam
        .cmd(&["join", "--person", "Sam", "--addr", &addr])
        .env("DUET_CODE", "7-acid-acorn-acre")
        .output()
        .expect("join");
    let took = started.elapsed();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(took < Duration::from_secs(5), "took {took:?}: {err}");
    assert!(
        err.contains(&format!("the device at {addr} has no open invitation"))
            && err.contains("run `duet invite` on it first"),
        "{err}"
    );
    assert!(
        err.contains("looking for the inviting device on this network and at"),
        "{err}"
    );
    assert!(!sam.home().join("device.key").exists());
}

#[test]
fn join_says_where_it_looks_and_whose_confirmation_it_waits_for() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let addr = alex.addrs().remove(0);
    let invite = Invite::open(&alex, "2m");
    let sam = Device::new();
    let out = sam
        .cmd(&[
            "join",
            "--person",
            "Sam",
            "--device",
            "phone",
            "--no-mdns",
            "--addr",
            &addr,
        ])
        .env("DUET_CODE", &invite.code)
        .output()
        .expect("join");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{err}");
    invite.finish().expect("joined");
    assert!(
        err.contains(&format!("looking for the inviting device at {addr}…")),
        "{err}"
    );
    // The inviter's device is named as `duet devices` names it.
    let devices = alex.json(&["devices"]);
    let inviter = devices
        .as_array()
        .and_then(|d| d.iter().find(|d| d["person"] == "Alex"))
        .expect("Alex's device");
    let short = &inviter["id"].as_str().expect("id")[..8];
    let name = inviter["name"].as_str().expect("name");
    assert!(
        err.contains(&format!(
            "found Alex's {name} ({short}), waiting for Alex to confirm…"
        )),
        "{err}"
    );
    // Progress is on stderr only: stdout has the words and the result.
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(!said.contains("looking for"), "{said}");
}

#[test]
fn an_inviter_who_does_not_confirm_is_named_and_the_address_is_not_blamed() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let addr = alex.addrs().remove(0);
    // Open the invitation as `duet invite` does, then never answer.
    let client = Client::connect(&alex.home()).expect("control socket");
    let mut invitation = client
        .invite(Duration::from_secs(120), &[])
        .expect("invite");
    let Ok(InviteEvent::Opened { code, .. }) = invitation.next_event() else {
        panic!("the invitation opens with its code");
    };
    let sam = Device::new();
    let joiner = sam
        .cmd(&[
            "join",
            "--person",
            "Sam",
            "--no-mdns",
            "--addr",
            &addr,
            "--timeout",
            "60s",
            "--confirm-timeout",
            "3s",
        ])
        .env("DUET_CODE", &code)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("join");
    assert!(
        matches!(invitation.next_event(), Ok(InviteEvent::Joining { .. })),
        "the inviting side is asked"
    );
    let out = joiner.wait_with_output().expect("join ends");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("waiting for Alex to confirm…")
            && err.contains("waited 3 seconds and Alex did not confirm"),
        "{err}"
    );
    assert!(!err.contains("check the address"), "{err}");
    assert!(!sam.home().join("journal.key").exists());
}

#[test]
fn invite_gives_the_addresses_for_another_network_or_says_there_are_none() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let out = alex
        .cmd(&["invite", "--no-qr", "--timeout", "1s"])
        .output()
        .expect("invite");
    let said = String::from_utf8_lossy(&out.stdout);
    // Loopback only: no other network reaches it, and it says what to do.
    assert!(
        said.contains("only addresses on this network")
            && said.contains("--addr /ip4/PUBLIC-IP/tcp/PORT")
            && said.contains("docs/mirror.md"),
        "{said}"
    );
    let addr = alex.addrs().remove(0);
    assert!(
        said.lines().any(|l| l.trim_start().starts_with("duet join")
            && l.contains(&format!("--addr {addr}/p2p/"))),
        "{said}"
    );
    assert!(said.contains("Waiting up to 1 second."), "{said}");
    // The same, sorted, for scripts.
    let out = alex
        .cmd(&["--json", "invite", "--no-qr", "--timeout", "1s"])
        .output()
        .expect("invite");
    let first = String::from_utf8_lossy(&out.stdout);
    let v: serde_json::Value =
        serde_json::from_str(first.lines().next().expect("a line")).expect("json");
    assert_eq!(v["addrs"]["public"], serde_json::json!([]), "{v}");
    assert_eq!(v["addrs"]["relayed"], serde_json::json!([]), "{v}");
    assert!(
        v["addrs"]["local"].as_array().is_some_and(|a| a
            .iter()
            .any(|x| x.as_str().is_some_and(|x| x.starts_with(&addr)))),
        "{v}"
    );
}
