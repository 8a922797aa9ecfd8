//! A stranger cannot stop two partners from syncing by holding
//! connections open: it floods both daemons with TCP connections that
//! never finish a handshake, from an address of its own, while one
//! partner's daemon restarts; the two must find each other again within
//! seconds.

mod common;

use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use common::{eventually, pair, Device};

/// The loopback port of a daemon's TCP listen address.
fn tcp_port(device: &Device) -> u16 {
    device
        .addrs()
        .iter()
        .find_map(|a| {
            a.strip_prefix("/ip4/127.0.0.1/tcp/")
                .and_then(|rest| rest.split('/').next()?.parse().ok())
        })
        .expect("a loopback TCP address")
}

/// Opens `per_second` connections a second to `target` from forty
/// addresses of its own (127.0.0.2 to 127.0.0.41), never says a word on
/// them, and keeps each open for 30 seconds.
fn flood(target: SocketAddr, per_second: u32, stop: Arc<AtomicBool>) -> thread::JoinHandle<usize> {
    thread::spawn(move || {
        let mut held: Vec<(Instant, TcpStream)> = Vec::new();
        let mut opened = 0;
        while !stop.load(Ordering::Relaxed) {
            let from = SocketAddr::from(([127, 0, 0, 2 + (opened % 40) as u8], 0));
            let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .expect("socket");
            socket.bind(&from.into()).expect("bind a loopback address");
            if socket
                .connect_timeout(&target.into(), Duration::from_secs(1))
                .is_ok()
            {
                held.push((Instant::now(), socket.into()));
                opened += 1;
            }
            held.retain(|(at, _)| at.elapsed() < Duration::from_secs(30));
            thread::sleep(Duration::from_secs(1) / per_second);
        }
        opened
    })
}

fn connected(device: &Device) -> bool {
    device.json(&["status"])["status"]["peers"]
        .as_array()
        .is_some_and(|peers| peers.iter().any(|p| p["connected"] == true))
}

#[test]
fn a_stranger_holding_stalled_connections_does_not_keep_partners_apart() {
    let alex = Device::init("Alex");
    let _a = alex.daemon();
    let sam = pair(&alex, "Sam", "laptop");
    let s = sam.daemon();
    eventually(Duration::from_secs(60), "the partners connected", || {
        connected(&alex) && connected(&sam)
    });
    let stop = Arc::new(AtomicBool::new(false));
    let floods: Vec<_> = [tcp_port(&alex), tcp_port(&sam)]
        .into_iter()
        .map(|port| {
            let target = SocketAddr::from(([127, 0, 0, 1], port));
            flood(target, 50, stop.clone())
        })
        .collect();
    // Long enough for the flood to fill whatever a daemon keeps for
    // handshakes in progress.
    thread::sleep(Duration::from_secs(4));
    // Sam's laptop restarts while the flood goes on; on its way back up,
    // each side's first dials meet a door held by the stranger.
    s.kill();
    thread::sleep(Duration::from_secs(2));
    let _s = sam.daemon();
    let start = Instant::now();
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        eventually(
            Duration::from_secs(30),
            "the partners connected again under the flood",
            || connected(&alex) && connected(&sam),
        )
    }));
    let took = start.elapsed();
    stop.store(true, Ordering::Relaxed);
    let opened: usize = floods.into_iter().map(|f| f.join().expect("flood")).sum();
    eprintln!("reconnected in {took:?} while a stranger opened {opened} connections");
    assert!(opened > 100, "the flood ran: {opened} connections");
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
    // And they sync.
    sam.add("written under the flood");
    eventually(Duration::from_secs(30), "the entry across", || {
        alex.has_body("under the flood")
    });
}
