//! The limit: an in-memory automerge sync of a document with the same
//! entries and shape to an empty document. No disk, no network, no
//! encryption: the best any automerge-based sync could do here.

use std::time::Instant;

use automerge::sync::{State, SyncDoc};
use automerge::Automerge;
use serde::Serialize;

#[derive(Clone, Serialize)]
pub struct Limit {
    pub entries: usize,
    pub seconds: f64,
    pub rounds: usize,
    pub bytes: usize,
}

/// Syncs `saved` (an automerge document) into an empty document.
pub fn measure(saved: &[u8], entries: usize) -> anyhow::Result<Limit> {
    let mut full = Automerge::load(saved)?;
    let mut empty = Automerge::new();
    let (mut a, mut b) = (State::new(), State::new());
    let start = Instant::now();
    let (mut rounds, mut bytes) = (0, 0);
    loop {
        let mut moved = false;
        if let Some(m) = full.generate_sync_message(&mut a) {
            let encoded = m.encode();
            bytes += encoded.len();
            empty.receive_sync_message(&mut b, automerge::sync::Message::decode(&encoded)?)?;
            moved = true;
        }
        if let Some(m) = empty.generate_sync_message(&mut b) {
            let encoded = m.encode();
            bytes += encoded.len();
            full.receive_sync_message(&mut a, automerge::sync::Message::decode(&encoded)?)?;
            moved = true;
        }
        if !moved {
            break;
        }
        rounds += 1;
        if rounds > 100 {
            anyhow::bail!("the in-memory sync did not settle");
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    if empty.get_heads() != full.get_heads() {
        anyhow::bail!("the in-memory sync did not converge");
    }
    Ok(Limit {
        entries,
        seconds,
        rounds,
        bytes,
    })
}
