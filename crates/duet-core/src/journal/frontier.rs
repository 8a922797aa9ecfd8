//! Writing without the whole document: a change's place in history.
//!
//! A writer replica (the daemon's) holds only the journal's first change.
//! A change made there depends on that change alone, and automerge pays
//! dearly for such a change when it joins a large document: applying 128
//! of them to a 10,000-entry journal took 150 MB more memory than applying
//! 128 ordinary changes (`docs/performance.md`). So a writer's change is
//! re-based before it is sealed: it is given the heads of the whole
//! document as deps and an op counter above every op in them, exactly what
//! automerge would have given it with the document loaded. The writer
//! keeps those heads up to date from every change it stores ([`Frontier`]).

use std::collections::{BTreeSet, HashSet};
use std::num::NonZeroU64;

use automerge::legacy::{ElementId, Key, ObjectId, OpId};
use automerge::{ActorId, Change, ChangeHash, ReadDoc};

use super::{Journal, JournalError};

/// The heads of the journal document and the highest op counter in it, as
/// far as one replica has seen.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frontier {
    heads: BTreeSet<ChangeHash>,
    /// Changes some seen change depends on: never heads again.
    behind: HashSet<ChangeHash>,
    max_op: u64,
}

impl Frontier {
    pub fn new(heads: impl IntoIterator<Item = [u8; 32]>, max_op: u64) -> Self {
        Self {
            heads: heads.into_iter().map(ChangeHash).collect(),
            behind: HashSet::new(),
            max_op,
        }
    }

    pub fn heads(&self) -> Vec<[u8; 32]> {
        self.heads.iter().map(|h| h.0).collect()
    }

    pub fn max_op(&self) -> u64 {
        self.max_op
    }

    /// Takes in a change that is now part of the journal.
    pub fn observe(&mut self, change: &Change) {
        for dep in change.deps() {
            self.heads.remove(dep);
            self.behind.insert(*dep);
        }
        if !self.behind.contains(&change.hash()) {
            self.heads.insert(change.hash());
        }
        self.max_op = self.max_op.max(change.max_op());
    }
}

impl Journal {
    /// The document's heads and highest op counter.
    pub fn frontier(&self) -> Frontier {
        let heads = self.doc.get_heads();
        let max_op = heads
            .iter()
            .filter_map(|h| self.doc.get_change_by_hash(h))
            .map(|c| c.max_op())
            .max()
            .unwrap_or(0);
        Frontier::new(heads.into_iter().map(|h| h.0), max_op)
    }
}

/// `change`, made by a writer that holds only the first change, as the
/// change `actor` would have made as its `seq`th with the whole document
/// at `frontier`: the same operations, renumbered from the frontier's
/// highest op counter, depending on its heads.
pub fn rebase(
    change: &Change,
    actor: &ActorId,
    seq: u64,
    frontier: &Frontier,
) -> Result<Change, JournalError> {
    let mut expanded = change.decode();
    let old_actor = expanded.actor_id.clone();
    let old_start = expanded.start_op.get();
    let new_start = frontier.max_op + 1;
    let shift = |id: &OpId| -> Result<OpId, JournalError> {
        if id.1 != old_actor {
            return Ok(id.clone());
        }
        // Only this change's own ops can be renumbered; an op of an
        // earlier change of the writer has no place in the whole document.
        if id.0 < old_start {
            return Err(JournalError::Schema(
                "write that builds on an earlier unsent one",
            ));
        }
        Ok(OpId(id.0 - old_start + new_start, actor.clone()))
    };
    for op in &mut expanded.operations {
        if let ObjectId::Id(id) = &op.obj {
            op.obj = ObjectId::Id(shift(id)?);
        }
        if let Key::Seq(ElementId::Id(id)) = &op.key {
            op.key = Key::Seq(ElementId::Id(shift(id)?));
        }
        op.pred = op
            .pred
            .iter()
            .map(&shift)
            .collect::<Result<Vec<_>, _>>()?
            .into();
    }
    expanded.actor_id = actor.clone();
    expanded.seq = seq;
    expanded.start_op = NonZeroU64::new(new_start).ok_or(JournalError::Schema("op counter"))?;
    expanded.deps = frontier.heads.iter().copied().collect();
    expanded.hash = None;
    Ok(Change::from(expanded))
}
