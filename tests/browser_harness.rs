//! The browser harness itself, against a throwaway page served by the
//! test: WebDriver commands, waits, screenshots and the fake camera. When
//! these pass, a failing test in `browser.rs` is about the web app.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::time::Duration;

use common::browser::{Browser, Options};
use common::camera::{self, Grey};
use serde_json::json;

const WAIT: Duration = Duration::from_secs(20);

/// A page with a field, a button whose script writes a greeting and adds an
/// element a moment later, and a black box to photograph.
const PAGE: &str = r#"<!doctype html><html><head><meta charset="utf-8"></head><body>
<input id="who"><button id="go" type="button">go</button>
<p id="out"></p><div id="later"></div>
<div id="box" style="width:60px;height:40px;background:#000"></div>
<script>
document.getElementById('go').addEventListener('click', () => {
  document.getElementById('out').textContent = 'hello ' + document.getElementById('who').value;
  setTimeout(() => {
    const s = document.createElement('span');
    s.className = 'late';
    s.textContent = 'arrived';
    document.getElementById('later').appendChild(s);
  }, 300);
});
</script></body></html>"#;

/// Serves `PAGE` for every request on an ephemeral loopback port, until
/// the test process ends; returns its address.
fn serve_page() -> String {
    let listener = TcpListener::bind(("127.0.0.1", 0)).expect("bind loopback");
    let addr = listener.local_addr().expect("local addr");
    std::thread::spawn(move || {
        // A thread a connection: Chromium opens spare connections it may
        // never send a request on.
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || answer(&stream));
        }
    });
    format!("http://{addr}/")
}

fn answer(stream: &std::net::TcpStream) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    // The request's head ends at the first empty line; a GET has no body.
    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
        line.clear();
    }
    let mut stream = stream;
    let _ = write!(
        stream,
        "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{PAGE}",
        PAGE.len()
    );
}

#[test]
fn the_harness_types_clicks_waits_runs_scripts_and_photographs() {
    let Some(browser) = Browser::start(
        "the_harness_types_clicks_waits_runs_scripts_and_photographs",
        &Options::default(),
    ) else {
        return;
    };
    browser.goto(&serve_page());
    assert!(browser.find("#nothing-like-this").is_none());
    let who = browser.wait_for("#who", WAIT);
    browser.type_into(&who, "Sam");
    assert_eq!(browser.prop(&who, "value").as_deref(), Some("Sam"));
    browser.click(&browser.wait_for("#go", WAIT));
    browser.wait_for_text("#out", "hello Sam", WAIT);
    let late = browser.wait_visible("#later .late", WAIT);
    assert_eq!(browser.text(&late), "arrived");
    assert_eq!(browser.find_all("#later span").len(), 1);
    let later = browser.wait_for("#later", WAIT);
    assert!(browser.find_in(&later, ".late").is_some());
    assert_eq!(browser.attr(&who, "id").as_deref(), Some("who"));
    browser.clear(&who);
    assert_eq!(
        browser.execute("return arguments[0].value.length", vec![Browser::arg(&who)]),
        json!(0)
    );
    assert_eq!(
        browser.execute("return arguments[0] + 2", vec![json!(40)]),
        json!(42)
    );

    let shot = Grey::from_png(&browser.element_png(&browser.wait_for("#box", WAIT)))
        .expect("the element screenshot is a PNG");
    assert_eq!((shot.width, shot.height), (60, 40));
    assert!(shot.pixels.iter().all(|&p| p < 20), "the box is black");
    let page = Grey::from_png(&browser.page_png()).expect("the page screenshot is a PNG");
    assert!(
        page.width > 500 && page.height > 400,
        "{}x{}",
        page.width,
        page.height
    );
}

#[test]
fn a_qr_screenshot_becomes_a_centred_camera_frame_with_sharp_modules() {
    // A 3x3-module "code" of 10-pixel modules (dark corners and centre)
    // inside a 20-pixel white margin, as a page's screenshot would be.
    let mut picture = Grey::white(70, 70);
    for (mx, my) in [(0, 0), (2, 0), (1, 1), (0, 2), (2, 2)] {
        for y in 0..10 {
            for x in 0..10 {
                picture.pixels[(20 + my * 10 + y) * 70 + 20 + mx * 10 + x] = 0;
            }
        }
    }
    let decoded = Grey::from_png(&camera::png_of(&picture)).expect("decode");
    assert_eq!(decoded, picture);
    let frame = camera::frame_of(&decoded).expect("a frame");
    assert_eq!((frame.width, frame.height), (camera::WIDTH, camera::HEIGHT));
    // 30 pixels of code scale by 13 to 390, centred: from x=125, y=45.
    let (left, top, module) = (125, 45, 130);
    for (mx, my, dark) in [(0, 0, true), (1, 0, false), (1, 1, true), (2, 1, false)] {
        for (dx, dy) in [(0, 0), (module - 1, module - 1)] {
            let p = frame.at(left + mx * module + dx, top + my * module + dy);
            assert_eq!(p == 0, dark, "module ({mx},{my}) at +({dx},{dy}) is {p}");
        }
    }
    for (x, y) in [(left - 1, top), (left, top - 1), (0, 0), (639, 479)] {
        assert_eq!(frame.at(x, y), 255, "the quiet zone at ({x},{y})");
    }
    let video = camera::y4m(&frame, 3);
    let header = b"YUV4MPEG2 W640 H480 F10:1 Ip A1:1 C420jpeg\n";
    assert!(video.starts_with(header));
    assert_eq!(video.len(), header.len() + 3 * (6 + 640 * 480 * 3 / 2));
}

#[test]
fn a_real_qr_code_survives_the_trip_into_the_camera_video() {
    let uri = "duet:pair?v=1&n=42&peer=12D3KooWexample&s=abcdefghijklmnopqrstuvwxyz";
    let code = qrcode::QrCode::new(uri.as_bytes()).expect("a QR code");
    // Four pixels a module with a four-module quiet zone, as a page shows it.
    let (modules, scale, border) = (code.width(), 4, 4);
    let side = (modules + 2 * border) * scale;
    let mut picture = Grey::white(side, side);
    for (i, colour) in code.to_colors().into_iter().enumerate() {
        if colour == qrcode::Color::Dark {
            let (mx, my) = (i % modules + border, i / modules + border);
            for y in 0..scale {
                for x in 0..scale {
                    picture.pixels[(my * scale + y) * side + mx * scale + x] = 0;
                }
            }
        }
    }
    let frame = camera::frame_of(&Grey::from_png(&camera::png_of(&picture)).expect("decode"))
        .expect("a frame");
    assert_eq!(camera::read_qr(&frame).as_deref(), Some(uri));
    assert_eq!(camera::read_qr(&Grey::white(64, 64)), None);
}

#[test]
fn chromiums_fake_camera_plays_the_video_the_harness_wrote() {
    // Left half black, right half white: what the page's camera sees must
    // be that picture, not Chromium's built-in test pattern.
    let mut frame = Grey::white(camera::WIDTH, camera::HEIGHT);
    for y in 0..camera::HEIGHT {
        for x in 0..camera::WIDTH / 2 {
            frame.pixels[y * camera::WIDTH + x] = 0;
        }
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let video = dir.path().join("camera.y4m");
    std::fs::write(&video, camera::y4m(&frame, 3)).expect("write video");
    let Some(browser) = Browser::start(
        "chromiums_fake_camera_plays_the_video_the_harness_wrote",
        &Options {
            camera: Some(&video),
        },
    ) else {
        return;
    };
    // getUserMedia needs a secure context, which loopback HTTP is.
    browser.goto(&serve_page());
    let seen = browser.execute(
        r#"return (async () => {
  const stream = await navigator.mediaDevices.getUserMedia({video: true});
  const v = document.createElement('video');
  v.muted = true;
  v.srcObject = stream;
  await v.play();
  await new Promise(r => setTimeout(r, 500));
  const c = document.createElement('canvas');
  c.width = v.videoWidth;
  c.height = v.videoHeight;
  const g = c.getContext('2d');
  g.drawImage(v, 0, 0);
  const d = g.getImageData(0, 0, c.width, c.height).data;
  const px = (x, y) => d[(y * c.width + x) * 4];
  stream.getTracks().forEach(t => t.stop());
  return [c.width, c.height, px(c.width / 4 | 0, c.height / 2 | 0), px(3 * c.width / 4 | 0, c.height / 2 | 0)];
})()"#,
        vec![],
    );
    let seen: Vec<i64> = seen
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_i64).collect())
        .unwrap_or_default();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert_eq!((seen[0], seen[1]), (640, 480), "the video's size");
    assert!(
        seen[2] < 40 && seen[3] > 215,
        "left dark, right light: {seen:?}"
    );
}
