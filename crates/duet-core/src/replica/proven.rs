//! Checking a peer's snapshot before anything of it is merged or stored:
//! its chains prove what its vector claims, every change in its document
//! is one a chain lists under its own author or one of its extra
//! envelopes, and every change new to this device keeps the journal's
//! schema, whoever wrote it (so no device relays what it never checked).

use std::collections::{HashMap, HashSet};

use crate::envelope::{self, Body};
use crate::ids::{DeviceId, JournalId};
use crate::journal::{Journal, Schema};
use crate::keys::JournalKey;
use crate::ledger::member::{now_ms, open_change};
use crate::ledger::proofs::{Contents, ProofError};
use crate::ledger::roster::Roster;
use crate::ledger::ReceiveError;
use crate::vv::VersionVector;

/// What a snapshot is checked against.
pub(super) struct Against<'a> {
    pub journal_id: JournalId,
    pub key: &'a JournalKey,
    /// The devices this device knows; the snapshot's own are added.
    pub roster: &'a Roster,
    /// The journal's schema, or `None` to take the snapshot's own (a
    /// joining device has no other).
    pub schema: Option<&'a Schema>,
}

/// Checks `contents`, with the vector `claimed`. `held` gives the hash
/// of an extra envelope this device already holds, `known` whether a
/// change is in this device's document already (checked when it came).
/// Returns the snapshot's document, not yet merged anywhere.
pub(super) fn check(
    against: &Against<'_>,
    claimed: &VersionVector,
    contents: &Contents,
    held: impl Fn(&DeviceId, u64) -> Option<[u8; 32]>,
    known: impl Fn(&[u8; 32]) -> bool,
) -> Result<Journal, ReceiveError> {
    let incoming = Journal::load(Some(&contents.doc), []).map_err(ReceiveError::BadPayload)?;
    let mut people = against.roster.clone();
    people.merge(incoming.devices());
    let is_member = |d: &DeviceId| people.person_of(d).is_some();
    let proven = contents.verify_chains(&against.journal_id, is_member)?;
    if proven != *claimed {
        return Err(ProofError::Overclaim.into());
    }
    let own_schema;
    let schema = match against.schema {
        Some(schema) => schema,
        None => {
            own_schema = incoming.schema();
            &own_schema
        }
    };
    let now = now_ms();
    let mut extras = HashSet::new();
    for bytes in &contents.extras {
        extras.insert(extra_hash(against, &people, schema, bytes, now, &held)?);
    }
    let mut listed: HashMap<[u8; 32], DeviceId> = HashMap::new();
    for chain in &contents.chains {
        for hash in &chain.hashes {
            listed.insert(*hash, chain.author);
        }
    }
    let mut found = 0;
    let mut new = Vec::new();
    for (hash, maker) in incoming.change_index() {
        match listed.get(&hash) {
            Some(author) if maker == Some(*author) => {
                found += 1;
                if !known(&hash) {
                    new.push((hash, *author));
                }
            }
            Some(author) => return Err(ProofError::Chain(*author).into()),
            None if extras.contains(&hash) => {}
            None => return Err(ProofError::Unproven.into()),
        }
    }
    if found != listed.len() {
        return Err(ProofError::Missing.into());
    }
    // Every change new here keeps the schema, as if it had come in its own
    // envelope: about 12 µs a change, so a joining device spreads a long
    // journal over its cores.
    let check_all = |part: &[([u8; 32], DeviceId)]| -> Result<(), ReceiveError> {
        for (hash, author) in part {
            let change = incoming.change(hash).ok_or(ProofError::Missing)?;
            schema
                .check(&change, author, &people, now)
                .map_err(|e| ReceiveError::BadPayload(e.into()))?;
        }
        Ok(())
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get().min(4));
    if threads < 2 || new.len() < 1024 {
        check_all(&new)?;
    } else {
        let part = new.len().div_ceil(threads);
        std::thread::scope(|scope| {
            let running: Vec<_> = new
                .chunks(part)
                .map(|chunk| scope.spawn(move || check_all(chunk)))
                .collect();
            running.into_iter().try_for_each(|t| {
                t.join()
                    .unwrap_or_else(|_| Err(ReceiveError::local(CheckPanicked)))
            })
        })?;
    }
    Ok(incoming)
}

#[derive(Debug, thiserror::Error)]
#[error("checking a snapshot's changes failed unexpectedly")]
struct CheckPanicked;

/// The change hash of one extra envelope: a member's signed envelope of
/// this journal whose change keeps the schema.
fn extra_hash(
    against: &Against<'_>,
    people: &Roster,
    schema: &Schema,
    bytes: &[u8],
    now: i64,
    held: &impl Fn(&DeviceId, u64) -> Option<[u8; 32]>,
) -> Result<[u8; 32], ReceiveError> {
    let sealed = envelope::decode(bytes)?;
    let Body::Change { seq, .. } = sealed.body else {
        return Err(ProofError::Malformed("extra").into());
    };
    if let Some(hash) = held(&sealed.author, seq) {
        return Ok(hash);
    }
    sealed.verify(&against.journal_id, |d| people.person_of(d).is_some())?;
    let payload = sealed.decrypt(against.key)?;
    let (change, _) = open_change(payload, &sealed.author, schema, people, now)?;
    Ok(change.hash().0)
}
