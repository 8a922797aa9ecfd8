//! Two daemons run in this test's process, each on its own temporary
//! home, on loopback: one invites, the other joins with the code, and
//! entries written through either daemon's handle reach the other.

use std::path::Path;
use std::time::{Duration, Instant};

use duet_core::home::Home;
use duet_core::journal::NewEntry;
use duet_daemon::control::InviteEvent;
use duet_daemon::join::{JoinRequest, Secret};
use duet_daemon::pairing::Code;
use duet_daemon::{Config, Control, Daemon, Handle};

const WAIT: Duration = Duration::from_secs(60);

async fn daemon(home: &Path) -> Daemon {
    let config = Config {
        home: home.to_path_buf(),
        listen: vec!["/ip4/127.0.0.1/tcp/0".parse().expect("addr")],
        mdns: false,
        compact_after: None,
        whole_exe: None,
        control: Control::Off,
    };
    duet_daemon::start(config).await.expect("start")
}

/// Polls `ready` until it holds, or fails after `WAIT`.
async fn eventually(what: &str, mut ready: impl FnMut() -> bool) {
    let start = Instant::now();
    while !ready() {
        assert!(start.elapsed() < WAIT, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn first_addr(handle: &Handle) -> String {
    let start = Instant::now();
    loop {
        let status = handle.status().await.expect("status");
        if let Some(addr) = status.addrs.into_iter().next() {
            return addr;
        }
        assert!(start.elapsed() < WAIT, "the daemon never listened");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn holds(home: &Path, id: &str) -> bool {
    Home::new(home)
        .open()
        .is_ok_and(|r| r.journal().entry(id).is_some())
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .expect("a clock after 1970")
}

fn entry(body: &str) -> NewEntry {
    NewEntry {
        body: body.into(),
        ..NewEntry::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daemons_started_in_process_pair_and_sync_through_their_handles() {
    let dir = tempfile::tempdir().expect("dir");
    let (alex_home, sam_home) = (dir.path().join("alex"), dir.path().join("sam"));
    drop(
        Home::new(&alex_home)
            .init("Alex", "laptop", now())
            .expect("init"),
    );
    let alex = daemon(&alex_home).await;
    let addr = first_addr(&alex.handle()).await;

    let mut invitation = alex
        .handle()
        .invite(Duration::from_secs(120), Vec::new())
        .await
        .expect("invite");
    let Some(InviteEvent::Opened { code, .. }) = invitation.next_event().await else {
        panic!("the invitation opens with its code");
    };
    let request = JoinRequest {
        home: sam_home.clone(),
        person: "Sam".into(),
        device_name: "laptop".into(),
        secret: Secret::Code(Code::parse(&code).expect("code")),
        addrs: vec![addr.parse().expect("multiaddr")],
        mdns: false,
        timeout: WAIT,
        confirm_timeout: WAIT,
        mirror: false,
        listen: Vec::new(),
    };
    let joining = tokio::spawn(duet_daemon::join::join(request, |_| {}));
    let Some(InviteEvent::Joining { person, words, .. }) = invitation.next_event().await else {
        panic!("the joining device asks");
    };
    assert_eq!(person, "Sam");
    invitation.answer(true).await.expect("answer");
    assert!(matches!(
        invitation.next_event().await,
        Some(InviteEvent::Joined { words: w, .. }) if w == words
    ));
    let joined = joining.await.expect("task").expect("joined");
    assert_eq!(joined.devices.len(), 2);

    let sam = daemon(&sam_home).await;
    let from_alex = alex
        .handle()
        .add(entry("from Alex"), now())
        .await
        .expect("add");
    eventually("Alex's entry on Sam's device", || {
        holds(&sam_home, &from_alex)
    })
    .await;
    let from_sam = sam
        .handle()
        .add(entry("from Sam"), now())
        .await
        .expect("add");
    eventually("Sam's entry on Alex's device", || {
        holds(&alex_home, &from_sam)
    })
    .await;
    let status = sam.handle().status().await.expect("status");
    assert!(status
        .peers
        .iter()
        .any(|p| p.person == "Alex" && p.connected));
    alex.stop().await;
    sam.stop().await;
}
