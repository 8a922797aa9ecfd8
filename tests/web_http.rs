//! `duet ui` over plain HTTP, as a person's browser uses it: write an
//! entry, reply, react, mark heard, search, see the partner's entry
//! arrive live, export; and nothing of it on disk in the clear or in the
//! process's output.

mod common;

use std::time::Duration;

use common::web::{between, Events, Ui};
use common::{assert_not_in_clear_under, eventually, pair, Device};

/// The inside of the `article.entry` whose body holds `needle`.
fn article<'a>(page: &'a str, needle: &str) -> &'a str {
    let at = page
        .find(needle)
        .unwrap_or_else(|| panic!("{needle} not on the page"));
    let start = page[..at]
        .rfind("<article class=\"entry")
        .expect("its article");
    let end = page[at..]
        .find("</form></article>")
        .map_or(page.len(), |i| at + i);
    &page[start..end]
}

#[test]
fn a_person_writes_replies_reacts_and_searches_with_plain_http() {
    let alex = Device::init("Alex");
    let ui = Ui::start(&alex, &[]);
    let session = ui.session();

    let page = ui.get(&session, "/timeline").body;
    for hook in [
        "form id=\"write\"",
        "id=\"prompt\"",
        "form id=\"search\"",
        "id=\"timeline\"",
        "id=\"nav-timeline\"",
        "id=\"nav-invite\"",
        "id=\"nav-devices\"",
        "id=\"nav-status\"",
    ] {
        assert!(page.contains(hook), "{hook} missing");
    }

    let r = ui.post(
        &session,
        "/entries",
        &[
            ("text", "We walked <b>by the river</b>"),
            ("kind", "memory"),
            ("tags", "walk, #river"),
            ("mood", "calm"),
        ],
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert_eq!(r.header("location"), Some("/timeline"));
    ui.post(
        &session,
        "/entries",
        &[("text", "Thank you for the soup"), ("kind", "gratitude")],
    );

    // It is in the journal as `duet log` reads it.
    let log = alex.json(&["log"]);
    let entries = log.as_array().expect("entries");
    let walk = entries
        .iter()
        .find(|e| e["body"] == "We walked <b>by the river</b>")
        .expect("the entry is in duet log");
    assert_eq!(walk["kind"], "memory");
    assert_eq!(walk["tags"], serde_json::json!(["walk", "river"]));
    assert_eq!(walk["mood"], "calm");
    let id = walk["id"].as_str().expect("id").to_string();

    // The timeline shows it, escaped, newest first.
    let page = ui.get(&session, "/timeline").body;
    assert!(
        page.contains("We walked &lt;b&gt;by the river&lt;/b&gt;"),
        "{page}"
    );
    assert!(!page.contains("<b>by the river</b>"));
    assert!(page.find("Thank you for the soup") < page.find("We walked"));
    let entry = article(&page, "We walked");
    assert!(entry.contains(&format!("data-id=\"{id}\"")));
    assert!(
        entry.contains("class=\"kind\">memory<")
            && entry.contains("#walk")
            && entry.contains("mood: calm")
    );
    // One's own entry has no "heard" button.
    assert!(!entry.contains("form class=\"heard\""));

    let r = ui.post(
        &session,
        &format!("/entry/{id}/reply"),
        &[("text", "And the heron!")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let r = ui.post(&session, &format!("/entry/{id}/react"), &[("emoji", "🤗")]);
    assert_eq!(r.status, 303, "{r:?}");
    let r = ui.post(
        &session,
        &format!("/entry/{id}/react"),
        &[("emoji", "❤️"), ("emoji-custom", "wow")],
    );
    assert_eq!(r.status, 303, "{r:?}");
    let page = ui.get(&session, "/timeline").body;
    let entry = article(&page, "We walked");
    assert!(entry.contains("<article class=\"reply\""), "{entry}");
    assert!(entry.contains("And the heron!"));
    assert!(between(entry, "<div class=\"reactions\">", "</div>").contains("🤗"));
    let shown = alex.json(&["show", &id]);
    assert_eq!(shown["replies"][0]["body"], "And the heron!");
    let reactions: Vec<&str> = shown["reactions"]
        .as_array()
        .expect("reactions")
        .iter()
        .filter_map(|r| r["emoji"].as_str())
        .collect();
    assert!(
        reactions.contains(&"🤗") && reactions.contains(&"wow"),
        "{reactions:?}"
    );

    // What the journal refuses, the page says in a sentence.
    let r = ui.post(&session, "/entries", &[("text", "   ")]);
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.body.contains("empty"), "{}", r.body);
    let r = ui.post(&session, "/entries", &[("text", "x"), ("kind", "rant")]);
    assert_eq!(r.status, 400);

    // Search and filters.
    let found = ui.get(&session, "/timeline?search=soup").body;
    assert!(found.contains("Thank you for the soup") && !found.contains("We walked"));
    let found = ui.get(&session, "/timeline?search=heron").body;
    assert!(
        found.contains("We walked") && !found.contains("Thank you for the soup"),
        "a reply's words find its entry"
    );
    let found = ui.get(&session, "/timeline?kind=gratitude").body;
    assert!(found.contains("Thank you for the soup") && !found.contains("We walked"));
    let none = ui.get(&session, "/timeline?search=nothing-like-this").body;
    assert!(none.contains("No entries match."));

    // Export downloads the same journal.
    let r = ui.get(&session, "/export?format=json");
    assert_eq!(r.status, 200);
    assert!(
        r.header("content-disposition")
            .is_some_and(|d| d.starts_with("attachment")),
        "{r:?}"
    );
    let export: serde_json::Value = serde_json::from_str(&r.body).expect("json export");
    assert_eq!(export["format"], "duet-export-v1");
    assert_eq!(export["entries"].as_array().map(Vec::len), Some(2));
    let r = ui.get(&session, "/export?format=md");
    assert!(r
        .header("content-disposition")
        .is_some_and(|d| d.contains(".md")));
    assert!(
        r.body.starts_with("# Our journal") && r.body.contains("> And the heron!"),
        "{}",
        r.body
    );

    // Pages of 20: the next page starts after the last one shown.
    for i in 0..21 {
        alex.add(&format!("numbered entry {i:02}"));
    }
    let first = ui.get(&session, "/timeline?search=numbered").body;
    assert_eq!(first.matches("<article class=\"entry").count(), 20);
    let more = between(&first, "<a id=\"more\" href=\"", "\"").replace("&amp;", "&");
    assert!(!more.is_empty(), "a link to older entries");
    let second = ui.get(&session, &more).body;
    assert_eq!(second.matches("<article class=\"entry").count(), 1);
    assert!(second.contains("numbered entry 00"));
    ui.stop();
}

#[test]
fn the_partners_entry_arrives_live_and_is_marked_heard() {
    let alex = Device::init("Alex");
    let ui = Ui::start(&alex, &[]);
    let session = ui.session();
    // `duet ui` runs the daemon: the CLI pairs through it.
    let sam = pair(&alex, "Sam", "laptop");
    let _sam_daemon = sam.daemon();

    let mut events = Events::open(&ui, &session);
    let id = sam.add("Can we talk tonight?");
    assert!(
        events.wait_for_journal(Duration::from_secs(30)),
        "no event for the partner's entry"
    );
    eventually(
        Duration::from_secs(30),
        "Sam's entry on Alex's timeline",
        || {
            ui.get(&session, "/timeline?fragment=1")
                .body
                .contains("Can we talk tonight?")
        },
    );
    let fragment = ui.get(&session, "/timeline?fragment=1").body;
    assert!(
        !fragment.contains("<nav"),
        "a fragment is only the timeline"
    );
    let entry = article(&fragment, "Can we talk tonight?");
    assert!(entry.contains("class=\"person\">Sam<"));
    assert!(
        entry.contains("form class=\"heard\""),
        "a partner's entry can be marked heard"
    );

    // It arrived since Alex last looked: marked new once, on the next look.
    let looked = ui.get(&session, "/timeline").body;
    assert!(article(&looked, "Can we talk tonight?").starts_with("<article class=\"entry new\""));
    let again = ui.get(&session, "/timeline").body;
    assert!(article(&again, "Can we talk tonight?").starts_with("<article class=\"entry\""));

    let r = ui.post(&session, &format!("/entry/{id}/heard"), &[]);
    assert_eq!(r.status, 303, "{r:?}");
    let entry_page = ui.get(&session, "/timeline").body;
    let entry = article(&entry_page, "Can we talk tonight?");
    assert!(entry.contains("Alex heard this"), "{entry}");
    assert!(
        !entry.contains("form class=\"heard\""),
        "heard once is enough"
    );
    // Alex's own write fires an event too, and reaches Sam.
    ui.post(&session, "/entries", &[("text", "Yes, after dinner")]);
    assert!(
        events.wait_for_journal(Duration::from_secs(10)),
        "no event for a local write"
    );
    eventually(
        Duration::from_secs(30),
        "Alex's answer and heard mark at Sam",
        || {
            sam.has_body("Yes, after dinner")
                && sam.json(&["show", &id])["heard"][0]["person"] == "Alex"
        },
    );

    // The devices and status pages name both devices.
    let devices = ui.get(&session, "/devices").body;
    assert_eq!(
        devices.matches("<tr class=\"device").count(),
        2,
        "{devices}"
    );
    assert!(devices.contains("form class=\"remove\""));
    let status = ui.get(&session, "/status").body;
    assert!(
        status.contains("id=\"status\"") && status.contains("Sam"),
        "{status}"
    );
    let _ = ui.get(&session, "/timeline");
    ui.stop();

    // "New" is since the last visit, not since this `duet ui` started.
    sam.add("Written while your page was closed");
    {
        let _daemon = alex.daemon();
        eventually(
            Duration::from_secs(30),
            "Sam's second entry at Alex",
            || alex.has_body("Written while your page was closed"),
        );
    }
    let ui = Ui::start(&alex, &[]);
    let (_, looked) = ui.session_and_page();
    assert!(
        article(&looked, "Written while your page was closed")
            .starts_with("<article class=\"entry new\""),
        "{looked}"
    );
    assert!(article(&looked, "Can we talk tonight?").starts_with("<article class=\"entry\""));
    ui.stop();
}

const CANARY: &str = "canary-web-4d1e-quartz-meadow";

#[test]
fn what_is_written_through_the_web_is_not_on_disk_or_in_the_output_in_the_clear() {
    let alex = Device::init("Alex");
    // The most talkative logs the daemon has.
    let ui = Ui::start(&alex, &[("RUST_LOG", "debug")]);
    let session = ui.session();
    let r = ui.post(
        &session,
        "/entries",
        &[
            ("text", &format!("an entry: {CANARY}")),
            ("tags", CANARY),
            ("mood", CANARY),
        ],
    );
    assert_eq!(r.status, 303);
    let id = alex.json(&["log"])[0]["id"]
        .as_str()
        .expect("id")
        .to_string();
    ui.post(
        &session,
        &format!("/entry/{id}/reply"),
        &[("text", &format!("a reply: {CANARY}"))],
    );
    assert!(alex.has_body(CANARY));
    assert!(ui.get(&session, "/timeline").body.contains(CANARY));
    // Regular files only: the daemon's control socket is no file to read.
    let scan = |when: &str| assert_not_in_clear_under(alex.dir.path(), CANARY, when);
    scan("while the app runs");
    let output = ui.output();
    assert!(
        output.contains("daemon started"),
        "the daemon logged: {output}"
    );
    assert!(
        !output.contains(CANARY),
        "the output holds the entry text: {output}"
    );
    ui.stop();
    scan("after it stopped");
}
