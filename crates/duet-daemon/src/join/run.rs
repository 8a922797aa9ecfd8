//! The joiner's search and handshake as one loop over the swarm's events:
//! connect to candidates one at a time, run SPAKE2 with each, and once one
//! confirms the code, wait for its person's answer.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures::StreamExt;
use libp2p::core::ConnectedPoint;
use libp2p::request_response::{self, OutboundFailure};
use libp2p::swarm::dial_opts::DialOpts;
use libp2p::swarm::SwarmEvent;
use libp2p::{mdns, Multiaddr, PeerId, Swarm};
use serde_bytes::ByteBuf;
use tokio::time::Instant;
use zeroize::Zeroizing;

use super::addrs::{relays_of, same_place, without_p2p};
use super::{Inviter, JoinError, JoinProgress, JoinRequest, Secret, SetupError};
use crate::behaviour::{Behaviour, BehaviourEvent};
use crate::identity;
use crate::pairing::{Handshake, Session, Side};
use crate::protocol::{Intro, PairRequest, PairResponse, Welcome};

/// How often a person watching is told that the join is still going.
const REMIND: Duration = Duration::from_secs(30);

enum Progress {
    Idle,
    Started {
        peer: PeerId,
        handshake: Box<Handshake>,
    },
    /// The handshake succeeded; the inviter's person is asked.
    Confirming {
        peer: PeerId,
        session: Session,
        /// Who is asked, for the sentence if no answer comes.
        who: String,
    },
    /// The inviter's confirmation failed; we told it, and now leave.
    Failing {
        peer: PeerId,
    },
}

/// A device this joiner connected to.
struct Candidate {
    /// Where it was reached, for a sentence: "at ADDR".
    at: String,
    /// Whether its refusal ends the join: the device the person named
    /// (by address or URI), rather than one found on the LAN, where
    /// another device may hold the invitation.
    decisive: bool,
}

pub(super) struct Search<'r> {
    swarm: Swarm<Behaviour>,
    request: &'r JoinRequest,
    me: PeerId,
    password: Zeroizing<Vec<u8>>,
    nameplate: u32,
    by_uri: bool,
    /// The URI's device: the only one to talk to.
    expected: Option<PeerId>,
    addrs: Vec<Multiaddr>,
    /// The relays (mirrors) of relayed addresses in `addrs`: reached on
    /// the way to the inviting device, never asked to pair.
    relays: HashSet<PeerId>,
    dial_count: usize,
    dials_failed: usize,
    tried: HashSet<PeerId>,
    candidates: HashMap<PeerId, Candidate>,
    /// A refusal from a device found on the LAN, reported if nothing
    /// better comes before the time is up.
    refused: Option<JoinError>,
    progress: Progress,
    /// When the wait for the inviter's person ends, once it began.
    confirm_deadline: Option<Instant>,
}

impl<'r> Search<'r> {
    pub(super) fn new(
        swarm: Swarm<Behaviour>,
        request: &'r JoinRequest,
        me: PeerId,
        expected: Option<PeerId>,
        addrs: Vec<Multiaddr>,
        dial_count: usize,
    ) -> Self {
        let (nameplate, by_uri, password) = match &request.secret {
            Secret::Code(code) => (code.nameplate, false, code.password()),
            Secret::Uri(uri) => (uri.nameplate, true, uri.password()),
        };
        let relays = addrs.iter().flat_map(relays_of).collect();
        Self {
            swarm,
            request,
            me,
            password,
            nameplate,
            by_uri,
            expected,
            addrs,
            relays,
            dial_count,
            dials_failed: 0,
            tried: HashSet::new(),
            candidates: HashMap::new(),
            refused: None,
            progress: Progress::Idle,
            confirm_deadline: None,
        }
    }

    /// Runs until the inviter's welcome arrives, or the join fails.
    pub(super) async fn run(
        mut self,
        on_progress: &mut impl FnMut(JoinProgress),
    ) -> Result<Welcome, JoinError> {
        let search_deadline = Instant::now() + self.request.timeout;
        let mut remind = tokio::time::interval_at(Instant::now() + REMIND, REMIND);
        loop {
            let deadline = self.confirm_deadline.unwrap_or(search_deadline);
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Err(self.out_of_time()),
                _ = remind.tick() => {
                    let left = deadline.saturating_duration_since(Instant::now());
                    on_progress(match self.confirm_deadline {
                        Some(_) => JoinProgress::StillConfirming { left },
                        None => JoinProgress::StillLooking { left },
                    });
                }
                event = self.swarm.select_next_some() => {
                    let confirming = self.confirm_deadline.is_some();
                    if let Some(welcome) = self.on_event(event, on_progress)? {
                        return Ok(welcome);
                    }
                    if !confirming && self.confirm_deadline.is_some() {
                        remind.reset();
                    }
                }
            }
        }
    }

    fn out_of_time(&mut self) -> JoinError {
        if let Progress::Confirming { who, .. } = &self.progress {
            return JoinError::NotConfirmed {
                who: who.clone(),
                waited: self.request.confirm_timeout,
            };
        }
        self.refused
            .take()
            .unwrap_or(JoinError::Timeout(self.request.timeout))
    }

    fn on_event(
        &mut self,
        event: SwarmEvent<BehaviourEvent>,
        on_progress: &mut impl FnMut(JoinProgress),
    ) -> Result<Option<Welcome>, JoinError> {
        match event {
            SwarmEvent::ConnectionEstablished {
                peer_id, endpoint, ..
            } => self.on_connected(peer_id, &endpoint),
            SwarmEvent::Behaviour(BehaviourEvent::Mdns(mdns::Event::Discovered(found))) => {
                for (peer, addr) in found {
                    if self.expected.is_none_or(|p| p == peer)
                        && !self.tried.contains(&peer)
                        && !self.swarm.is_connected(&peer)
                    {
                        let opts = DialOpts::peer_id(peer).addresses(vec![addr]).build();
                        let _ = self.swarm.dial(opts);
                    }
                }
            }
            SwarmEvent::Behaviour(BehaviourEvent::Pair(request_response::Event::Message {
                peer,
                message: request_response::Message::Response { response, .. },
                ..
            })) => return self.on_response(peer, response, on_progress),
            SwarmEvent::Behaviour(BehaviourEvent::Pair(
                request_response::Event::OutboundFailure { peer, error, .. },
            )) => {
                tracing::debug!(error = %error, "pairing request failed");
                self.on_silence(peer, Some(&error))?;
            }
            SwarmEvent::OutgoingConnectionError { error, .. } => {
                tracing::debug!(error = %error, "could not connect");
                self.dials_failed += 1;
                if !self.request.mdns
                    && self.dials_failed >= self.dial_count
                    && self.tried.is_empty()
                {
                    return Err(JoinError::Unreachable {
                        addrs: self.addrs.clone(),
                    });
                }
            }
            SwarmEvent::ConnectionClosed {
                peer_id,
                num_established: 0,
                ..
            } => self.on_silence(peer_id, None)?,
            _ => {}
        }
        Ok(None)
    }

    fn on_connected(&mut self, peer: PeerId, endpoint: &ConnectedPoint) {
        if self.relays.contains(&peer) {
            return;
        }
        if !self.candidates.contains_key(&peer) {
            let candidate = self.candidate(&peer, endpoint);
            self.candidates.insert(peer, candidate);
        }
        // A device that connects while another is being tried waits its
        // turn (see `next_candidate`).
        if self.expected.is_some_and(|p| p != peer)
            || !matches!(self.progress, Progress::Idle)
            || !self.tried.insert(peer)
        {
            return;
        }
        self.start(peer);
    }

    fn candidate(&self, peer: &PeerId, endpoint: &ConnectedPoint) -> Candidate {
        match endpoint {
            ConnectedPoint::Dialer { address, .. } => {
                let named = self.addrs.iter().any(|a| same_place(a, address));
                let decisive = named || self.expected.is_some() || !self.request.mdns;
                let at = if named || !self.request.mdns {
                    format!("at {}", without_p2p(address))
                } else {
                    format!("{} on this network", identity::short(peer))
                };
                Candidate { at, decisive }
            }
            // Only an inviting device dials a joiner (`duet invite --dial`).
            ConnectedPoint::Listener { send_back_addr, .. } => Candidate {
                at: format!("that dialled in from {}", without_p2p(send_back_addr)),
                decisive: true,
            },
        }
    }

    /// Sends the first pairing message to `peer`.
    fn start(&mut self, peer: PeerId) {
        let (handshake, spake) = Handshake::start(Side::Joiner, &self.password, self.me, peer);
        self.swarm.behaviour_mut().pair.send_request(
            &peer,
            PairRequest::Start {
                nameplate: self.nameplate,
                by_uri: self.by_uri,
                spake: ByteBuf::from(spake),
            },
        );
        self.progress = Progress::Started {
            peer,
            handshake: Box::new(handshake),
        };
    }

    /// Tries the next device that is connected and not yet tried.
    fn next_candidate(&mut self) {
        let next = self
            .swarm
            .connected_peers()
            .find(|p| {
                !self.tried.contains(p)
                    && !self.relays.contains(p)
                    && self.expected.is_none_or(|e| e == **p)
            })
            .copied();
        if let Some(next) = next {
            self.tried.insert(next);
            self.start(next);
        }
    }

    fn on_response(
        &mut self,
        peer: PeerId,
        response: PairResponse,
        on_progress: &mut impl FnMut(JoinProgress),
    ) -> Result<Option<Welcome>, JoinError> {
        match (
            std::mem::replace(&mut self.progress, Progress::Idle),
            response,
        ) {
            (
                Progress::Started { peer: p, handshake },
                PairResponse::Started {
                    spake,
                    confirm,
                    sealed_intro,
                },
            ) if p == peer => {
                let session = handshake.finish(&spake)?;
                self.confirm(
                    peer,
                    session,
                    &confirm,
                    sealed_intro.as_ref().map(|s| s.as_slice()),
                    on_progress,
                )?;
            }
            (Progress::Failing { .. }, _) => return Err(JoinError::WrongCode),
            (
                Progress::Confirming {
                    peer: p, session, ..
                },
                PairResponse::Welcome { sealed },
            ) if p == peer => {
                let plain = session.open(&sealed)?;
                let welcome: Welcome = serde_json::from_slice(&plain)
                    .map_err(|_| JoinError::Setup(SetupError::Welcome("not JSON")))?;
                return Ok(Some(welcome));
            }
            // The inviting device's answer (a decline, the end of its
            // invitation) is final, whatever else is on the LAN.
            (Progress::Confirming { peer: p, .. }, PairResponse::Refused { reason })
                if p == peer =>
            {
                return Err(JoinError::Refused { reason });
            }
            (Progress::Started { peer: p, .. }, PairResponse::Refused { reason }) if p == peer => {
                tracing::info!(%peer, %reason, "refused");
                self.refused_by(peer, JoinError::Refused { reason })?;
            }
            (other, _) => self.progress = other,
        }
        Ok(None)
    }

    /// Finishes the handshake with `peer`: confirms either way (a wrong
    /// tag is how the inviter learns the code was wrong and ends the
    /// invitation), then waits for its person, or leaves.
    fn confirm(
        &mut self,
        peer: PeerId,
        session: Session,
        confirm: &[u8],
        sealed_intro: Option<&[u8]>,
        on_progress: &mut impl FnMut(JoinProgress),
    ) -> Result<(), JoinError> {
        let intro = Intro {
            person: self.request.person.clone(),
            device: self.request.device_name.clone(),
            role: self
                .request
                .mirror
                .then(|| duet_core::journal::MIRROR_ROLE.to_string()),
        };
        let sealed = session.seal(&serde_json::to_vec(&intro).unwrap_or_default())?;
        let wrong = session.check_confirmation(confirm).is_err();
        self.swarm.behaviour_mut().pair.send_request(
            &peer,
            PairRequest::Confirm {
                nameplate: self.nameplate,
                confirm: ByteBuf::from(session.my_confirmation()),
                sealed_intro: ByteBuf::from(sealed),
            },
        );
        if wrong {
            self.progress = Progress::Failing { peer };
            return Ok(());
        }
        // Bytes from the peer: an introduction that does not open or
        // parse leaves the inviter unnamed, nothing more.
        let theirs = sealed_intro
            .and_then(|sealed| session.open_intro(sealed).ok())
            .and_then(|plain| serde_json::from_slice::<Intro>(&plain).ok());
        let inviter = Inviter {
            short_id: identity::short(&peer),
            person: theirs.as_ref().map(|i| i.person.clone()),
            device: theirs.map(|i| i.device),
        };
        let who = inviter
            .person
            .clone()
            .unwrap_or_else(|| "the inviting device's person".to_string());
        on_progress(JoinProgress::Confirming {
            words: session.verification_words(),
            inviter,
        });
        self.progress = Progress::Confirming { peer, session, who };
        self.confirm_deadline = Some(Instant::now() + self.request.confirm_timeout);
        Ok(())
    }

    /// `peer`'s request failed (`error`) or its connection closed (`None`)
    /// with no answer to what this joiner last sent it.
    fn on_silence(
        &mut self,
        peer: PeerId,
        error: Option<&OutboundFailure>,
    ) -> Result<(), JoinError> {
        match &self.progress {
            Progress::Failing { peer: p } if error.is_some() || *p == peer => {
                Err(JoinError::WrongCode)
            }
            Progress::Confirming { peer: p, who, .. } if *p == peer => {
                let who = who.clone();
                Err(match error {
                    Some(OutboundFailure::Timeout) => JoinError::NotConfirmed {
                        who,
                        waited: self.request.confirm_timeout,
                    },
                    _ => JoinError::Lost { who },
                })
            }
            // A device that closes the connection before answering the
            // first message is one whose member gate turned a stranger
            // away: it has no invitation open.
            Progress::Started { peer: p, .. } if *p == peer => {
                let refusal = match error {
                    Some(OutboundFailure::UnsupportedProtocols) => JoinError::Refused {
                        reason: "it does not pair duet devices".into(),
                    },
                    _ => JoinError::NoInvitation {
                        at: self.candidates.get(&peer).map_or_else(
                            || format!("{} on this network", identity::short(&peer)),
                            |c| c.at.clone(),
                        ),
                    },
                };
                self.refused_by(peer, refusal)
            }
            _ => Ok(()),
        }
    }

    /// `peer` refused: the end of the join if it is the device the person
    /// named; on a LAN, remembered, and the next device tried.
    fn refused_by(&mut self, peer: PeerId, refusal: JoinError) -> Result<(), JoinError> {
        if self.candidates.get(&peer).is_none_or(|c| c.decisive) {
            return Err(refusal);
        }
        self.refused = Some(refusal);
        self.progress = Progress::Idle;
        self.next_candidate();
        Ok(())
    }
}
