//! Pairing and starting a journal without a terminal: the requests the
//! invite and join pages make, over plain HTTP, against real daemons.

mod common;

use std::time::Duration;

use common::web::{between, Ui};

/// A camera frame of a QR code of `text`: a PNG, 6 pixels a module, with
/// the quiet zone a scanner needs, in a grey frame as a screen filmed
/// from a little way off shows it.
fn frame(text: &str) -> Vec<u8> {
    let code = qrcode::QrCode::new(text.as_bytes()).expect("fits a QR code");
    let (width, scale, margin) = (code.width() as u32, 6u32, 12u32);
    let side = (width + 2 * margin) * scale;
    let colors = code.to_colors();
    let image = image::GrayImage::from_fn(side, side, |x, y| {
        let (mx, my) = (x / scale, y / scale);
        let inside = |m: u32| m >= margin && m < width + margin;
        let edge = |m: u32| m < 4 || m >= width + 2 * margin - 4;
        let value = if inside(mx) && inside(my) {
            let dark =
                colors[((my - margin) * width + (mx - margin)) as usize] == qrcode::Color::Dark;
            if dark {
                20
            } else {
                245
            }
        } else if edge(mx) || edge(my) {
            170
        } else {
            245
        };
        image::Luma([value])
    });
    let mut png = Vec::new();
    image
        .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
        .expect("encode png");
    png
}
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
fn a_device_joins_from_the_browser_by_scanning_the_inviters_qr_code() {
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
    // The camera's frames go to /join/scan: one without a duet code,
    // then one of the inviter's QR code, whose link comes back.
    let scan = |png: &[u8]| {
        let r = sam_ui.request(
            "POST",
            "/join/scan",
            &[
                ("Cookie", &s.cookie),
                ("x-duet-csrf", &s.csrf),
                ("Content-Type", "image/png"),
            ],
            png,
        );
        assert_eq!(r.status, 200, "{r:?}");
        serde_json::from_str::<serde_json::Value>(&r.body).expect("json")
    };
    assert_eq!(scan(&frame("https://example.com/"))["found"], false);
    let scanned = scan(&frame(&uri));
    assert_eq!(scanned["found"], true, "{scanned}");
    assert_eq!(scanned["uri"], uri.as_str());
    let uri = scanned["uri"].as_str().expect("uri").to_string();
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
