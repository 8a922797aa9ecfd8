//! Joining a partner's journal from the browser, on a fresh home: the
//! code phrase typed, or the inviter's QR code scanned with the camera
//! (frames decoded here, `POST /join/scan`). The join runs on a thread of
//! its own, as `duet join` runs it; once joined, the daemon starts.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Extension, Form, State as AxState};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Json;
use duet_core::journal::input;
use duet_daemon::join::{JoinProgress, JoinRequest, Secret};
use duet_daemon::pairing::{Code, PairUri};
use serde::{Deserialize, Serialize};

use crate::html::{csrf_field, error_page, esc, page, see_other};
use crate::invite::Progress;
use crate::state::{lock, Session, State};

/// Largest camera frame decoded, in pixels on a side.
const MAX_SIDE: u32 = 4096;

/// The join in progress, if any.
#[derive(Default)]
pub struct Slot {
    pub progress: Progress,
}

/// `GET /join`.
pub async fn get(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
) -> Response {
    if state.home().is_initialised() && lock(&state.join).progress.state != "done" {
        return error_page(
            StatusCode::CONFLICT,
            &session.csrf,
            "this device already holds a journal; invite other devices from it instead",
        );
    }
    let body = format!(
        "<h1>Join your partner's journal</h1>\
<p>On your partner's device, choose “Invite a device”. Then scan its QR code here, or type its code phrase.</p>\
<p><button id=\"scan\" type=\"button\">Scan the QR code with the camera</button></p>\
<video id=\"camera\" autoplay playsinline muted hidden></video><canvas id=\"frame\" hidden></canvas>\
<p id=\"scanned\" hidden>QR code read</p>\
<form id=\"join-form\" method=\"post\" action=\"/join\">{}\
<input type=\"hidden\" name=\"uri\" value=\"\">\
<label>Your name <input name=\"person\" required></label>\
<label>This device's name <input name=\"device\" placeholder=\"laptop\"></label>\
<label>Code phrase <input name=\"code\" placeholder=\"7-crisp-lantern-orbit\" autocomplete=\"off\"></label>\
<button id=\"join-submit\" type=\"submit\">Join</button></form>\
<section id=\"join-progress\"><p id=\"join-status\"></p><p id=\"words\" class=\"words\"></p><p id=\"outcome\">{}</p></section>",
        csrf_field(&session.csrf),
        esc(lock(&state.join).progress.outcome.as_deref().unwrap_or(""))
    );
    page("Join", &session.csrf, &body)
}

/// `GET /join/state`.
pub async fn progress(AxState(state): AxState<Arc<State>>) -> Json<Progress> {
    let mut progress = lock(&state.join).progress.clone();
    if progress.state.is_empty() {
        progress.state = "none";
    }
    Json(progress)
}

#[derive(Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    person: String,
    #[serde(default)]
    device: String,
    #[serde(default)]
    code: String,
    #[serde(default)]
    uri: String,
    /// Where the inviting device listens, when mDNS cannot find it (an
    /// option the CLI has as `--addr`).
    #[serde(default)]
    addr: String,
}

/// `POST /join`: starts the join and goes back to `/join`, which follows it.
pub async fn start(
    AxState(state): AxState<Arc<State>>,
    Extension(session): Extension<Session>,
    Form(form): Form<JoinForm>,
) -> Response {
    if state.home().is_initialised() {
        return error_page(
            StatusCode::CONFLICT,
            &session.csrf,
            "this device already holds a journal",
        );
    }
    let request = match request(&state, form) {
        Ok(r) => r,
        Err(sentence) => return error_page(StatusCode::BAD_REQUEST, &session.csrf, &sentence),
    };
    {
        let mut slot = lock(&state.join);
        if matches!(slot.progress.state, "waiting" | "confirm") {
            return see_other("/join");
        }
        slot.progress = Progress {
            state: "waiting",
            ..Progress::default()
        };
    }
    let runtime = tokio::runtime::Handle::current();
    let thread_state = state.clone();
    let spawned = std::thread::Builder::new()
        .name("duet-ui-join".into())
        .spawn(move || run(thread_state, request, runtime));
    if spawned.is_err() {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            &session.csrf,
            "cannot start joining",
        );
    }
    see_other("/join")
}

fn request(state: &State, form: JoinForm) -> Result<JoinRequest, String> {
    let person = input::person_name(&form.person).map_err(|e| e.to_string())?;
    let secret = if !form.uri.trim().is_empty() {
        Secret::Uri(PairUri::parse(&form.uri).map_err(|e| e.to_string())?)
    } else if !form.code.trim().is_empty() {
        Secret::Code(Code::parse(&form.code).map_err(|e| e.to_string())?)
    } else {
        return Err("type the code phrase, or scan the QR code".to_string());
    };
    let addrs = match form.addr.trim() {
        "" => Vec::new(),
        a => vec![a
            .parse()
            .map_err(|_| format!("`{a}` is not an address like /ip4/192.168.1.20/tcp/4001"))?],
    };
    let device_name = Some(form.device.trim().to_string())
        .filter(|d| !d.is_empty())
        .unwrap_or_else(crate::pages::host_name);
    Ok(JoinRequest {
        home: state.root().to_path_buf(),
        person,
        device_name,
        secret,
        addrs,
        mdns: state.mdns,
        timeout: Duration::from_secs(120),
        confirm_timeout: duet_daemon::behaviour::PAIR_TIMEOUT,
        mirror: false,
        listen: Vec::new(),
    })
}

/// The join, on its own thread and runtime (as `duet join` runs it).
fn run(state: Arc<State>, request: JoinRequest, main: tokio::runtime::Handle) {
    let set = |progress: Progress| lock(&state.join).progress = progress;
    let who = format!("{}'s {}", request.person, request.device_name);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            return set(Progress {
                state: "failed",
                outcome: Some(format!("cannot start joining: {e}")),
                ..Progress::default()
            })
        }
    };
    let joined = runtime.block_on(duet_daemon::join::join(request, |progress| {
        if let JoinProgress::Confirming { words, inviter } = progress {
            let asked = inviter
                .person
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| "its person".to_string());
            set(Progress {
                state: "confirm",
                words: Some(words),
                device: None,
                outcome: Some(format!("Waiting for {asked} to confirm…")),
            });
        }
    }));
    drop(runtime);
    let words = lock(&state.join).progress.words.clone();
    match joined {
        Ok(_) => {
            // The daemon starts on the app's runtime, where it stays.
            let started = main.block_on(crate::engine::start_if_needed(&state));
            let outcome = match started {
                Ok(()) => format!("Joined. This device ({who}) now holds the journal."),
                Err(e) => format!(
                    "Joined. This device ({who}) holds the journal, but sync did not start: {e}"
                ),
            };
            set(Progress {
                state: "done",
                words,
                device: None,
                outcome: Some(outcome),
            });
        }
        Err(e) => set(Progress {
            state: "failed",
            words,
            device: None,
            outcome: Some(format!("Joining failed: {e}")),
        }),
    }
}

#[derive(Serialize)]
pub struct Scan {
    found: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    uri: Option<String>,
}

/// `POST /join/scan`: a camera frame (a PNG, bounded in bytes by
/// the guard and in pixels here); answers the `duet:` URI when the frame
/// holds a duet QR code.
pub async fn scan(body: Bytes) -> Result<Json<Scan>, (StatusCode, &'static str)> {
    let decoded = tokio::task::spawn_blocking(move || decode(&body))
        .await
        .map_err(|_| (StatusCode::INTERNAL_SERVER_ERROR, "decoding stopped"))?;
    match decoded {
        Ok(uri) => Ok(Json(Scan {
            found: uri.is_some(),
            uri,
        })),
        Err(()) => Err((
            StatusCode::BAD_REQUEST,
            "not a PNG image of a sensible size",
        )),
    }
}

/// The first `duet:` QR code in a PNG image (the page sends its camera
/// frames as PNG). Decoded with the `png` crate alone: a general image
/// library would add a megabyte to the installed binary for formats the
/// page never sends.
fn decode(bytes: &[u8]) -> Result<Option<String>, ()> {
    let limits = png::Limits {
        bytes: 128 * 1024 * 1024,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    decoder.set_transformations(png::Transformations::normalize_to_color8());
    let mut reader = decoder.read_info().map_err(drop)?;
    let (width, height) = reader.info().size();
    if width > MAX_SIDE || height > MAX_SIDE {
        return Err(());
    }
    let mut buf = vec![0; reader.output_buffer_size().ok_or(())?];
    let frame = reader.next_frame(&mut buf).map_err(drop)?;
    let samples = frame.color_type.samples();
    let grey = frame.color_type == png::ColorType::Grayscale
        || frame.color_type == png::ColorType::GrayscaleAlpha;
    let (line, width, height) = (frame.line_size, frame.width as usize, frame.height as usize);
    if samples == 0 || buf.len() < line.saturating_mul(height) || line < width * samples {
        return Err(());
    }
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(width, height, |x, y| {
        let at = y * line + x * samples;
        let pixel = &buf[at..at + samples];
        if grey || samples < 3 {
            pixel[0]
        } else {
            // Luma from RGB (ITU-R BT.601 weights).
            let (r, g, b) = (pixel[0] as u32, pixel[1] as u32, pixel[2] as u32);
            ((r * 299 + g * 587 + b * 114) / 1000) as u8
        }
    });
    for grid in prepared.detect_grids() {
        if let Ok((_, content)) = grid.decode() {
            if PairUri::parse(&content).is_ok() {
                return Ok(Some(content));
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::decode;

    /// A QR code of `text` as a PNG, 8 pixels a module, with the quiet
    /// zone a scanner needs.
    fn qr_png(text: &str) -> Vec<u8> {
        let code = qrcode::QrCode::new(text.as_bytes()).expect("fits a QR code");
        let (width, scale, quiet) = (code.width() as u32, 8u32, 4u32);
        let side = (width + 2 * quiet) * scale;
        let colors = code.to_colors();
        let image = image::GrayImage::from_fn(side, side, |x, y| {
            let (mx, my) = (x / scale, y / scale);
            let dark = mx >= quiet
                && my >= quiet
                && mx < width + quiet
                && my < width + quiet
                && colors[((my - quiet) * width + (mx - quiet)) as usize] == qrcode::Color::Dark;
            image::Luma([if dark { 0 } else { 255 }])
        });
        let mut png = Vec::new();
        image
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .expect("encode png");
        png
    }

    const URI: &str = "duet:pair?v=1&n=7&peer=12D3KooWD3eckifWpRn9wQpMG9R9hX3sD158z7EqHWmweQAJU5SA&s=aaaaaaaaaaaaaaaaaaaaaaaaaa&a=/ip4/127.0.0.1/tcp/4001";

    #[test]
    fn a_frame_holding_a_duet_qr_code_gives_its_uri() {
        assert_eq!(decode(&qr_png(URI)), Ok(Some(URI.to_string())));
    }

    #[test]
    fn a_frame_holding_another_qr_code_gives_nothing() {
        assert_eq!(decode(&qr_png("https://example.com/")), Ok(None));
    }

    #[test]
    fn bytes_that_are_no_image_are_refused() {
        assert_eq!(decode(b"GIF89a not really"), Err(()));
        assert_eq!(decode(&[0u8; 64]), Err(()));
    }
}
