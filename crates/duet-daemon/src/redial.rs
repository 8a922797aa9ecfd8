//! When to dial a member device that is not connected: at once the first
//! time, then with a backoff that doubles from half a second to thirty.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::PeerId;

const FIRST: Duration = Duration::from_millis(500);
const MOST: Duration = Duration::from_secs(30);

struct Backoff {
    next: Instant,
    delay: Duration,
}

#[derive(Default)]
pub struct Redial {
    peers: HashMap<PeerId, Backoff>,
}

impl Redial {
    /// Whether to dial `peer` now (always, with `force`); if so, the next
    /// attempt waits longer.
    pub fn due(&mut self, peer: PeerId, now: Instant, force: bool) -> bool {
        let backoff = self.peers.entry(peer).or_insert(Backoff {
            next: now,
            delay: FIRST,
        });
        if backoff.next > now && !force {
            return false;
        }
        backoff.next = now + backoff.delay;
        backoff.delay = (backoff.delay * 2).min(MOST);
        true
    }

    /// `peer` connected: next time it is lost, dial it at once.
    pub fn connected(&mut self, peer: &PeerId) {
        self.peers.remove(peer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dials_back_off_and_reset_on_connection() {
        let mut redial = Redial::default();
        let peer = PeerId::random();
        let t = Instant::now();
        assert!(redial.due(peer, t, false));
        assert!(!redial.due(peer, t + Duration::from_millis(400), false));
        assert!(redial.due(peer, t + Duration::from_millis(500), false));
        assert!(!redial.due(peer, t + Duration::from_millis(1400), false));
        assert!(redial.due(peer, t + Duration::from_millis(1400), true));
        redial.connected(&peer);
        assert!(redial.due(peer, t + Duration::from_millis(1401), false));
    }
}
