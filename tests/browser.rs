//! `duet ui` in a real, headless Chromium, against real daemons: what a
//! person who never opens a terminal does, and pairing through the camera.
//!
//! Where Chromium or chromedriver is missing the tests say so and return,
//! unless `DUET_REQUIRE_BROWSER` is set (as `.ci/run` does). With
//! `DUET_SCREENSHOTS=1` they also save the main pages as PNG into
//! `docs/screenshots/`.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::browser::{Browser, Element, Options};
use common::camera;
use common::{pair, Device};

/// How long a page may take to show what a click or a peer caused.
const WAIT: Duration = Duration::from_secs(60);

/// Saves the current page as `docs/screenshots/NAME.png` when
/// `DUET_SCREENSHOTS=1`.
fn screenshot(browser: &Browser, name: &str) {
    if std::env::var_os("DUET_SCREENSHOTS").is_none_or(|v| v != "1") {
        return;
    }
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/screenshots");
    std::fs::create_dir_all(&dir).expect("docs/screenshots");
    std::fs::write(dir.join(format!("{name}.png")), browser.page_png()).expect("save screenshot");
}

/// The timeline's entry whose body contains `text`, with its id.
fn entry(browser: &Browser, text: &str) -> Option<(Element, String)> {
    browser
        .find_all("#timeline article.entry")
        .into_iter()
        .find(|e| {
            browser
                .find_in(e, ".body")
                .is_some_and(|b| browser.text(&b).contains(text))
        })
        .and_then(|e| Some((e.clone(), browser.attr(&e, "data-id")?)))
}

/// Waits for the entry whose body contains `text`.
fn wait_entry(browser: &Browser, text: &str) -> (Element, String) {
    let mut found = None;
    browser.wait_until(&format!("an entry saying {text:?}"), WAIT, |b| {
        found = entry(b, text);
        found.is_some()
    });
    found.expect("the wait returned once it was found")
}

/// The text of `css` inside the entry with `id`, as the page shows it now.
fn part(browser: &Browser, id: &str, css: &str) -> String {
    browser
        .find(&format!("#timeline article.entry[data-id=\"{id}\"] {css}"))
        .map(|e| browser.text(&e))
        .unwrap_or_default()
}

/// Waits until the entry's `css` part contains `needle`.
fn wait_part(browser: &Browser, id: &str, css: &str, needle: &str) {
    browser.wait_until(&format!("the entry's {css} to say {needle:?}"), WAIT, |b| {
        part(b, id, css).contains(needle)
    });
}

/// Fills `css` with `text`.
fn fill(browser: &Browser, css: &str, text: &str) {
    browser.fill(css, text, WAIT);
}

/// Clicks `css`.
fn click(browser: &Browser, css: &str) {
    browser.click_on(css, WAIT);
}

/// Leaves a mark in the page that a reload would erase.
fn mark(browser: &Browser) {
    browser.execute("window.duetTestMark = 'still here'; return null", vec![]);
}

/// True while the page `mark` marked has not been reloaded.
fn marked(browser: &Browser) -> bool {
    browser.execute("return window.duetTestMark || null", vec![]) == serde_json::json!("still here")
}

/// Every entry body the timeline shows now.
fn bodies(browser: &Browser) -> Vec<String> {
    browser
        .find_all("#timeline article.entry .body")
        .iter()
        .map(|b| browser.text(b))
        .collect()
}

#[test]
fn a_person_who_never_types_a_command_can_write_reply_react_and_search() {
    const NAME: &str = "a_person_who_never_types_a_command_can_write_reply_react_and_search";
    let Some(alex_sees) = Browser::start(NAME, &Options::default()) else {
        return;
    };
    let Some(sam_sees) = Browser::start(NAME, &Options::default()) else {
        return;
    };
    // Both devices run the daemon as `duet service` would; `duet ui` uses
    // it through the control socket.
    let alex = Device::init("Alex");
    let _alex_daemon = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let _sam_daemon = sam.daemon();
    let (alex_ui, sam_ui) = (alex.ui(), sam.ui());

    alex_sees.goto(&alex_ui.url);
    alex_sees.wait_for("form#write", WAIT);
    sam_sees.goto(&sam_ui.url);
    sam_sees.wait_for("#timeline", WAIT);
    // A mark that a reload would erase: the entry must arrive live.
    mark(&sam_sees);

    let written = "the sea at dawn, with you";
    fill(&alex_sees, "form#write textarea[name=text]", written);
    click(
        &alex_sees,
        "form#write select[name=kind] option[value=gratitude]",
    );
    fill(&alex_sees, "form#write input[name=tags]", "sea, us");
    fill(&alex_sees, "form#write input[name=mood]", "calm");
    screenshot(&alex_sees, "write");
    click(&alex_sees, "form#write button[type=submit]");
    let (_, id) = wait_entry(&alex_sees, written);
    assert!(
        alex_sees
            .find(&format!("article.entry[data-id=\"{id}\"] form.heard"))
            .is_none(),
        "one's own entry offers no heard button"
    );

    let (on_sams, sams_id) = wait_entry(&sam_sees, written);
    assert_eq!(sams_id, id, "both pages name the entry by the same id");
    assert!(
        marked(&sam_sees),
        "the partner's entry appeared without a reload"
    );
    assert!(
        sam_sees
            .attr(&on_sams, "class")
            .is_some_and(|c| c.split_whitespace().any(|c| c == "new")),
        "an entry that arrived since Sam last looked is marked new"
    );
    assert!(part(&sam_sees, &id, ".person").contains("Alex"));
    assert!(part(&sam_sees, &id, ".kind").contains("gratitude"));
    assert!(part(&sam_sees, &id, ".tags").contains("sea"));
    assert!(part(&sam_sees, &id, ".mood").contains("calm"));

    // Sam starts a reply; meanwhile Alex writes again, and Sam's timeline
    // takes the new entry in without losing the half-written reply.
    let entry_css = format!("#timeline article.entry[data-id=\"{id}\"]");
    let reply_box = format!("{entry_css} form.reply textarea[name=text]");
    fill(&sam_sees, &reply_box, "I remember it too");
    let other = "a quiet walk in the rain";
    fill(&alex_sees, "form#write textarea[name=text]", other);
    click(&alex_sees, "form#write button[type=submit]");
    wait_entry(&alex_sees, other);
    wait_entry(&sam_sees, other);
    let draft = sam_sees
        .find(&reply_box)
        .and_then(|b| sam_sees.prop(&b, "value"))
        .unwrap_or_default();
    assert_eq!(draft, "I remember it too", "the live update kept the draft");
    mark(&alex_sees);

    // Sam replies, reacts and marks it heard, each a form on the entry.
    click(&sam_sees, &format!("{entry_css} form.reply [type=submit]"));
    wait_part(
        &sam_sees,
        &id,
        ".replies article.reply .body",
        "I remember it too",
    );
    click(
        &sam_sees,
        &format!("{entry_css} form.react button[name=emoji][value=\"❤️\"]"),
    );
    wait_part(&sam_sees, &id, ".reactions", "❤️");
    click(&sam_sees, &format!("{entry_css} form.heard [type=submit]"));
    wait_part(&sam_sees, &id, ".heard", "Sam");
    assert!(
        sam_sees.find(&format!("{entry_css} form.heard")).is_none(),
        "an entry already heard offers no heard button"
    );
    screenshot(&sam_sees, "timeline");

    // Alex sees all three without reloading.
    wait_part(
        &alex_sees,
        &id,
        ".replies article.reply .body",
        "I remember it too",
    );
    wait_part(&alex_sees, &id, ".replies article.reply .person", "Sam");
    wait_part(&alex_sees, &id, ".reactions", "❤️");
    wait_part(&alex_sees, &id, ".heard", "Sam");
    assert!(
        marked(&alex_sees),
        "Alex's page took them in without a reload"
    );

    // Search finds the entry and not the other one.
    fill(&alex_sees, "form#search input[name=search]", "dawn");
    click(&alex_sees, "form#search [type=submit]");
    alex_sees.wait_until("the search results", WAIT, |b| {
        b.url().contains("search=dawn")
    });
    let found = bodies(&alex_sees);
    assert!(found.iter().any(|b| b.contains(written)), "{found:?}");
    assert!(!found.iter().any(|b| b.contains(other)), "{found:?}");

    // The rest through the page's own links, as a person goes.
    click(&alex_sees, "nav a#nav-devices");
    let devices = alex_sees.wait_for("table#devices", WAIT);
    assert_eq!(alex_sees.find_all("table#devices tr.device").len(), 2);
    assert!(alex_sees.text(&devices).contains("Sam"));
    screenshot(&alex_sees, "devices");
    click(&alex_sees, "nav a#nav-status");
    alex_sees.wait_for_text("#status", "Sam", WAIT);
    screenshot(&alex_sees, "status");
}

#[test]
fn pairing_entirely_in_the_browser_with_the_camera() {
    const NAME: &str = "pairing_entirely_in_the_browser_with_the_camera";
    let Some(alex_sees) = Browser::start(NAME, &Options::default()) else {
        return;
    };
    let alex = Device::init("Alex");
    let before = "written before the laptop joined";
    alex.add(before);
    // No daemon runs: `duet ui` runs it in-process.
    let alex_ui = alex.ui();
    alex_sees.goto(&alex_ui.url);
    alex_sees.wait_for("#timeline", WAIT);
    click(&alex_sees, "nav a#nav-invite");
    click(&alex_sees, "#invite-start");
    let qr = alex_sees.wait_visible("#qr", WAIT);
    let code = alex_sees.text(&alex_sees.wait_for("#code", WAIT));
    assert!(code.split('-').count() >= 2, "a code phrase: {code:?}");
    let uri = alex_sees.text(&alex_sees.wait_for("#invite-uri", WAIT));
    assert!(uri.starts_with("duet:pair?"), "{uri:?}");
    screenshot(&alex_sees, "invite");

    let dir = tempfile::tempdir().expect("tempdir");
    let video = dir.path().join("qr.y4m");
    let in_video =
        camera::write_qr_video(&alex_sees.element_png(&qr), &video).expect("the camera's video");
    assert_eq!(
        in_video.as_deref(),
        Some(uri.as_str()),
        "the QR code on the invite page holds the invitation's URI"
    );

    let sam = Device::new();
    let sam_ui = sam.ui();
    let Some(sam_sees) = Browser::start(
        NAME,
        &Options {
            camera: Some(&video),
        },
    ) else {
        return;
    };
    // A home without a journal opens on the welcome page, which leads to
    // joining.
    sam_sees.goto(&sam_ui.url);
    sam_sees.wait_for("form#init-form", WAIT);
    click(&sam_sees, "a#join-link");
    fill(&sam_sees, "form#join-form input[name=person]", "Sam");
    fill(&sam_sees, "form#join-form input[name=device]", "laptop");
    click(&sam_sees, "#scan");
    sam_sees.wait_visible("#scanned", WAIT);
    let scanned = sam_sees
        .find("form#join-form input[name=uri]")
        .and_then(|u| sam_sees.prop(&u, "value"))
        .unwrap_or_default();
    assert_eq!(scanned, uri, "the camera read the inviter's QR code");
    screenshot(&sam_sees, "join");
    click(&sam_sees, "#join-submit");

    // Both pages show the same verification words; Alex confirms.
    let words_of = |browser: &Browser| {
        let mut words = String::new();
        browser.wait_until("the verification words", WAIT, |b| {
            words = b.find("#words").map(|w| b.text(&w)).unwrap_or_default();
            !words.trim().is_empty()
        });
        words
    };
    let (alex_words, sam_words) = (words_of(&alex_sees), words_of(&sam_sees));
    assert_eq!(alex_words.trim(), sam_words.trim());
    assert_eq!(
        alex_words.trim().split('-').count(),
        3,
        "three words as `duet invite` shows them: {alex_words:?}"
    );
    click(&alex_sees, "#confirm");
    alex_sees.wait_for_text("#outcome", "joined", WAIT);
    // The joining page says so, or goes on to the timeline by itself.
    sam_sees.wait_until("Sam's page to say it joined", WAIT, |b| {
        b.url().contains("/timeline")
            || b.find("#outcome")
                .is_some_and(|o| b.text(&o).contains("joined"))
    });

    // Sam's laptop now holds Alex's journal.
    click(&sam_sees, "nav a#nav-timeline");
    // It may still be syncing when the page loads; the page updates live.
    wait_entry(&sam_sees, before);
}
