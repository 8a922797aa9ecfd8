//! The devices sync runs on: a member holding the whole journal, and a
//! ledger alone (a device without the journal key, which stores and
//! forwards what verifies). The daemon's writer gets its own holder there,
//! since merging a snapshot needs the whole journal.

use super::Holder;
use crate::ledger::{Ledger, ReceiveError};
use crate::replica::Replica;
use crate::store::{Heal, StoreError, Tip};

impl Holder for Ledger {
    fn ledger(&self) -> &Ledger {
        self
    }

    fn receive_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        self.receive_sealed(bytes)
    }

    fn receive_snapshot(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        self.receive_sealed_snapshot(bytes).map(|_| ())
    }

    fn take_statements(&mut self, statements: &[Vec<u8>]) -> Result<usize, StoreError> {
        Ok(Ledger::take_statements(self, statements, true)?.0)
    }
}

impl Holder for Replica {
    fn ledger(&self) -> &Ledger {
        Replica::ledger(self)
    }

    fn receive_envelope(&mut self, bytes: &[u8]) -> Result<i64, ReceiveError> {
        Replica::receive_envelope(self, bytes)
    }

    fn receive_snapshot(&mut self, bytes: &[u8]) -> Result<(), ReceiveError> {
        Replica::receive_snapshot(self, bytes)
    }

    fn heal_own(&mut self, theirs: Tip) -> Result<Option<Heal>, ReceiveError> {
        Replica::heal_own(self, theirs)
    }

    fn take_statements(&mut self, statements: &[Vec<u8>]) -> Result<usize, StoreError> {
        Replica::take_statements(self, statements)
    }
}
