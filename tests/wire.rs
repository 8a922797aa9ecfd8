//! No entry text leaves a device outside Noise and age: the bytes of a
//! pairing and a sync session, captured by a relay between the devices,
//! never hold an entry's text, nor does anything either device stores.

mod common;

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{contains, eventually, files_under, Device, Invite};

const BEFORE: &str = "canary-before-pairing-4e1f-quartz";
const AFTER: &str = "canary-after-pairing-9b2c-meadow";

/// A loopback TCP relay to `target` that records every byte both ways.
fn relay(target: std::net::SocketAddr) -> (std::net::SocketAddr, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind relay");
    let addr = listener.local_addr().expect("addr");
    let captured = Arc::new(Mutex::new(Vec::new()));
    let cap = captured.clone();
    std::thread::spawn(move || {
        for client in listener.incoming().flatten() {
            let Ok(server) = TcpStream::connect(target) else {
                continue;
            };
            for (mut from, mut to) in [
                (
                    client.try_clone().expect("clone"),
                    server.try_clone().expect("clone"),
                ),
                (server, client),
            ] {
                let cap = cap.clone();
                std::thread::spawn(move || {
                    let mut buf = [0u8; 16 * 1024];
                    loop {
                        match from.read(&mut buf) {
                            Ok(0) | Err(_) => break,
                            Ok(n) => {
                                cap.lock().expect("lock").extend_from_slice(&buf[..n]);
                                if to.write_all(&buf[..n]).is_err() {
                                    break;
                                }
                            }
                        }
                    }
                    let _ = to.shutdown(Shutdown::Write);
                });
            }
        }
    });
    (addr, captured)
}

fn port_of(multiaddr: &str) -> u16 {
    multiaddr
        .rsplit('/')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("tcp port")
}

#[test]
fn captured_pairing_and_sync_bytes_and_stores_never_hold_entry_text() {
    let alex = Device::init("Alex");
    alex.add(&format!("written before pairing: {BEFORE}"));
    let a = alex.daemon();
    let alex_port = port_of(&alex.addrs()[0]);
    let (relay_addr, captured) = relay(([127, 0, 0, 1], alex_port).into());
    let via_relay = format!("/ip4/127.0.0.1/tcp/{}", relay_addr.port());

    // Pair through the relay: the welcome carries the journal.
    let sam = Device::new();
    let invite = Invite::open(&alex, "2m");
    let out = common::join_with_code(&sam, "Sam", "laptop", &invite.code, &via_relay);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    invite.finish().expect("joined");
    assert!(
        sam.has_body(BEFORE),
        "the journal arrived through the relay"
    );

    // Sync through the relay: Sam knows Alex only by the relay's address.
    let store = rusqlite::Connection::open(sam.home().join("store.sqlite")).expect("open");
    store
        .execute(
            "UPDATE peers SET addrs = ?1",
            [format!("[\"{via_relay}\"]")],
        )
        .expect("point Sam at the relay");
    drop(store);
    let after_pairing = captured.lock().expect("lock").len();
    let s = sam.daemon();
    alex.add(&format!("written after pairing: {AFTER}"));
    eventually(
        Duration::from_secs(60),
        "the entry to arrive through the relay",
        || sam.has_body(AFTER),
    );
    let sent_back = "Sam answers through the relay";
    sam.add(sent_back);
    eventually(Duration::from_secs(60), "Sam's entry to reach Alex", || {
        alex.has_body(sent_back)
    });

    let bytes = captured.lock().expect("lock").clone();
    assert!(
        after_pairing > 1000,
        "the relay carried the pairing ({after_pairing} bytes)"
    );
    assert!(
        bytes.len() > after_pairing + 500,
        "the relay carried the sync ({} bytes after pairing)",
        bytes.len() - after_pairing
    );
    for canary in [BEFORE, AFTER, sent_back, "Alex", "laptop"] {
        assert!(
            !contains(&bytes, canary.as_bytes()),
            "`{canary}` crossed the wire in the clear"
        );
    }
    drop((a, s));
    for device in [&alex, &sam] {
        for file in files_under(device.dir.path()) {
            if file.extension().is_some_and(|e| e == "log") {
                let log = std::fs::read_to_string(&file).unwrap_or_default();
                assert!(
                    !log.contains(BEFORE) && !log.contains(AFTER),
                    "{} logs entry text",
                    file.display()
                );
                continue;
            }
            let data = std::fs::read(&file).expect("read");
            for canary in [BEFORE, AFTER] {
                assert!(
                    !contains(&data, canary.as_bytes()),
                    "{} holds entry text",
                    file.display()
                );
            }
        }
    }
}
