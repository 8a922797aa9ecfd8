//! The inviting side of pairing, as a state machine: requests and the
//! person's answers go in, [`Action`]s come out for the event loop to
//! carry out. `C` is how a request is answered (libp2p's response channel
//! in the daemon, anything in a test).
//!
//! An invitation waits for one device. That device starts a SPAKE2
//! handshake, confirms it (the tags prove both sides used the same code)
//! and introduces itself; the person then sees the verification words and
//! answers. A wrong code, a handshake left unconfirmed for a minute, or the
//! end of the invitation's time ends it: one guess per invitation.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use libp2p::{Multiaddr, PeerId};
use serde_bytes::ByteBuf;

use crate::control::InviteEvent;
use crate::identity;
use crate::pairing::{new_nameplate, Code, Handshake, PairUri, Session, Side};
use crate::protocol::{Intro, PairRequest, PairResponse};

/// How long a started handshake may wait for the joiner's confirmation.
const STALL: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum InviteError {
    #[error("the daemon is not listening on any address yet; try again in a moment")]
    NotListening,
}

/// What the event loop must do.
pub enum Action<C> {
    /// Answer a pairing request.
    Respond { channel: C, response: PairResponse },
    /// Tell the person holding invitation `nameplate`.
    Tell { nameplate: u32, event: InviteEvent },
    /// The person accepted `peer`: record it in the journal, answer with
    /// the welcome sealed under `session`, then tell the person.
    Welcome {
        nameplate: u32,
        peer: PeerId,
        channel: C,
        session: Session,
        intro: Intro,
    },
}

struct Invitation<C> {
    /// Who this device is, sent sealed to the joiner with `Started`.
    own: Intro,
    code: Code,
    uri: PairUri,
    expires: Instant,
    state: State<C>,
}

enum State<C> {
    Waiting,
    Started {
        peer: PeerId,
        session: Session,
        since: Instant,
    },
    Asking {
        peer: PeerId,
        session: Session,
        channel: C,
        intro: Intro,
    },
}

/// The open invitations of one device.
pub struct Invitations<C> {
    me: PeerId,
    open: HashMap<u32, Invitation<C>>,
}

impl<C> Invitations<C> {
    pub fn new(me: PeerId) -> Self {
        Self {
            me,
            open: HashMap::new(),
        }
    }

    /// True while any invitation is open (strangers may connect to pair).
    pub fn any_open(&self) -> bool {
        !self.open.is_empty()
    }

    /// Opens an invitation reachable at `addrs` for `timeout`, on the
    /// device `own` introduces; returns its nameplate and the event that
    /// tells the person how to join.
    pub fn open(
        &mut self,
        addrs: Vec<Multiaddr>,
        own: Intro,
        timeout: Duration,
        now: Instant,
        now_ms: i64,
    ) -> Result<(u32, InviteEvent), InviteError> {
        if addrs.is_empty() {
            return Err(InviteError::NotListening);
        }
        let taken: Vec<u32> = self.open.keys().copied().collect();
        let nameplate = new_nameplate(&taken);
        let uri = PairUri {
            nameplate,
            peer: self.me,
            secret: duet_core::ids::random_bytes(),
            addrs: addrs.clone(),
        };
        let code = Code::generate(nameplate);
        let opened = InviteEvent::Opened {
            code: code.to_string(),
            uri: uri.to_string(),
            expires_at: now_ms.saturating_add(timeout.as_millis() as i64),
            // Each with this device's id, so that a joiner can dial it,
            // through a relay too, with no URI to name the device.
            addrs: addrs
                .iter()
                .map(|a| {
                    a.clone()
                        .with_p2p(self.me)
                        .unwrap_or_else(|a| a)
                        .to_string()
                })
                .collect(),
        };
        self.open.insert(
            nameplate,
            Invitation {
                own,
                code,
                uri,
                expires: now + timeout,
                state: State::Waiting,
            },
        );
        Ok((nameplate, opened))
    }

    /// A pairing request from `peer`.
    pub fn on_request(
        &mut self,
        peer: PeerId,
        request: PairRequest,
        channel: C,
        now: Instant,
    ) -> Vec<Action<C>> {
        match request {
            PairRequest::Start {
                nameplate,
                by_uri,
                spake,
            } => self.on_start(peer, nameplate, by_uri, &spake, channel, now),
            PairRequest::Confirm {
                nameplate,
                confirm,
                sealed_intro,
            } => self.on_confirm(peer, nameplate, &confirm, &sealed_intro, channel),
        }
    }

    fn on_start(
        &mut self,
        peer: PeerId,
        nameplate: u32,
        by_uri: bool,
        spake: &[u8],
        channel: C,
        now: Instant,
    ) -> Vec<Action<C>> {
        let me = self.me;
        let Some(inv) = self.open.get_mut(&nameplate) else {
            let reason = format!("there is no open invitation number {nameplate} here");
            return vec![refuse(channel, &reason)];
        };
        if !matches!(inv.state, State::Waiting) {
            return vec![refuse(
                channel,
                "this invitation is already in use by another device",
            )];
        }
        let password = if by_uri {
            inv.uri.password()
        } else {
            inv.code.password()
        };
        let (handshake, mine) = Handshake::start(Side::Inviter, &password, peer, me);
        match handshake.finish(spake) {
            Ok(session) => {
                let confirm = session.my_confirmation();
                // Only a joiner with the right code can open it.
                let sealed_intro = serde_json::to_vec(&inv.own)
                    .ok()
                    .and_then(|intro| session.seal_intro(&intro).ok())
                    .map(ByteBuf::from);
                inv.state = State::Started {
                    peer,
                    session,
                    since: now,
                };
                vec![Action::Respond {
                    channel,
                    response: PairResponse::Started {
                        spake: ByteBuf::from(mine),
                        confirm: ByteBuf::from(confirm),
                        sealed_intro,
                    },
                }]
            }
            Err(e) => {
                let mut actions = vec![refuse(channel, "the pairing handshake failed")];
                actions.extend(self.end(
                    nameplate,
                    Some(format!("pairing failed ({e}); the invitation has ended")),
                ));
                actions
            }
        }
    }

    fn on_confirm(
        &mut self,
        peer: PeerId,
        nameplate: u32,
        confirm: &[u8],
        sealed_intro: &[u8],
        channel: C,
    ) -> Vec<Action<C>> {
        // Only the device that started this invitation's handshake may
        // confirm it; anyone else leaves it exactly as it was.
        let started_by_this_peer = matches!(
            self.open.get(&nameplate).map(|inv| &inv.state),
            Some(State::Started { peer: p, .. }) if *p == peer
        );
        if !started_by_this_peer {
            return vec![refuse(
                channel,
                "this device has no handshake in progress for that invitation",
            )];
        }
        let Some(inv) = self.open.remove(&nameplate) else {
            return vec![refuse(channel, "the invitation has ended")];
        };
        let State::Started { session, .. } = inv.state else {
            return vec![refuse(channel, "the invitation has ended")];
        };
        if session.check_confirmation(confirm).is_err() {
            tracing::warn!(nameplate, %peer, "a device tried a wrong code; invitation ended");
            return vec![
                refuse(channel, "the code was wrong; the invitation has ended"),
                failed(nameplate, "a device tried a wrong code, so the invitation has ended; open a new one with `duet invite`"),
            ];
        }
        let intro = session
            .open(sealed_intro)
            .ok()
            .and_then(|bytes| serde_json::from_slice::<Intro>(&bytes).ok());
        let Some(intro) = intro else {
            return vec![
                refuse(channel, "the device's introduction does not open"),
                failed(
                    nameplate,
                    "the joining device sent a malformed introduction",
                ),
            ];
        };
        let joining = InviteEvent::Joining {
            person: intro.person.clone(),
            device: intro.device.clone(),
            device_id: device_text(&peer),
            words: session.verification_words(),
            mirror: intro.is_mirror(),
        };
        self.open.insert(
            nameplate,
            Invitation {
                state: State::Asking {
                    peer,
                    session,
                    channel,
                    intro,
                },
                ..inv
            },
        );
        vec![Action::Tell {
            nameplate,
            event: joining,
        }]
    }

    /// The person's answer about the device asking to join invitation
    /// `nameplate`; `still_waiting` tells whether that device still waits
    /// for the answer.
    pub fn answer(
        &mut self,
        nameplate: u32,
        accept: bool,
        still_waiting: impl FnOnce(&C) -> bool,
    ) -> Vec<Action<C>> {
        let Some(inv) = self.open.remove(&nameplate) else {
            return Vec::new();
        };
        let State::Asking {
            peer,
            session,
            channel,
            intro,
        } = inv.state
        else {
            self.open.insert(nameplate, inv);
            return Vec::new();
        };
        if !still_waiting(&channel) {
            return vec![failed(nameplate, "the joining device stopped waiting before the answer; nothing was recorded, so open a new invitation")];
        }
        if !accept {
            return vec![
                refuse(channel, "the other device declined"),
                failed(nameplate, "you declined the device"),
            ];
        }
        vec![Action::Welcome {
            nameplate,
            peer,
            channel,
            session,
            intro,
        }]
    }

    /// Ends invitation `nameplate`, telling the person `reason` if any.
    pub fn end(&mut self, nameplate: u32, reason: Option<String>) -> Vec<Action<C>> {
        let mut actions = Vec::new();
        if let Some(inv) = self.open.remove(&nameplate) {
            if let State::Asking { channel, .. } = inv.state {
                actions.push(refuse(channel, "the invitation has ended"));
            }
            if let Some(reason) = reason {
                actions.push(Action::Tell {
                    nameplate,
                    event: InviteEvent::Failed { reason },
                });
            }
        }
        actions
    }

    /// Ends the invitations whose time is up, and those whose handshake
    /// started but was never confirmed (ending, not reopening, keeps the
    /// rule of one guess per invitation).
    pub fn expire(&mut self, now: Instant) -> Vec<Action<C>> {
        let mut ended: Vec<(u32, &str)> = Vec::new();
        for (nameplate, inv) in &self.open {
            if inv.expires <= now {
                ended.push((
                    *nameplate,
                    "the invitation expired; open a new one with `duet invite`",
                ));
            } else if matches!(inv.state, State::Started { since, .. } if now.duration_since(since) > STALL)
            {
                ended.push((*nameplate, "a device began pairing but did not finish, so the invitation has ended; open a new one with `duet invite`"));
            }
        }
        ended
            .into_iter()
            .flat_map(|(nameplate, reason)| self.end(nameplate, Some(reason.to_string())))
            .collect()
    }
}

fn refuse<C>(channel: C, reason: &str) -> Action<C> {
    Action::Respond {
        channel,
        response: PairResponse::Refused {
            reason: reason.to_string(),
        },
    }
}

fn failed<C>(nameplate: u32, reason: &str) -> Action<C> {
    Action::Tell {
        nameplate,
        event: InviteEvent::Failed {
            reason: reason.to_string(),
        },
    }
}

/// A joining device's id as text, as the person sees it.
pub fn device_text(peer: &PeerId) -> String {
    identity::device_id(peer)
        .map(|d| d.to_text())
        .unwrap_or_default()
}

pub mod reach;
#[cfg(test)]
mod tests;
