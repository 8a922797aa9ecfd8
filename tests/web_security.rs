//! `duet ui` refuses everyone but the browser that opened its secret URL:
//! without the secret or the cookie, from a foreign Host or Origin, or
//! without the CSRF token, every request is refused, and it listens on
//! loopback only.

mod common;

use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::time::Duration;

use common::web::{form, request, Ui};
use common::Device;

/// Every route, with the method it answers.
const ROUTES: &[(&str, &str)] = &[
    ("GET", "/timeline"),
    ("GET", "/timeline?fragment=1"),
    ("GET", "/events"),
    ("GET", "/devices"),
    ("GET", "/status"),
    ("GET", "/export?format=json"),
    ("GET", "/export?format=md"),
    ("GET", "/welcome"),
    ("GET", "/invite"),
    ("GET", "/invite/state"),
    ("GET", "/join"),
    ("GET", "/join/state"),
    ("GET", "/static/app.js"),
    ("GET", "/static/app.css"),
    ("GET", "/no-such-page"),
    ("POST", "/entries"),
    ("POST", "/entry/abcd/reply"),
    ("POST", "/entry/abcd/react"),
    ("POST", "/entry/abcd/heard"),
    ("POST", "/devices/abcd/remove"),
    ("POST", "/welcome"),
    ("POST", "/invite"),
    ("POST", "/invite/answer"),
    ("POST", "/join"),
    ("POST", "/join/scan"),
];

const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; media-src 'self' blob: mediastream:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

#[test]
fn without_the_secret_or_the_cookie_every_route_is_refused() {
    let alex = Device::init("Alex");
    let ui = Ui::start(&alex, &[]);
    let wrong = format!("/?t={}", "0".repeat(ui.secret.len()));
    for path in ["/", "/?t=", wrong.as_str(), "/?secret=x"] {
        let r = ui.request("GET", path, &[], b"");
        assert_eq!(r.status, 403, "GET {path}: {r:?}");
        assert!(r.header("set-cookie").is_none(), "GET {path} set a cookie");
    }
    // The secret opens a session only with GET.
    let r = ui.request("POST", &format!("/?t={}", ui.secret), &[], b"");
    assert_eq!(r.status, 403, "{r:?}");
    let session = ui.session();
    let body = form(&[("csrf", &session.csrf), ("text", "should not be written")]);
    for cookie in [None, Some("duet_session=forged"), Some("other=1")] {
        for (method, path) in ROUTES {
            let mut headers = vec![("Content-Type", "application/x-www-form-urlencoded")];
            if let Some(c) = cookie {
                headers.push(("Cookie", c));
            }
            let r = ui.request(method, path, &headers, body.as_bytes());
            assert_eq!(
                r.status, 403,
                "{method} {path} with cookie {cookie:?}: {r:?}"
            );
            assert_eq!(r.body, "open duet ui again\n");
        }
    }
    assert!(!alex.has_body("should not be written"));
    ui.stop();
}

#[test]
fn a_wrong_host_or_a_foreign_origin_is_refused() {
    let alex = Device::init("Alex");
    let ui = Ui::start(&alex, &[]);
    let session = ui.session();
    let other_port = format!("127.0.0.1:{}", ui.port.wrapping_add(1));
    let rebound = format!("evil.example:{}", ui.port);
    let hosts = [
        rebound.as_str(),
        other_port.as_str(),
        "127.0.0.1",
        "localhost",
        "",
    ];
    for host in hosts {
        let r = ui.request(
            "GET",
            "/timeline",
            &[("Host", host), ("Cookie", &session.cookie)],
            b"",
        );
        assert_eq!(r.status, 403, "Host {host:?}: {r:?}");
        let r = ui.request("GET", &format!("/?t={}", ui.secret), &[("Host", host)], b"");
        assert_eq!(r.status, 403, "the secret with Host {host:?}: {r:?}");
    }
    // localhost at the right port is this app, as 127.0.0.1 is.
    let localhost = format!("localhost:{}", ui.port);
    let r = ui.request(
        "GET",
        "/timeline",
        &[("Host", &localhost), ("Cookie", &session.cookie)],
        b"",
    );
    assert_eq!(r.status, 200, "{r:?}");

    let foreign = [
        "http://evil.example".to_string(),
        "null".to_string(),
        format!("http://127.0.0.1:{}", ui.port.wrapping_add(1)),
        format!("https://127.0.0.1:{}", ui.port),
    ];
    let body = form(&[("csrf", &session.csrf), ("text", "from a foreign origin")]);
    for origin in &foreign {
        let r = ui.request(
            "GET",
            "/timeline",
            &[("Origin", origin), ("Cookie", &session.cookie)],
            b"",
        );
        assert_eq!(r.status, 403, "GET with Origin {origin}: {r:?}");
        let r = ui.request(
            "POST",
            "/entries",
            &[
                ("Origin", origin),
                ("Cookie", &session.cookie),
                ("Content-Type", "application/x-www-form-urlencoded"),
            ],
            body.as_bytes(),
        );
        assert_eq!(r.status, 403, "POST with Origin {origin}: {r:?}");
    }
    assert!(!alex.has_body("from a foreign origin"));
    // This app's own origin is let through.
    let own = format!("http://127.0.0.1:{}", ui.port);
    let r = ui.request(
        "POST",
        "/entries",
        &[
            ("Origin", &own),
            ("Cookie", &session.cookie),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form(&[("csrf", &session.csrf), ("text", "from this app")]).as_bytes(),
    );
    assert_eq!(r.status, 303, "{r:?}");
    assert!(alex.has_body("from this app"));
    ui.stop();
}

#[test]
fn a_post_without_the_csrf_token_is_refused_and_nothing_is_written() {
    let alex = Device::init("Alex");
    let ui = Ui::start(&alex, &[]);
    let session = ui.session();
    let other = ui.session();
    assert_ne!(session.csrf, other.csrf, "each session has its own token");
    let attempts: Vec<Vec<(&str, &str)>> = vec![
        vec![("text", "no token")],
        vec![("csrf", ""), ("text", "no token")],
        vec![("csrf", "0123"), ("text", "no token")],
        vec![("csrf", &other.csrf), ("text", "no token")],
    ];
    for fields in &attempts {
        let r = ui.post_raw(&session, "/entries", fields);
        assert_eq!(r.status, 403, "{fields:?}: {r:?}");
    }
    // A token in a header is checked the same way.
    let r = ui.request(
        "POST",
        "/entries",
        &[
            ("Cookie", &session.cookie),
            ("x-duet-csrf", "wrong"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ],
        form(&[("text", "no token")]).as_bytes(),
    );
    assert_eq!(r.status, 403, "{r:?}");
    // A token in the query string is not a token.
    let r = ui.post_raw(
        &session,
        &format!("/entries?csrf={}", session.csrf),
        &[("text", "no token")],
    );
    assert_eq!(r.status, 403, "{r:?}");
    std::thread::sleep(Duration::from_millis(300));
    assert!(!alex.has_body("no token"), "a refused POST wrote an entry");
    let r = ui.post(&session, "/entries", &[("text", "with the token")]);
    assert_eq!(r.status, 303, "{r:?}");
    assert!(alex.has_body("with the token"));
    ui.stop();
}

#[test]
fn every_response_carries_the_security_headers() {
    let alex = Device::init("Alex");
    let ui = Ui::start(&alex, &[]);
    let session = ui.session();
    let responses = [
        ui.request("GET", "/timeline", &[], b""),
        ui.request("GET", &format!("/?t={}", ui.secret), &[], b""),
        ui.get(&session, "/timeline"),
        ui.get(&session, "/static/app.js"),
        ui.get(&session, "/static/app.css"),
        ui.get(&session, "/devices"),
        ui.get(&session, "/no-such-page"),
        ui.post(&session, "/entries", &[("text", "headers")]),
    ];
    for r in &responses {
        assert_eq!(r.header("content-security-policy"), Some(CSP), "{r:?}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
        assert_eq!(r.header("referrer-policy"), Some("same-origin"));
        assert_eq!(r.header("cache-control"), Some("no-store"));
        assert_eq!(r.header("x-frame-options"), Some("DENY"));
    }
    // No inline script or style: the CSP would block them.
    let page = ui.get(&session, "/timeline").body;
    assert!(
        !page.contains("<script>") && !page.contains("style="),
        "{page}"
    );
    ui.stop();
}

#[test]
fn request_bodies_and_camera_frames_are_bounded() {
    let alex = Device::init("Alex");
    let ui = Ui::start(&alex, &[]);
    let session = ui.session();
    let csrf = session.csrf.clone();
    let huge = vec![b'a'; 5 * 1024 * 1024];
    let r = ui.request(
        "POST",
        "/join/scan",
        &[
            ("Cookie", &session.cookie),
            ("x-duet-csrf", &csrf),
            ("Content-Type", "image/png"),
        ],
        &huge,
    );
    assert!(r.status == 413 || r.status == 0, "a 5 MB frame: {r:?}");
    let r = ui.request(
        "POST",
        "/join/scan",
        &[
            ("Cookie", &session.cookie),
            ("x-duet-csrf", &csrf),
            ("Content-Type", "image/png"),
        ],
        b"\x89PNG\r\n\x1a\nnot really",
    );
    assert_eq!(r.status, 400, "{r:?}");
    let long = "x".repeat(2 * 1024 * 1024);
    let r = ui.post(&session, "/entries", &[("text", &long)]);
    assert!(r.status == 413 || r.status == 0, "a 2 MB form: {r:?}");
    ui.stop();
}

/// A non-loopback IPv4 address of this machine, if it has one.
fn outside_address() -> Option<IpAddr> {
    // Connecting a UDP socket sends nothing; it only picks the address
    // the route to the outside would use.
    let routed = UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("192.0.2.1:9").map(|()| s))
        .and_then(|s| s.local_addr())
        .ok()
        .map(|a| a.ip())
        .filter(|ip| !ip.is_loopback() && !ip.is_unspecified());
    routed.or_else(|| {
        let out = std::process::Command::new("ip")
            .args(["-4", "-o", "addr"])
            .output()
            .ok()?;
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .filter_map(|w| w.split('/').next()?.parse::<IpAddr>().ok())
            .find(|ip| !ip.is_loopback())
    })
}

#[test]
fn the_app_is_not_reachable_on_any_address_but_loopback() {
    let alex = Device::init("Alex");
    let ui = Ui::start(&alex, &[]);
    let Some(ip) = outside_address() else {
        eprintln!("NOT CHECKED: this machine has no non-loopback IPv4 address to try the port on");
        ui.stop();
        return;
    };
    let addr = SocketAddr::new(ip, ui.port);
    let reached = TcpStream::connect_timeout(&addr, Duration::from_secs(3));
    assert!(reached.is_err(), "duet ui answered on {addr}");
    // The same port on loopback answers (so the refusal above is not a
    // port that nothing listens on anywhere).
    let r = request(ui.port, "GET", "/timeline", &[("Host", &ui.host())], b"");
    assert_eq!(r.status, 403);
    ui.stop();
}
