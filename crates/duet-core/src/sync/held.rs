//! Envelopes held back because their author is not yet known to be a
//! member: the record that adds the author may still be on its way. Each
//! remembers the peer it really came from, so that once it is taken in it
//! is passed on to every other peer, and never pushed back to its source.
//! The queue is bounded in count and in bytes; the oldest go first.

use std::collections::VecDeque;

/// The held-back queue.
#[derive(Debug)]
pub struct HeldBack<P> {
    queue: VecDeque<(Vec<u8>, P)>,
    bytes: usize,
    max_count: usize,
    max_bytes: usize,
}

impl<P> HeldBack<P> {
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            bytes: 0,
            max_count,
            max_bytes,
        }
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Holds `envelope`, which came from `source`. An envelope held
    /// already is not held twice; one larger than the whole budget is not
    /// held at all. Returns whether it is held.
    pub fn hold(&mut self, envelope: Vec<u8>, source: P) -> bool {
        if envelope.len() > self.max_bytes || self.max_count == 0 {
            return false;
        }
        if self.queue.iter().any(|(held, _)| *held == envelope) {
            return true;
        }
        while self.queue.len() >= self.max_count || self.bytes + envelope.len() > self.max_bytes {
            match self.queue.pop_front() {
                Some((dropped, _)) => self.bytes -= dropped.len(),
                None => break,
            }
        }
        self.bytes += envelope.len();
        self.queue.push_back((envelope, source));
        true
    }

    /// Everything held, oldest first, emptying the queue.
    pub fn take_all(&mut self) -> Vec<(Vec<u8>, P)> {
        self.bytes = 0;
        self.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_in_bytes_and_count_and_drops_the_oldest() {
        let mut held = HeldBack::new(3, 100);
        assert!(held.hold(vec![1; 40], 'a'));
        assert!(held.hold(vec![2; 40], 'b'));
        // A third of 40 bytes would pass 100: the oldest goes.
        assert!(held.hold(vec![3; 40], 'c'));
        assert_eq!((held.len(), held.bytes()), (2, 80));
        assert!(held.hold(vec![4; 1], 'd'));
        assert!(held.hold(vec![5; 1], 'e'));
        assert_eq!(held.len(), 3);
        assert!(!held.hold(vec![6; 101], 'f'), "larger than the budget");
        let sources: Vec<char> = held.take_all().into_iter().map(|(_, s)| s).collect();
        assert_eq!(sources, ['c', 'd', 'e']);
        assert_eq!(held.bytes(), 0);
    }

    #[test]
    fn the_same_envelope_is_held_once_with_its_first_source() {
        let mut held = HeldBack::new(10, 1000);
        held.hold(vec![7; 10], "first");
        held.hold(vec![7; 10], "second");
        assert_eq!(held.take_all(), vec![(vec![7; 10], "first")]);
    }
}
