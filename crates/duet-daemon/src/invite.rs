//! The inviting side of pairing, inside the daemon.

use std::time::{Duration, Instant};

use duet_core::journal::DeviceRecord;
use duet_core::DeviceId;
use libp2p::request_response::{self, ResponseChannel};
use libp2p::{Multiaddr, PeerId};
use serde_bytes::ByteBuf;
use tokio::sync::mpsc;

use crate::control::Reply;
use crate::daemon::{now_ms, Daemon};
use crate::identity;
use crate::pairing::{new_nameplate, Code, Handshake, PairUri, Session, Side};
use crate::protocol::{Intro, PairRequest, PairResponse, Welcome};

/// How long a started handshake may wait for the joiner's confirmation.
const STALL: Duration = Duration::from_secs(60);

pub struct Invitation {
    code: Code,
    uri: PairUri,
    expires: Instant,
    events: mpsc::Sender<Reply>,
    state: State,
}

enum State {
    Waiting,
    Started {
        peer: PeerId,
        session: Session,
        since: Instant,
    },
    Asking {
        peer: PeerId,
        session: Session,
        channel: ResponseChannel<PairResponse>,
        intro: Intro,
    },
}

impl Daemon {
    pub(crate) fn open_invitation(
        &mut self,
        timeout: Duration,
        events: mpsc::Sender<Reply>,
    ) -> Result<u32, String> {
        let taken: Vec<u32> = self.invitations.keys().copied().collect();
        let nameplate = new_nameplate(&taken);
        let addrs: Vec<Multiaddr> = self.swarm.listeners().cloned().collect();
        if addrs.is_empty() {
            return Err(
                "the daemon is not listening on any address yet; try again in a moment".into(),
            );
        }
        let uri = PairUri {
            nameplate,
            peer: *self.swarm.local_peer_id(),
            secret: duet_core::ids::random_bytes(),
            addrs,
        };
        let code = Code::generate(nameplate);
        let expires_at = now_ms() + timeout.as_millis() as i64;
        let opened = Reply::InviteOpened {
            code: code.to_string(),
            uri: uri.to_string(),
            expires_at,
        };
        events
            .try_send(opened)
            .map_err(|_| "the client went away".to_string())?;
        self.invitations.insert(
            nameplate,
            Invitation {
                code,
                uri,
                expires: Instant::now() + timeout,
                events,
                state: State::Waiting,
            },
        );
        self.members.set_pairing_open(true);
        tracing::info!(nameplate, "invitation open");
        Ok(nameplate)
    }

    pub(crate) fn on_pair_event(
        &mut self,
        event: request_response::Event<PairRequest, PairResponse>,
    ) {
        if let request_response::Event::Message {
            peer,
            message:
                request_response::Message::Request {
                    request, channel, ..
                },
            ..
        } = event
        {
            self.on_pair_request(peer, request, channel);
        }
    }

    fn refuse(&mut self, channel: ResponseChannel<PairResponse>, reason: &str) {
        let _ = self.swarm.behaviour_mut().pair.send_response(
            channel,
            PairResponse::Refused {
                reason: reason.to_string(),
            },
        );
    }

    fn on_pair_request(
        &mut self,
        peer: PeerId,
        request: PairRequest,
        channel: ResponseChannel<PairResponse>,
    ) {
        let me = *self.swarm.local_peer_id();
        match request {
            PairRequest::Start {
                nameplate,
                by_uri,
                spake,
            } => {
                let Some(inv) = self.invitations.get_mut(&nameplate) else {
                    return self.refuse(
                        channel,
                        &format!("there is no open invitation number {nameplate} here"),
                    );
                };
                if !matches!(inv.state, State::Waiting) {
                    return self.refuse(
                        channel,
                        "this invitation is already in use by another device",
                    );
                }
                let password = if by_uri {
                    inv.uri.password()
                } else {
                    inv.code.password()
                };
                let (handshake, mine) = Handshake::start(Side::Inviter, &password, peer, me);
                match handshake.finish(&spake) {
                    Ok(session) => {
                        let confirm = session.my_confirmation();
                        inv.state = State::Started {
                            peer,
                            session,
                            since: Instant::now(),
                        };
                        let _ = self.swarm.behaviour_mut().pair.send_response(
                            channel,
                            PairResponse::Started {
                                spake: ByteBuf::from(mine),
                                confirm: ByteBuf::from(confirm),
                            },
                        );
                    }
                    Err(e) => {
                        self.refuse(channel, "the pairing handshake failed");
                        self.end_invitation(
                            nameplate,
                            Some(format!("pairing failed ({e}); the invitation has ended")),
                        );
                    }
                }
            }
            PairRequest::Confirm {
                nameplate,
                confirm,
                sealed_intro,
            } => {
                // Only the device that started this invitation's handshake
                // may confirm it; anyone else leaves it exactly as it was.
                let started_by_this_peer = matches!(
                    self.invitations.get(&nameplate).map(|inv| &inv.state),
                    Some(State::Started { peer: p, .. }) if *p == peer
                );
                if !started_by_this_peer {
                    return self.refuse(
                        channel,
                        "this device has no handshake in progress for that invitation",
                    );
                }
                let Some(inv) = self.invitations.remove(&nameplate) else {
                    return self.refuse(channel, "the invitation has ended");
                };
                let State::Started { session, .. } = inv.state else {
                    return self.refuse(channel, "the invitation has ended");
                };
                let events = inv.events.clone();
                if session.check_confirmation(&confirm).is_err() {
                    tracing::warn!(nameplate, %peer, "a device tried a wrong code; invitation ended");
                    self.refuse(channel, "the code was wrong; the invitation has ended");
                    let _ = events.try_send(Reply::InviteFailed {
                        reason: "a device tried a wrong code, so the invitation has ended; open a new one with `duet invite`".into(),
                    });
                    self.close_pairing_if_idle();
                    return;
                }
                let intro = session
                    .open(&sealed_intro)
                    .ok()
                    .and_then(|bytes| serde_json::from_slice::<Intro>(&bytes).ok());
                let Some(intro) = intro else {
                    self.refuse(channel, "the device's introduction does not open");
                    let _ = events.try_send(Reply::InviteFailed {
                        reason: "the joining device sent a malformed introduction".into(),
                    });
                    self.close_pairing_if_idle();
                    return;
                };
                let device_id = identity::device_id(&peer)
                    .map(|d| d.to_text())
                    .unwrap_or_default();
                let _ = events.try_send(Reply::InviteJoining {
                    person: intro.person.clone(),
                    device: intro.device.clone(),
                    device_id,
                    words: session.verification_words(),
                });
                self.invitations.insert(
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
            }
        }
    }

    /// The person accepted or declined the joining device.
    pub(crate) fn answer_invitation(&mut self, nameplate: u32, accept: bool) {
        let Some(inv) = self.invitations.remove(&nameplate) else {
            return;
        };
        let State::Asking {
            peer,
            session,
            channel,
            intro,
        } = inv.state
        else {
            self.invitations.insert(nameplate, inv);
            return;
        };
        if !channel.is_open() {
            let _ = inv.events.try_send(Reply::InviteFailed {
                reason: "the joining device stopped waiting before the answer; nothing was recorded, so open a new invitation".into(),
            });
            self.close_pairing_if_idle();
            return;
        }
        if !accept {
            self.refuse(channel, "the other device declined");
            let _ = inv.events.try_send(Reply::InviteFailed {
                reason: "you declined the device".into(),
            });
            self.close_pairing_if_idle();
            return;
        }
        match self.welcome(peer, &session, &intro) {
            Ok(sealed) => {
                let _ = self.swarm.behaviour_mut().pair.send_response(
                    channel,
                    PairResponse::Welcome {
                        sealed: ByteBuf::from(sealed),
                    },
                );
                let device_id = identity::device_id(&peer)
                    .map(|d| d.to_text())
                    .unwrap_or_default();
                tracing::info!(device = %device_id.get(..8).unwrap_or_default(), "a new device joined");
                let _ = inv.events.try_send(Reply::InviteJoined {
                    person: intro.person,
                    device: intro.device,
                    device_id,
                    words: session.verification_words(),
                });
            }
            Err(reason) => {
                self.refuse(
                    channel,
                    "the inviting device could not record the new device",
                );
                let _ = inv.events.try_send(Reply::InviteFailed { reason });
            }
        }
        self.close_pairing_if_idle();
    }

    /// Records the new device in the journal and seals what it needs.
    fn welcome(
        &mut self,
        peer: PeerId,
        session: &Session,
        intro: &Intro,
    ) -> Result<Vec<u8>, String> {
        let device: DeviceId =
            identity::device_id(&peer).ok_or("the joining device's id is not ed25519")?;
        let record = DeviceRecord {
            id: device.to_text(),
            person: intro.person.clone(),
            name: intro.device.clone(),
            added_by: Some(self.replica.device_id().to_text()),
            added_at: now_ms(),
        };
        self.replica
            .commit(|journal, _| Ok(((), journal.add_device(&record)?)))
            .map_err(|e| format!("cannot record the new device: {e}"))?;
        // This device's person just accepted it; no notice needed here.
        let _ = self.replica.store().mark_seen(&[device]);
        self.update_members();
        let snapshot = self.whole(crate::whole::Job::Seal, &[])?.sealed()?;
        let welcome = Welcome {
            journal_id: self.replica.journal_id().to_text(),
            journal_key: self.replica.journal_key().to_secret_text().to_string(),
            inviter: self.replica.device_id().to_text(),
            snapshot: data_encoding::BASE64.encode(&snapshot),
            inviter_addrs: self.swarm.listeners().map(|a| a.to_string()).collect(),
        };
        let plain =
            zeroize::Zeroizing::new(serde_json::to_vec(&welcome).map_err(|e| e.to_string())?);
        drop(welcome);
        let sealed = session.seal(&plain).map_err(|e| e.to_string())?;
        self.push_new_now();
        Ok(sealed)
    }

    pub(crate) fn end_invitation(&mut self, nameplate: u32, reason: Option<String>) {
        if let Some(inv) = self.invitations.remove(&nameplate) {
            if let State::Asking { channel, .. } = inv.state {
                self.refuse(channel, "the invitation has ended");
            }
            if let Some(reason) = reason {
                let _ = inv.events.try_send(Reply::InviteFailed { reason });
            }
        }
        self.close_pairing_if_idle();
    }

    pub(crate) fn expire_invitations(&mut self) {
        let now = Instant::now();
        let expired: Vec<u32> = self
            .invitations
            .iter()
            .filter(|(_, inv)| inv.expires <= now)
            .map(|(n, _)| *n)
            .collect();
        for nameplate in expired {
            self.end_invitation(
                nameplate,
                Some("the invitation expired; open a new one with `duet invite`".into()),
            );
        }
        // A handshake that starts and never confirms would hold the
        // invitation; ending it (rather than reopening it) keeps the rule
        // of one guess per invitation.
        let stalled: Vec<u32> = self
            .invitations
            .iter()
            .filter(|(_, inv)| matches!(inv.state, State::Started { since, .. } if since.elapsed() > STALL))
            .map(|(n, _)| *n)
            .collect();
        for nameplate in stalled {
            self.end_invitation(
                nameplate,
                Some("a device began pairing but did not finish, so the invitation has ended; open a new one with `duet invite`".into()),
            );
        }
    }

    /// With no invitation open, strangers may no longer connect, and those
    /// still connected are sent away.
    fn close_pairing_if_idle(&mut self) {
        if !self.invitations.is_empty() {
            return;
        }
        self.members.set_pairing_open(false);
        let strangers: Vec<PeerId> = self
            .swarm
            .connected_peers()
            .filter(|p| !self.members.is_member(p))
            .copied()
            .collect();
        for peer in strangers {
            let _ = self.swarm.disconnect_peer_id(peer);
        }
    }
}
