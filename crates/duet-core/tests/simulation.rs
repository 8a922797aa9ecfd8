//! Sync, simulated: devices in memory running the real sync engine over a
//! network the test controls, with seeded random delivery order,
//! duplication, loss, partitions, restarts and a device paired mid-way;
//! one device holds no journal key and only relays. Every run ends with
//! every member holding every envelope any member wrote and the same
//! journal. Phases without loss check the stronger promise of live sync:
//! while devices stay connected, pushes alone carry every write to every
//! linked device, without waiting for the anti-entropy round.

mod sim;

use sim::{Body, Sim};

use duet_core::sync::{Holder, SyncRequest};

/// One seeded run.
fn run(seed: u64) {
    let mut sim = Sim::new(seed, &["Alex", "Sam", "Alex's desktop"], &["relay"]);
    let pair_at = sim.rng.below(4);
    for epoch in 0..5 {
        chaos(&mut sim, 60, epoch == pair_at);
        // Settle: nothing more is lost; one anti-entropy round repairs
        // what was, within each group of linked devices.
        sim.settle(0.0);
        sim.tick();
        sim.settle(0.1);
        sim.assert_components_converged(&format!("seed {seed}, epoch {epoch}, after settling"));
        live(&mut sim, 12, epoch == pair_at);
        sim.assert_components_converged(&format!(
            "seed {seed}, epoch {epoch}, live sync without anti-entropy"
        ));
    }
    // Everyone meets: every device links with every device that admits it,
    // until no new link forms (a device is admitted once the record that
    // adds it has reached the other).
    loop {
        let before = sim.links.len();
        let n = sim.nodes.len();
        for a in 0..n {
            for b in a + 1..n {
                sim.connect(a, b);
            }
        }
        sim.settle(0.0);
        sim.tick();
        sim.settle(0.0);
        if sim.links.len() == before {
            break;
        }
    }
    sim.assert_nothing_lost();
}

/// Random writes, deliveries with loss and duplication, links going up and
/// down, anti-entropy rounds, compactions and restarts.
fn chaos(sim: &mut Sim, steps: usize, pair: bool) {
    let pair_step = if pair {
        sim.rng.below(steps)
    } else {
        usize::MAX
    };
    for step in 0..steps {
        if step == pair_step {
            let members = sim.members();
            let inviter = members[sim.rng.below(members.len())];
            let name = format!("late {}", sim.nodes.len());
            sim.pair_new(inviter, &name);
        }
        let n = sim.nodes.len();
        match sim.rng.below(100) {
            0..=24 => {
                let members = sim.members();
                let i = members[sim.rng.below(members.len())];
                sim.write(i);
            }
            25..=64 if !sim.inflight.is_empty() => {
                let i = sim.rng.below(sim.inflight.len());
                if sim.rng.chance(0.1) {
                    sim.inflight.swap_remove(i);
                } else {
                    if sim.rng.chance(0.1) {
                        let copy = sim.copy_of(i);
                        sim.inflight.push(copy);
                    }
                    sim.deliver(i);
                }
            }
            65..=82 => {
                let (a, b) = (sim.rng.below(n), sim.rng.below(n));
                if sim.rng.chance(0.6) {
                    sim.connect(a, b);
                } else {
                    sim.disconnect(a, b);
                }
            }
            83..=87 => sim.tick(),
            88..=93 => {
                let members = sim.members();
                let i = members[sim.rng.below(members.len())];
                sim.compact(i);
            }
            94..=96 => {
                let i = sim.rng.below(n);
                sim.restart(i);
            }
            _ => {}
        }
    }
}

/// Links stay as they are, nothing is lost, no anti-entropy round runs:
/// writes and deliveries interleave at random (some delivered twice).
/// With `pair`, a device is paired in and linked to one device.
fn live(sim: &mut Sim, writes: usize, pair: bool) {
    if pair {
        let members = sim.members();
        let inviter = members[sim.rng.below(members.len())];
        let name = format!("late {}", sim.nodes.len());
        let new = sim.pair_new(inviter, &name);
        // Only the inviter knows the new device yet.
        assert!(sim.connect(new, inviter));
    }
    let mut left = writes;
    while left > 0 || !sim.inflight.is_empty() {
        if left > 0 && (sim.inflight.is_empty() || sim.rng.chance(0.3)) {
            let members = sim.members();
            let i = members[sim.rng.below(members.len())];
            sim.write(i);
            left -= 1;
        } else {
            let i = sim.rng.below(sim.inflight.len());
            if sim.rng.chance(0.1) {
                let copy = sim.copy_of(i);
                sim.inflight.push(copy);
            }
            sim.deliver(i);
        }
    }
}

#[test]
fn devices_converge_whatever_the_network_does_and_no_envelope_is_lost() {
    for seed in 1..=12 {
        run(seed);
    }
}

#[test]
fn devices_converge_whatever_the_network_does_more_seeds() {
    for seed in 13..=24 {
        run(seed);
    }
}

/// The envelope of a device that was just paired can reach a member
/// before the record that adds its author; it is held back. When another
/// peer's message releases it, it must still be passed on to that peer,
/// which may have no other way to get it.
#[test]
fn a_held_back_envelope_is_passed_on_to_the_peer_whose_message_released_it() {
    let mut sim = Sim::new(7, &["Alex", "Sam", "Sam's desktop"], &[]);
    let (a, b, c) = (
        sim.index("Alex"),
        sim.index("Sam"),
        sim.index("Sam's desktop"),
    );
    sim.connect(a, b);
    sim.connect(b, c);
    sim.connect(c, a);
    sim.settle(0.0);
    // The desktop pairs a phone and pushes the record that adds it to both
    // laptops. Alex's copy arrives; Sam's stays in flight for now.
    let phone = sim.pair_new(c, "phone");
    let (phone_id, desktop_id) = (sim.nodes[phone].id, sim.nodes[c].id);
    sim.deliver_where(|m| m.from == c && m.to == a);
    // The desktop and Alex lose touch; the phone reaches Alex, who knows
    // it now, and writes. Alex passes the record, then the entry, to Sam.
    sim.disconnect(c, a);
    assert!(sim.connect(phone, a));
    sim.settle_between(phone, a);
    sim.write(phone);
    sim.settle_between(phone, a);
    // The entry reaches Sam first: its author is unknown there, so Sam
    // holds it back. Then the desktop's push of the record releases it.
    sim.deliver_where(|m| m.from == a && m.to == b && m.authors().contains(&phone_id));
    sim.deliver_where(|m| {
        m.from == c
            && m.to == b
            && matches!(m.body, Body::Request(SyncRequest::Push { .. }))
            && m.authors().contains(&desktop_id)
    });
    sim.settle(0.0);
    // The desktop's only link is Sam: it has the entry only if Sam passed
    // it on to the desktop.
    let wrote = sim.nodes[phone].vector().get(&phone_id);
    assert!(wrote > 0);
    assert_eq!(
        sim.nodes[c].vector().get(&phone_id),
        wrote,
        "Sam took the phone's entry in when the desktop's message released it, but never passed it on to the desktop"
    );
    sim.assert_components_converged("after the release");
}

/// A relay holds no journal key: it verifies, stores and forwards. Two
/// members that never meet still get each other's writes through it,
/// including what one of them compacted into a snapshot, and its store
/// holds nothing it could read.
#[test]
fn members_that_never_meet_sync_through_a_relay_without_the_journal_key() {
    let mut sim = Sim::new(11, &["Alex", "Sam"], &["relay"]);
    let (a, b, r) = (sim.index("Alex"), sim.index("Sam"), sim.index("relay"));
    sim.connect(a, r);
    for _ in 0..5 {
        sim.write(a);
    }
    sim.compact(a);
    sim.write(a);
    sim.settle(0.0);
    sim.disconnect(a, r);
    sim.connect(b, r);
    sim.write(b);
    sim.settle(0.0);
    sim.disconnect(b, r);
    sim.connect(r, a);
    sim.settle(0.0);
    sim.assert_nothing_lost();
    let relay = sim.nodes[r].holding.ledger();
    assert!(relay.store().snapshot().expect("snapshot").is_some());
    assert!(relay.envelope_count().expect("count") > 0);
}

#[test]
fn a_relay_learns_a_device_paired_later_from_the_signed_device_list() {
    // The relay is told only of the journal's first device.
    let mut sim = Sim::new(12, &["Alex"], &["relay"]);
    let (a, r) = (sim.index("Alex"), sim.index("relay"));
    let s = sim.pair_new(a, "Sam");
    let sam = sim.nodes[s].id;
    assert!(!sim.nodes[r].knows(&sam));
    // Alex meets the relay: the statements travel with the hello.
    sim.connect(a, r);
    sim.write(a);
    sim.settle(0.0);
    assert!(
        sim.nodes[r].knows(&sam),
        "the relay follows the device list"
    );
    sim.disconnect(a, r);
    // Sam, who never meets Alex, writes through the relay.
    sim.connect(s, r);
    sim.write(s);
    sim.settle(0.0);
    sim.disconnect(s, r);
    sim.connect(r, a);
    sim.settle(0.0);
    sim.assert_nothing_lost();
}
