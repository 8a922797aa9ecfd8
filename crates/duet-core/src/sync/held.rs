//! Envelopes held back because their author is not yet known to be a
//! member: the record that adds the author may still be on its way. Each
//! remembers the peer it really came from, so that once it is taken in it
//! is passed on to every other peer, and never pushed back to its source.
//! The queue is bounded in count and in bytes; the oldest go first. One
//! peer may fill at most a quarter of it, so a member that sends junk
//! from made-up authors cannot push out what the others sent.

use std::collections::{HashMap, VecDeque};
use std::hash::Hash;

/// The held-back queue.
#[derive(Debug)]
pub struct HeldBack<P> {
    queue: VecDeque<(Vec<u8>, P)>,
    bytes: usize,
    /// Envelopes and bytes held, per source.
    shares: HashMap<P, (usize, usize)>,
    max_count: usize,
    max_bytes: usize,
}

impl<P: Clone + Eq + Hash> HeldBack<P> {
    pub fn new(max_count: usize, max_bytes: usize) -> Self {
        Self {
            queue: VecDeque::new(),
            bytes: 0,
            shares: HashMap::new(),
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
    /// already is not held twice; one larger than the source's share is
    /// not held at all. Returns whether it is held.
    pub fn hold(&mut self, envelope: Vec<u8>, source: P) -> bool {
        let (share_count, share_bytes) = (self.max_count / 4, self.max_bytes / 4);
        if envelope.len() > share_bytes || share_count == 0 {
            return false;
        }
        if self.queue.iter().any(|(held, _)| *held == envelope) {
            return true;
        }
        // The source's own oldest go first when its share is full...
        loop {
            let (count, bytes) = self.shares.get(&source).copied().unwrap_or((0, 0));
            if count < share_count && bytes + envelope.len() <= share_bytes {
                break;
            }
            let Some(i) = self.queue.iter().position(|(_, s)| *s == source) else {
                break;
            };
            self.remove(i);
        }
        // ...then anyone's oldest, when the whole queue is.
        while self.queue.len() >= self.max_count || self.bytes + envelope.len() > self.max_bytes {
            if self.queue.is_empty() {
                break;
            }
            self.remove(0);
        }
        self.bytes += envelope.len();
        let share = self.shares.entry(source.clone()).or_insert((0, 0));
        share.0 += 1;
        share.1 += envelope.len();
        self.queue.push_back((envelope, source));
        true
    }

    fn remove(&mut self, i: usize) {
        if let Some((dropped, source)) = self.queue.remove(i) {
            self.bytes -= dropped.len();
            if let Some(share) = self.shares.get_mut(&source) {
                share.0 -= 1;
                share.1 -= dropped.len();
                if share.0 == 0 {
                    self.shares.remove(&source);
                }
            }
        }
    }

    /// Everything held, oldest first, emptying the queue.
    pub fn take_all(&mut self) -> Vec<(Vec<u8>, P)> {
        self.bytes = 0;
        self.shares.clear();
        self.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_queue_is_bounded_in_bytes_and_count_and_drops_the_oldest() {
        let mut held = HeldBack::new(12, 400);
        for (i, source) in ['a', 'b', 'c'].into_iter().enumerate() {
            assert!(held.hold(vec![i as u8; 90], source));
        }
        assert!(held.hold(vec![9; 90], 'd'));
        // A fifth of 90 bytes would pass 400: the oldest goes.
        assert!(held.hold(vec![8; 90], 'e'));
        assert_eq!((held.len(), held.bytes()), (4, 360));
        assert!(!held.hold(vec![6; 101], 'f'), "larger than a share");
        let sources: Vec<char> = held.take_all().into_iter().map(|(_, s)| s).collect();
        assert_eq!(sources, ['b', 'c', 'd', 'e']);
        assert_eq!(held.bytes(), 0);
    }

    #[test]
    fn one_source_cannot_push_out_what_others_sent() {
        let mut held = HeldBack::new(8, 1 << 20);
        held.hold(vec![1; 10], "partner");
        for i in 0..100u8 {
            held.hold(vec![i, 2, 3], "flood");
        }
        let all = held.take_all();
        assert_eq!(all.iter().filter(|(_, s)| *s == "flood").count(), 2);
        assert!(all.iter().any(|(_, s)| *s == "partner"));
    }

    #[test]
    fn the_same_envelope_is_held_once_with_its_first_source() {
        let mut held = HeldBack::new(10, 1000);
        held.hold(vec![7; 10], "first");
        held.hold(vec![7; 10], "second");
        assert_eq!(held.take_all(), vec![(vec![7; 10], "first")]);
    }
}
