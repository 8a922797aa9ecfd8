//! Version vectors: for each author device, the highest sequence number
//! such that every envelope from 1 up to it is held.

use std::collections::BTreeMap;

use crate::ids::DeviceId;

/// Author device → highest contiguous sequence number held.
///
/// Two devices exchange these on connect; each then sends what the other
/// lacks ([`VersionVector::lacks`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionVector(BTreeMap<DeviceId, u64>);

impl VersionVector {
    pub fn new() -> Self {
        Self::default()
    }

    /// The highest contiguous sequence held from `author` (0 if none).
    pub fn get(&self, author: &DeviceId) -> u64 {
        self.0.get(author).copied().unwrap_or(0)
    }

    /// Sets an author's sequence; 0 removes the author.
    pub fn set(&mut self, author: DeviceId, seq: u64) {
        if seq == 0 {
            self.0.remove(&author);
        } else {
            self.0.insert(author, seq);
        }
    }

    /// Raises each author to the larger of the two vectors.
    pub fn merge(&mut self, other: &VersionVector) {
        for (author, seq) in other.iter() {
            if seq > self.get(&author) {
                self.set(author, seq);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (DeviceId, u64)> + '_ {
        self.0.iter().map(|(a, s)| (*a, *s))
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// True when this vector holds everything `other` does.
    pub fn dominates(&self, other: &VersionVector) -> bool {
        other.iter().all(|(a, s)| self.get(&a) >= s)
    }

    /// The envelopes a peer whose vector is `theirs` lacks from what this
    /// vector holds: per author, the inclusive range of sequence numbers.
    pub fn lacks(&self, theirs: &VersionVector) -> Vec<(DeviceId, std::ops::RangeInclusive<u64>)> {
        self.iter()
            .filter(|(author, seq)| theirs.get(author) < *seq)
            .map(|(author, seq)| (author, theirs.get(&author) + 1..=seq))
            .collect()
    }

    /// Encodes as `count:u16` then `count × (device:32, seq:u64)`, big endian.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let count = u16::try_from(self.0.len()).unwrap_or(u16::MAX);
        out.extend_from_slice(&count.to_be_bytes());
        for (author, seq) in self.0.iter().take(count as usize) {
            out.extend_from_slice(&author.0);
            out.extend_from_slice(&seq.to_be_bytes());
        }
    }

    /// Decodes what [`VersionVector::encode`] wrote, returning the vector
    /// and the bytes that follow it; `None` when the bytes are short or
    /// name an author twice.
    pub fn decode(bytes: &[u8]) -> Option<(Self, &[u8])> {
        let (count, mut rest) = bytes.split_first_chunk::<2>()?;
        let count = u16::from_be_bytes(*count) as usize;
        let mut vv = VersionVector::new();
        for _ in 0..count {
            let (author, after) = rest.split_first_chunk::<32>()?;
            let (seq, after) = after.split_first_chunk::<8>()?;
            let author = DeviceId(*author);
            if vv.0.insert(author, u64::from_be_bytes(*seq)).is_some() {
                return None;
            }
            rest = after;
        }
        vv.0.retain(|_, seq| *seq > 0);
        Some((vv, rest))
    }
}

impl FromIterator<(DeviceId, u64)> for VersionVector {
    fn from_iter<T: IntoIterator<Item = (DeviceId, u64)>>(iter: T) -> Self {
        let mut vv = VersionVector::new();
        for (a, s) in iter {
            vv.set(a, s);
        }
        vv
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(n: u8) -> DeviceId {
        DeviceId([n; 32])
    }

    #[test]
    fn lacks_lists_the_ranges_the_peer_is_missing() {
        let mine: VersionVector = [(dev(1), 5), (dev(2), 3)].into_iter().collect();
        let theirs: VersionVector = [(dev(1), 2), (dev(3), 9)].into_iter().collect();
        assert_eq!(mine.lacks(&theirs), vec![(dev(1), 3..=5), (dev(2), 1..=3)]);
        assert!(theirs.lacks(&theirs).is_empty());
    }

    #[test]
    fn encoding_round_trips_and_rejects_short_input() {
        let vv: VersionVector = [(dev(1), 5), (dev(2), u64::MAX)].into_iter().collect();
        let mut bytes = Vec::new();
        vv.encode(&mut bytes);
        bytes.push(7);
        let (back, rest) = VersionVector::decode(&bytes).expect("decodes");
        assert_eq!(back, vv);
        assert_eq!(rest, &[7]);
        assert!(VersionVector::decode(&bytes[..bytes.len() - 3]).is_none());
    }

    #[test]
    fn merge_takes_the_larger_of_each_author() {
        let mut a: VersionVector = [(dev(1), 5), (dev(2), 1)].into_iter().collect();
        let b: VersionVector = [(dev(1), 2), (dev(2), 4)].into_iter().collect();
        a.merge(&b);
        assert!(a.dominates(&b));
        assert_eq!(a.get(&dev(1)), 5);
        assert_eq!(a.get(&dev(2)), 4);
    }
}
