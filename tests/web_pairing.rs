//! Pairing and starting a journal without a terminal: the requests the
//! invite and join pages make, over plain HTTP, against real daemons.

mod common;

use std::time::Duration;

use common::web::{between, Ui};
use common::{eventually, Device};

#[test]
fn a_new_home_starts_a_journal_from_the_welcome_page() {
    let jo = Device::new();
    let ui = Ui::start(&jo, &[]);
    let session = ui.session();
    let r = ui.get(&session, "/timeline");
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/welcome"));
    let welcome = ui.get(&session, "/welcome").body;
    assert!(welcome.contains("form id=\"init-form\"") && welcome.contains("a id=\"join-link\""));
    let r = ui.post(
        &session,
        "/welcome",
        &[("person", "  "), ("device", "desk")],
    );
    assert_eq!(r.status, 400, "an empty name is refused: {r:?}");
    let r = ui.post(
        &session,
        "/welcome",
        &[("person", "Jo"), ("device", "desk")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(ui.get(&session, "/timeline").status, 200);
    let devices = jo.json(&["devices"]);
    assert_eq!(devices[0]["person"], "Jo");
    assert_eq!(devices[0]["name"], "desk");
    // The app started the daemon for the new journal.
    eventually(Duration::from_secs(20), "the daemon to run", || {
        jo.json(&["status"])["daemon_running"] == true
    });
    ui.post(&session, "/entries", &[("text", "first words")]);
    assert!(jo.has_body("first words"));
    ui.stop();
}

#[test]
fn a_device_joins_from_the_browser_with_the_inviters_qr_link() {
    let alex = Device::init("Alex");
    let alex_ui = Ui::start(&alex, &[]);
    let a = alex_ui.session();
    alex_ui.post(&a, "/entries", &[("text", "written before Sam joined")]);

    let sam = Device::new();
    let sam_ui = Ui::start(&sam, &[]);
    let s = sam_ui.session();

    let r = alex_ui.post(&a, "/invite", &[]);
    assert_eq!(r.status, 303, "{r:?}");
    let page = alex_ui.get(&a, "/invite").body;
    let code = between(&page, "<strong id=\"code\">", "<").to_string();
    let uri = between(&page, "<code id=\"invite-uri\">", "<").replace("&amp;", "&");
    assert!(code.split('-').count() >= 3, "{code}");
    assert!(uri.starts_with("duet:pair?"), "{uri}");
    assert!(page.contains("id=\"qr\"") && page.contains("src=\"data:image/svg+xml;base64,"));
    assert_eq!(alex_ui.json(&a, "/invite/state")["state"], "waiting");

    let join = sam_ui.get(&s, "/join").body;
    for hook in [
        "form id=\"join-form\"",
        "button id=\"scan\"",
        "video id=\"camera\"",
        "button id=\"join-submit\"",
    ] {
        assert!(join.contains(hook), "{hook} missing");
    }
    let addr = alex
        .addrs()
        .into_iter()
        .next()
        .expect("Alex's daemon listens");
    let r = sam_ui.post(
        &s,
        "/join",
        &[
            ("person", "Sam"),
            ("device", "laptop"),
            ("uri", &uri),
            ("addr", &addr),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");

    let mut words = String::new();
    eventually(
        Duration::from_secs(60),
        "both pages to show the words",
        || {
            let joining = sam_ui.json(&s, "/join/state");
            let inviting = alex_ui.json(&a, "/invite/state");
            assert_ne!(joining["state"], "failed", "{joining}");
            if joining["state"] == "confirm" && inviting["state"] == "confirm" {
                words = joining["words"].as_str().unwrap_or_default().to_string();
                assert_eq!(
                    inviting["words"], joining["words"],
                    "the same words on both"
                );
                return true;
            }
            false
        },
    );
    assert_eq!(words.split('-').count(), 3, "{words}");
    let r = alex_ui.post(&a, "/invite/answer", &[("accept", "yes")]);
    assert_eq!(r.status, 303, "{r:?}");
    eventually(Duration::from_secs(60), "the join to finish", || {
        sam_ui.json(&s, "/join/state")["state"] == "done"
    });
    eventually(Duration::from_secs(10), "the inviter's outcome", || {
        alex_ui.json(&a, "/invite/state")["outcome"] == "Sam's laptop joined."
    });
    // Sam's page now shows Alex's journal, and Sam's app runs the daemon
    // that keeps it in step.
    eventually(
        Duration::from_secs(30),
        "Alex's entry on Sam's timeline",
        || {
            sam_ui
                .get(&s, "/timeline")
                .body
                .contains("written before Sam joined")
        },
    );
    sam_ui.post(&s, "/entries", &[("text", "hello from Sam's browser")]);
    eventually(Duration::from_secs(30), "Sam's entry at Alex", || {
        alex_ui
            .get(&a, "/timeline?fragment=1")
            .body
            .contains("hello from Sam&#39;s browser")
    });
    sam_ui.stop();
    alex_ui.stop();
}
