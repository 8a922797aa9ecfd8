//! The editor never loses text: lines of an entry that start with `#`
//! survive `duet edit` byte for byte, and when saving fails after the
//! editor closes (it exits with an error, the text is too long, the store
//! cannot be written) the text is kept, its path printed, and saving from
//! it works.

mod common;

use std::path::PathBuf;
use std::process::{Output, Stdio};

use common::Device;

/// Runs `duet args` with `editor` as `$EDITOR` (it gets the buffer's path
/// as `$1`).
fn with_editor(device: &Device, args: &[&str], editor: &str) -> Output {
    device
        .cmd(args)
        .env("EDITOR", format!("sh -c '{editor}' --"))
        .env_remove("VISUAL")
        .stdin(Stdio::null())
        .output()
        .expect("run duet")
}

/// The kept file a failed save names in its error.
fn kept_path(out: &Output) -> PathBuf {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should have failed");
    let path = stderr
        .split("your text is kept in ")
        .nth(1)
        .and_then(|rest| rest.split(';').next())
        .unwrap_or_else(|| panic!("no kept path in: {stderr}"));
    let path = PathBuf::from(path.trim());
    assert!(path.is_file(), "{} is not there: {stderr}", path.display());
    path
}

/// `duet args` with `text` on stdin; returns stdout.
fn with_stdin(device: &Device, args: &[&str], text: &[u8]) -> String {
    let out = device.run_with_stdin(args, text);
    assert!(
        out.status.success(),
        "duet {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn lines_starting_with_a_hash_survive_an_edit_byte_for_byte() {
    let device = Device::init("Alex");
    let body = "# Our trip to Lisbon\n\n#travel #us\n  # an indented line\nWe walked all day.";
    let saved = with_stdin(&device, &["--json", "add", "-"], body.as_bytes());
    let id = serde_json::from_str::<serde_json::Value>(&saved).expect("json")["id"]
        .as_str()
        .expect("id")
        .to_string();
    assert_eq!(device.json(&["show", &id])["body"], body);
    // An editor that adds one line at the top and keeps the rest.
    let out = with_editor(
        &device,
        &["edit", &id],
        r#"printf "%s\n" "P.S. the tram!" | cat - "$1" > "$1.new" && mv "$1.new" "$1""#,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = device.json(&["show", &id]);
    assert_eq!(shown["body"], format!("P.S. the tram!\n{body}"));
}

#[test]
fn a_failed_save_keeps_the_text_and_saving_from_it_works() {
    let device = Device::init("Alex");

    // The editor exits with an error after writing.
    let out = with_editor(
        &device,
        &["add"],
        r##"printf "%s\n" "# Sunday" "#us" "A slow morning together." > "$1"; exit 3"##,
    );
    let kept = kept_path(&out);
    assert_eq!(
        std::fs::read_to_string(&kept).expect("kept"),
        "# Sunday\n#us\nA slow morning together."
    );
    let text = std::fs::read(&kept).expect("kept");
    with_stdin(&device, &["add", "-"], &text);
    assert!(device.has_body("A slow morning together."));

    // A text over the limit.
    let out = with_editor(
        &device,
        &["add"],
        r#"head -c 300000 /dev/zero | tr "\0" "x" > "$1""#,
    );
    let kept = kept_path(&out);
    assert_eq!(std::fs::metadata(&kept).expect("kept").len(), 300_000);

    // A store that cannot be written by the time the editor closes.
    let store = device.home().join("store.sqlite");
    let aside = device.home().join("store.aside");
    let editor = format!(
        r#"printf "%s\n" "Words that must not be lost." > "$1"; mv "{}" "{}"; mkdir "{}""#,
        store.display(),
        aside.display(),
        store.display()
    );
    let out = with_editor(&device, &["add"], &editor);
    let kept = kept_path(&out);
    std::fs::remove_dir(&store).expect("remove the directory");
    std::fs::rename(&aside, &store).expect("put the store back");
    let text = std::fs::read(&kept).expect("kept");
    with_stdin(&device, &["add", "-"], &text);
    assert!(device.has_body("Words that must not be lost."));
}

#[test]
fn resolving_a_conflict_keeps_hash_lines_of_every_version() {
    use std::time::Duration;
    let wait = Duration::from_secs(60);
    let laptop = Device::init("Alex");
    let l = laptop.daemon();
    let phone = common::pair(&laptop, "Alex", "phone");
    let p = phone.daemon();
    let id = laptop.add("# Lisbon\nfirst draft");
    common::eventually(wait, "the entry on the phone", || {
        phone.has_body("first draft")
    });
    l.stop();
    p.stop();

    // Both devices edit the entry while apart.
    let on_laptop = "# Our trip to Lisbon\n\n#travel #us\nThe tram up the hill.";
    let on_phone = "# Lisbon, again\n  # indented\n#food\nPasteis de nata at 8.";
    laptop.ok(&["edit", &id, on_laptop]);
    phone.ok(&["edit", &id, on_phone]);
    let _l = laptop.daemon();
    let _p = phone.daemon();
    common::eventually(wait, "the two versions to meet", || {
        let shown = laptop.json(&["show", &id]);
        shown["conflicts"].as_array().is_some_and(|c| !c.is_empty())
    });

    // An editor that changes nothing keeps every version, whole.
    let out = with_editor(&laptop, &["edit", &id], "true");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = laptop.json(&["show", &id]);
    let body = shown["body"].as_str().expect("body");
    assert!(body.contains(on_laptop), "{body:?}");
    assert!(body.contains(on_phone), "{body:?}");
    assert!(!body.contains("duet "), "a marker line was kept: {body:?}");
    assert!(
        shown["conflicts"].as_array().is_none_or(|c| c.is_empty()),
        "{shown}"
    );
}
