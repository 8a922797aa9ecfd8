use std::time::{Duration, Instant};

use super::*;
use crate::replica::Replica;
use crate::testing::{add, alex, pair};

fn engine(replica: &Replica) -> Engine<u8> {
    Engine::new(Config::default(), replica).expect("engine")
}

/// Every request the engine wants sent, as (to, request).
fn sends(engine: &mut Engine<u8>) -> Vec<(u8, SyncRequest)> {
    let mut out = Vec::new();
    while let Some(o) = engine.poll_output() {
        if let Output::Send { to, request } = o {
            out.push((to, request));
        }
    }
    out
}

fn pushed(request: &SyncRequest) -> usize {
    match request {
        SyncRequest::Push { envelopes, .. } => envelopes.len(),
        SyncRequest::Hello { .. } | SyncRequest::Keys | SyncRequest::Pairing { .. } => 0,
    }
}

#[test]
fn a_local_write_is_pushed_to_every_connected_peer_once() {
    let mut a = alex();
    let mut e = engine(&a);
    e.connected(1, false, &a);
    e.connected(2, false, &a);
    assert!(sends(&mut e).is_empty(), "only the dialler says hello");
    add(&mut a, "hello");
    e.pick_up(&a);
    let out = sends(&mut e);
    assert_eq!(out.len(), 2);
    assert!(out.iter().all(|(_, r)| pushed(r) == 1));
    e.pick_up(&a);
    assert!(sends(&mut e).is_empty(), "nothing new, nothing pushed");
}

#[test]
fn a_received_envelope_is_passed_on_but_never_back_to_its_source() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    let mut eb = engine(&b);
    eb.connected(1, false, &b); // Alex
    eb.connected(2, false, &b); // another of Sam's devices
    add(&mut a, "to pass on");
    let envelope = a
        .ledger()
        .stored_after(0)
        .expect("stored")
        .pop()
        .expect("one");
    let request = SyncRequest::Push {
        snapshot: None,
        envelopes: vec![serde_bytes::ByteBuf::from(envelope.bytes)],
        statements: Vec::new(),
    };
    let answer = eb.on_request(1, request, &mut b);
    assert!(matches!(answer, Some(SyncResponse::Ack { .. })));
    let out = sends(&mut eb);
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].0, 2);
}

#[test]
fn one_hello_moves_what_is_missing_both_ways() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    add(&mut a, "from Alex");
    add(&mut b, "from Sam");
    let (mut ea, mut eb) = (engine(&a), engine(&b));
    ea.connected(2, true, &a);
    eb.connected(1, false, &b);
    let (_, hello) = sends(&mut ea).pop().expect("hello");
    let missing = eb.on_request(1, hello, &mut b).expect("answer");
    let exchange = ea.on_response(2, missing, &mut a);
    assert_eq!(exchange.received, 1, "Sam's entry came in the answer");
    let push = sends(&mut ea)
        .into_iter()
        .find(|(to, r)| *to == 2 && pushed(r) > 0)
        .expect("Alex pushes what Sam lacks")
        .1;
    eb.on_request(1, push, &mut b);
    assert_eq!(a.vector().expect("vv"), b.vector().expect("vv"));
    assert_eq!(a.journal().all_entries(), b.journal().all_entries());
}

#[test]
fn pushes_are_split_within_the_configured_bounds() {
    let mut a = alex();
    let config = Config {
        push_count: 3,
        push_bytes: usize::MAX,
        ..Config::default()
    };
    let mut e = Engine::new(config, &a).expect("engine");
    e.connected(9, false, &a);
    for i in 0..7 {
        add(&mut a, &format!("entry {i}"));
    }
    e.pick_up(&a);
    let sizes: Vec<usize> = sends(&mut e).iter().map(|(_, r)| pushed(r)).collect();
    assert_eq!(sizes, [3, 3, 1]);

    let config = Config {
        push_bytes: 1,
        ..Config::default()
    };
    let mut e = Engine::new(config, &a).expect("engine");
    e.connected(9, false, &a);
    add(&mut a, "one");
    add(&mut a, "two");
    e.pick_up(&a);
    let sizes: Vec<usize> = sends(&mut e).iter().map(|(_, r)| pushed(r)).collect();
    assert_eq!(
        sizes,
        [1, 1],
        "an envelope over the byte bound still goes, alone"
    );
}

#[test]
fn a_hello_with_a_malformed_vector_gets_no_answer() {
    let mut a = alex();
    let mut e = engine(&a);
    e.connected(1, false, &a);
    let hello = SyncRequest::Hello {
        statements: None,
        peers: Vec::new(),
        vector: serde_bytes::ByteBuf::from(vec![0, 5, 1]),
        addrs: Vec::new(),
        tips: Vec::new(),
        now: None,
    };
    assert!(e.on_request(1, hello, &mut a).is_none());
    assert!(matches!(
        e.poll_output(),
        Some(Output::Event(Event::Malformed { from: 1 }))
    ));
}

#[test]
fn anti_entropy_asks_each_connected_peer_once_per_interval() {
    let a = alex();
    let mut e = engine(&a);
    e.connected(1, false, &a);
    e.connected(2, false, &a);
    let start = Instant::now();
    e.tick(start, &a);
    e.tick(start + Duration::from_secs(9), &a);
    assert!(sends(&mut e).is_empty());
    e.tick(start + Duration::from_secs(10), &a);
    assert_eq!(sends(&mut e).len(), 2);
    e.disconnected(&2);
    e.tick(start + Duration::from_secs(20), &a);
    assert_eq!(sends(&mut e).len(), 1);
}

#[test]
fn envelopes_of_an_unknown_author_are_held_until_the_record_adding_it_arrives() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    let mut phone = pair(&mut b, "Sam", "phone");
    for i in 0..3 {
        add(&mut phone, &format!("from the phone {i}"));
    }
    let mut ea = engine(&a);
    ea.connected(2, false, &a);
    let bytes = |r: &Replica| -> Vec<serde_bytes::ByteBuf> {
        r.ledger()
            .stored_after(0)
            .expect("stored")
            .into_iter()
            .map(|e| serde_bytes::ByteBuf::from(e.bytes))
            .collect()
    };
    let phone_envelopes = bytes(&phone);
    ea.on_request(
        2,
        SyncRequest::Push {
            snapshot: None,
            envelopes: phone_envelopes,
            statements: Vec::new(),
        },
        &mut a,
    );
    assert_eq!(ea.held_back().0, 3);
    // Sam's envelopes hold the record that adds the phone.
    ea.on_request(
        2,
        SyncRequest::Push {
            snapshot: None,
            envelopes: bytes(&b),
            statements: Vec::new(),
        },
        &mut a,
    );
    assert_eq!(ea.held_back(), (0, 0));
    assert_eq!(
        a.journal().all_entries().len(),
        3,
        "the held entries applied"
    );
}

/// Keeps what the engine learned of peer `who` (`device`) in `replica`'s
/// store, as the daemon does, and returns the requests it wants sent.
fn record(
    engine: &mut Engine<u8>,
    replica: &Replica,
    device: crate::DeviceId,
) -> Vec<(u8, SyncRequest)> {
    let store = replica.store();
    let mut out = Vec::new();
    while let Some(o) = engine.poll_output() {
        match o {
            Output::Send { to, request } => out.push((to, request)),
            Output::Event(Event::Vector { vector, .. }) => {
                store.record_sync(&device, 1, &vector).expect("record")
            }
            Output::Event(Event::Holds {
                covers, changes, ..
            }) => store
                .record_holds(&device, 2, &covers, &changes)
                .expect("record"),
            Output::Event(_) => {}
        }
    }
    out
}

#[test]
fn a_change_a_peer_pushed_is_not_counted_as_waiting_to_go_back_to_it() {
    let mut a = alex();
    let mut b = pair(&mut a, "Sam", "laptop");
    let (ida, idb) = (a.device_id(), b.device_id());
    let (mut ea, mut eb) = (engine(&a), engine(&b));
    ea.connected(2, true, &a);
    eb.connected(1, false, &b);
    let (_, hello) = record(&mut ea, &a, idb).pop().expect("hello");
    let answer = eb.on_request(1, hello, &mut b).expect("answer");
    record(&mut eb, &b, ida);
    ea.on_response(2, answer, &mut a);
    record(&mut ea, &a, idb);
    let waiting = |r: &Replica, peer| {
        let theirs = r
            .store()
            .peer(&peer)
            .expect("peer")
            .vector
            .unwrap_or_default();
        r.waiting_for(&theirs).expect("waiting")
    };
    assert_eq!(waiting(&a, idb), 0, "in step after the hello");

    add(&mut b, "from Sam, after the hello");
    eb.pick_up(&b);
    let (_, push) = record(&mut eb, &b, ida)
        .pop()
        .expect("Sam pushes his entry");
    let ack = ea.on_request(2, push, &mut a).expect("an ack");
    record(&mut ea, &a, idb);
    assert_eq!(
        waiting(&a, idb),
        0,
        "what Sam's device sent is not waiting to go back to it"
    );
    eb.on_response(1, ack, &mut b);
    record(&mut eb, &b, ida);
    assert_eq!(waiting(&b, ida), 0, "Alex's device said it has it");

    add(&mut a, "from Alex, not pushed yet");
    assert_eq!(waiting(&a, idb), 1, "a change not yet sent still waits");
}
