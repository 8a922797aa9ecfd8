use super::*;

/// A joiner's side of the handshake, driven by hand.
struct Joiner {
    peer: PeerId,
    handshake: Option<Handshake>,
}

fn opened(invitations: &mut Invitations<u32>, now: Instant) -> (u32, Code) {
    let addr: Multiaddr = "/ip4/127.0.0.1/tcp/1".parse().expect("addr");
    let (nameplate, event) = invitations
        .open(vec![addr], alex(), Duration::from_secs(300), now, 0)
        .expect("open");
    let InviteEvent::Opened { code, .. } = event else {
        panic!("the first event says how to join");
    };
    (nameplate, Code::parse(&code).expect("a code"))
}

/// The inviting device's introduction.
fn alex() -> Intro {
    Intro {
        person: "Alex".into(),
        device: "laptop".into(),
        role: None,
    }
}

fn start(inviter: PeerId, code: &Code) -> (Joiner, PairRequest) {
    let peer = PeerId::random();
    let (handshake, spake) = Handshake::start(Side::Joiner, &code.password(), peer, inviter);
    let request = PairRequest::Start {
        nameplate: code.nameplate,
        by_uri: false,
        spake: ByteBuf::from(spake),
    };
    let joiner = Joiner {
        peer,
        handshake: Some(handshake),
    };
    (joiner, request)
}

/// The joiner's confirmation, after the inviter's `Started` answer, and
/// the inviter's person when its introduction opened.
fn confirm(
    joiner: &mut Joiner,
    nameplate: u32,
    actions: Vec<Action<u32>>,
) -> (PairRequest, Option<String>) {
    let Some(Action::Respond {
        response:
            PairResponse::Started {
                spake,
                sealed_intro,
                ..
            },
        ..
    }) = actions.into_iter().next()
    else {
        panic!("the inviter answers the start");
    };
    let session = joiner
        .handshake
        .take()
        .expect("started")
        .finish(&spake)
        .expect("finish");
    let intro = serde_json::to_vec(&Intro {
        person: "Sam".into(),
        device: "laptop".into(),
        role: None,
    })
    .expect("json");
    let inviter = sealed_intro
        .and_then(|sealed| session.open_intro(&sealed).ok())
        .and_then(|plain| serde_json::from_slice::<Intro>(&plain).ok())
        .map(|intro| intro.person);
    let request = PairRequest::Confirm {
        nameplate,
        confirm: ByteBuf::from(session.my_confirmation()),
        sealed_intro: ByteBuf::from(session.seal(&intro).expect("seal")),
    };
    (request, inviter)
}

#[test]
fn the_right_code_asks_the_person_and_an_accept_welcomes_the_device() {
    let me = PeerId::random();
    let now = Instant::now();
    let mut inv = Invitations::new(me);
    let (nameplate, code) = opened(&mut inv, now);
    let (mut joiner, start_request) = start(me, &code);
    let started = inv.on_request(joiner.peer, start_request, 1, now);
    let (confirm_request, inviter) = confirm(&mut joiner, nameplate, started);
    assert_eq!(
        inviter.as_deref(),
        Some("Alex"),
        "the joiner learns whose answer it waits for"
    );
    let asked = inv.on_request(joiner.peer, confirm_request, 2, now);
    assert!(matches!(
        asked.as_slice(),
        [Action::Tell { event: InviteEvent::Joining { person, .. }, .. }] if person == "Sam"
    ));
    let accepted = inv.answer(nameplate, true, |_| true);
    assert!(matches!(
        accepted.as_slice(),
        [Action::Welcome { channel: 2, .. }]
    ));
    assert!(!inv.any_open());
}

#[test]
fn a_wrong_code_ends_the_invitation_after_one_guess() {
    let me = PeerId::random();
    let now = Instant::now();
    let mut inv = Invitations::new(me);
    let (nameplate, code) = opened(&mut inv, now);
    let wrong = Code::parse(&format!("{nameplate}-acid-acorn-acre")).expect("code");
    assert_ne!(wrong, code);
    let (mut joiner, start_request) = start(me, &wrong);
    let started = inv.on_request(joiner.peer, start_request, 1, now);
    let (confirm_request, inviter) = confirm(&mut joiner, nameplate, started);
    assert_eq!(inviter, None, "a wrong code does not learn who invited");
    let actions = inv.on_request(joiner.peer, confirm_request, 2, now);
    assert!(matches!(
        actions.as_slice(),
        [
            Action::Respond {
                response: PairResponse::Refused { .. },
                ..
            },
            Action::Tell {
                event: InviteEvent::Failed { .. },
                ..
            },
        ]
    ));
    assert!(!inv.any_open());
    // A second try with the right code finds no invitation.
    let (joiner, again) = start(me, &code);
    let refused = inv.on_request(joiner.peer, again, 3, now);
    assert!(matches!(
        refused.as_slice(),
        [Action::Respond {
            response: PairResponse::Refused { .. },
            ..
        }]
    ));
}

#[test]
fn one_device_at_a_time_and_only_it_may_confirm() {
    let me = PeerId::random();
    let now = Instant::now();
    let mut inv = Invitations::new(me);
    let (nameplate, code) = opened(&mut inv, now);
    let (mut first, start_first) = start(me, &code);
    let started = inv.on_request(first.peer, start_first, 1, now);
    let (second, start_second) = start(me, &code);
    let busy = inv.on_request(second.peer, start_second, 2, now);
    assert!(matches!(
        busy.as_slice(),
        [Action::Respond {
            response: PairResponse::Refused { .. },
            ..
        }]
    ));
    // The first device's confirmation, sent by the second, is refused and
    // changes nothing.
    let (confirm_request, _) = confirm(&mut first, nameplate, started);
    let PairRequest::Confirm {
        confirm,
        sealed_intro,
        ..
    } = &confirm_request
    else {
        unreachable!()
    };
    let stolen = PairRequest::Confirm {
        nameplate,
        confirm: confirm.clone(),
        sealed_intro: sealed_intro.clone(),
    };
    let refused = inv.on_request(second.peer, stolen, 3, now);
    assert!(matches!(
        refused.as_slice(),
        [Action::Respond {
            response: PairResponse::Refused { .. },
            ..
        }]
    ));
    let asked = inv.on_request(first.peer, confirm_request, 4, now);
    assert!(matches!(
        asked.as_slice(),
        [Action::Tell {
            event: InviteEvent::Joining { .. },
            ..
        }]
    ));
}

#[test]
fn invitations_expire_and_a_stalled_handshake_ends_one() {
    let me = PeerId::random();
    let now = Instant::now();
    let mut inv = Invitations::new(me);
    let (_, code) = opened(&mut inv, now);
    let (joiner, start_request) = start(me, &code);
    inv.on_request(joiner.peer, start_request, 1, now);
    assert!(inv.expire(now + Duration::from_secs(30)).is_empty());
    let ended = inv.expire(now + Duration::from_secs(61));
    assert!(
        matches!(ended.as_slice(), [Action::Tell { event: InviteEvent::Failed { reason }, .. }] if reason.contains("did not finish"))
    );
    let _ = opened(&mut inv, now);
    let ended = inv.expire(now + Duration::from_secs(301));
    assert!(
        matches!(ended.as_slice(), [Action::Tell { event: InviteEvent::Failed { reason }, .. }] if reason.contains("expired"))
    );
    assert!(!inv.any_open());
}
