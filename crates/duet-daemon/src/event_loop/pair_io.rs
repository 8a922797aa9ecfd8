//! Pairing's IO on the inviting side: opening invitations for the person,
//! feeding pairing requests to the invitations' state machine, and
//! carrying out what it decides.

use std::time::{Duration, Instant};

use libp2p::request_response::{self, ResponseChannel};
use libp2p::{Multiaddr, PeerId};
use serde_bytes::ByteBuf;
use tokio::sync::{mpsc, oneshot};

use super::{now_ms, EventLoop};
use crate::control::InviteEvent;
use crate::identity;
use crate::invite::{device_text, Action, InviteError};
use crate::local::WelcomeError;
use crate::pairing::Session;
use crate::protocol::{Intro, PairRequest, PairResponse};

impl EventLoop {
    pub(super) fn open_invitation(
        &mut self,
        timeout: Duration,
        dial: Vec<Multiaddr>,
        events: mpsc::Sender<InviteEvent>,
        opened: oneshot::Sender<Result<u32, InviteError>>,
    ) {
        let addrs = self.reachable_at();
        let own = self.own_intro();
        let (nameplate, event) =
            match self
                .invitations
                .open(addrs, own, timeout, Instant::now(), now_ms())
            {
                Ok(o) => o,
                Err(e) => {
                    let _ = opened.send(Err(e));
                    return;
                }
            };
        if events.try_send(event).is_err() || opened.send(Ok(nameplate)).is_err() {
            // The person went away before it opened.
            let actions = self.invitations.end(nameplate, None);
            self.carry_out(actions);
            return;
        }
        self.invite_events.insert(nameplate, events);
        self.gate.set_pairing_open(true);
        self.tell_mirrors_pairing(u32::try_from(timeout.as_secs()).unwrap_or(u32::MAX));
        self.invite_dials = dial;
        self.invite_dialled = None;
        self.dial_joiners(Instant::now());
        tracing::info!(nameplate, "invitation open");
    }

    /// Every address a joiner may reach this device at: where it listens
    /// (relayed addresses on a mirror included, once the mirror granted a
    /// reservation) and the external addresses a mirror confirmed.
    fn reachable_at(&self) -> Vec<Multiaddr> {
        let mut addrs: Vec<Multiaddr> = Vec::new();
        for addr in self
            .swarm
            .listeners()
            .chain(self.swarm.external_addresses())
        {
            if !addrs.contains(addr) {
                addrs.push(addr.clone());
            }
        }
        addrs
    }

    /// Who this device is, as its own device record says: the joiner is
    /// told whose confirmation it waits for.
    fn own_intro(&self) -> Intro {
        let me = self.local.device_id().to_text();
        let devices = self.local.writer.devices();
        let record = devices.iter().find(|d| d.id == me);
        Intro {
            person: record.map(|d| d.person.clone()).unwrap_or_default(),
            device: record.map(|d| d.name.clone()).unwrap_or_default(),
            role: None,
        }
    }

    /// While an invitation waits, dials the joiners that listen (every two
    /// seconds: the joiner may start after the invitation opens).
    pub(super) fn dial_joiners(&mut self, now: Instant) {
        if self.invite_dials.is_empty() || !self.invitations.any_open() {
            return;
        }
        if self
            .invite_dialled
            .is_some_and(|at| now.duration_since(at) < Duration::from_secs(2))
        {
            return;
        }
        self.invite_dialled = Some(now);
        for addr in self.invite_dials.clone() {
            let opts = libp2p::swarm::dial_opts::DialOpts::unknown_peer_id()
                .address(addr)
                .build();
            if let Err(e) = self.swarm.dial(opts) {
                tracing::debug!(error = %e, "cannot dial the joining device");
            }
        }
    }

    pub(super) fn on_pair_event(
        &mut self,
        event: request_response::Event<PairRequest, PairResponse>,
    ) {
        match event {
            request_response::Event::Message {
                peer,
                message:
                    request_response::Message::Request {
                        request, channel, ..
                    },
                ..
            } => {
                let actions = self
                    .invitations
                    .on_request(peer, request, channel, Instant::now());
                self.carry_out(actions);
            }
            request_response::Event::ResponseSent { peer, .. }
            | request_response::Event::InboundFailure { peer, .. } => self.welcome_done(peer),
            _ => {}
        }
    }

    /// Does what the invitations decided.
    pub(super) fn carry_out(&mut self, actions: Vec<Action<ResponseChannel<PairResponse>>>) {
        for action in actions {
            match action {
                Action::Respond { channel, response } => {
                    let _ = self
                        .swarm
                        .behaviour_mut()
                        .pair
                        .send_response(channel, response);
                }
                Action::Tell { nameplate, event } => self.tell(nameplate, event),
                Action::Welcome {
                    nameplate,
                    peer,
                    channel,
                    session,
                    intro,
                } => self.welcome(nameplate, peer, channel, &session, intro),
            }
        }
        self.close_pairing_if_idle();
    }

    fn tell(&mut self, nameplate: u32, event: InviteEvent) {
        let last = event.is_last();
        if let Some(events) = self.invite_events.get(&nameplate) {
            let _ = events.try_send(event);
        }
        if last {
            self.invite_events.remove(&nameplate);
        }
    }

    /// Records the accepted device and sends it the journal.
    fn welcome(
        &mut self,
        nameplate: u32,
        peer: PeerId,
        channel: ResponseChannel<PairResponse>,
        session: &Session,
        intro: Intro,
    ) {
        let addrs = self.swarm.listeners().map(|a| a.to_string()).collect();
        let sealed = self
            .local
            .welcome(&peer, &intro, addrs, now_ms())
            .and_then(|welcome| {
                // Sized once (the snapshot is nearly all of it, and a
                // buffer grown by doubling would hold up to twice that)
                // and sealed where it is: one copy of the journal at a
                // time, where there were four.
                let mut plain =
                    zeroize::Zeroizing::new(Vec::with_capacity(welcome.snapshot.len() + 4096));
                serde_json::to_writer(&mut *plain, &welcome).map_err(WelcomeError::Encode)?;
                drop(welcome);
                session
                    .seal_in_place(&mut plain)
                    .map_err(WelcomeError::Pairing)?;
                // Sealed now: taken out of the wrapper that would wipe it.
                Ok(std::mem::take(&mut *plain))
            });
        // A joiner this device dialled listens where it was dialled: the
        // daemon calls it there from now on.
        if sealed.is_ok() && !self.invite_dials.is_empty() {
            if let Some(device) = identity::device_id(&peer) {
                let addrs: Vec<String> = self.invite_dials.iter().map(|a| a.to_string()).collect();
                let _ = self.local.writer.store().remember_addrs(&device, &addrs);
            }
        }
        // Made a member below, the device keeps its relayed connection
        // until the welcome is sent on it.
        self.welcome_sending(peer);
        // The device record goes out to the other members at once.
        self.engine.pick_up(&self.local);
        self.drain_engine();
        self.update_gate();
        let (response, event) = match sealed {
            Ok(sealed) => {
                let device = format!(
                    "{}/{}",
                    intro
                        .person
                        .chars()
                        .filter(|c| !c.is_control())
                        .collect::<String>(),
                    device_text(&peer).get(..8).unwrap_or_default()
                );
                tracing::info!(%device, "a new device joined");
                let joined = InviteEvent::Joined {
                    mirror: intro.is_mirror(),
                    person: intro.person,
                    device: intro.device,
                    device_id: device_text(&peer),
                    words: session.verification_words(),
                };
                let sealed = ByteBuf::from(sealed);
                (PairResponse::Welcome { sealed }, joined)
            }
            Err(e) => {
                let reason = crate::sentence(&e);
                let refused = PairResponse::Refused {
                    reason: "the inviting device could not record the new device".into(),
                };
                (refused, InviteEvent::Failed { reason })
            }
        };
        let _ = self
            .swarm
            .behaviour_mut()
            .pair
            .send_response(channel, response);
        self.tell(nameplate, event);
    }

    /// With no invitation open, strangers may no longer connect, and those
    /// still connected are sent away.
    pub(super) fn close_pairing_if_idle(&mut self) {
        if self.invitations.any_open() {
            return;
        }
        if self.gate.pairing_open() {
            self.tell_mirrors_pairing(0);
        }
        self.invite_dials.clear();
        crate::peering::close_pairing(&self.gate, &mut self.swarm);
    }
}
