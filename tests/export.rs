//! Exports: JSON and Markdown, and age files the standard tool decrypts.

mod common;

use std::io::Read;
use std::process::Command;
use std::str::FromStr;

use age::secrecy::ExposeSecret;
use common::Device;

#[test]
fn json_and_markdown_exports_hold_every_entry() {
    let device = Device::init("Alex");
    let id = device.add("Pancakes on Sunday were perfect.");
    device.ok(&["reply", &id, "Again next week?"]);
    let json: serde_json::Value =
        serde_json::from_str(&device.ok(&["export", "--format", "json"])).expect("json");
    assert_eq!(
        json["entries"][0]["body"],
        "Pancakes on Sunday were perfect."
    );
    assert_eq!(json["entries"][0]["replies"][0]["body"], "Again next week?");
    let md = device.ok(&["export", "--format", "md"]);
    assert!(md.contains("Pancakes on Sunday") && md.contains("> Again next week?"));
}

#[test]
fn an_export_to_a_recipient_is_an_age_file() {
    let device = Device::init("Alex");
    device.add("For your eyes only.");
    let identity = age::x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let out = device.dir.path().join("journal.age");
    device.ok(&[
        "export",
        "--format",
        "md",
        "--recipient",
        &recipient,
        "--output",
        out.to_str().expect("path"),
    ]);
    let sealed = std::fs::read(&out).expect("read export");
    assert!(!common::contains(&sealed, b"For your eyes only."));

    let decryptor =
        age::Decryptor::new(age::armor::ArmoredReader::new(&sealed[..])).expect("age header");
    let mut plain = String::new();
    decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .expect("decrypts")
        .read_to_string(&mut plain)
        .expect("read");
    assert!(plain.contains("For your eyes only."));

    // The standard `age` tool, where it is installed (.ci/run installs it).
    if Command::new("age").arg("--version").output().is_ok() {
        let key = device.dir.path().join("me.key");
        std::fs::write(&key, identity.to_string().expose_secret()).expect("write key");
        let out = Command::new("age")
            .arg("-d")
            .arg("-i")
            .arg(&key)
            .arg(&out)
            .output()
            .expect("age -d");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(String::from_utf8_lossy(&out.stdout).contains("For your eyes only."));
    } else {
        eprintln!("the age tool is not installed; checked with the age library only");
    }
    // An existing file is never overwritten.
    let again = device.run(&[
        "export",
        "--format",
        "md",
        "--output",
        out.to_str().expect("path"),
    ]);
    assert!(!again.status.success());
    assert_eq!(std::fs::read(&out).expect("read"), sealed);
    let _ = age::x25519::Recipient::from_str(&recipient).expect("recipient");
}
