//! A video for Chromium's fake camera, made from a screenshot of a QR code.
//!
//! Chromium plays a YUV4MPEG2 file in a loop when it is started with
//! `--use-file-for-fake-video-capture`. The inviter's page shows the QR
//! code; its element screenshot (a PNG) becomes a 640x480 greyscale video
//! in which the code sits in the middle, scaled up with nearest-neighbour
//! so its modules stay sharp, with a white quiet zone around it, as a
//! phone held up to a laptop's camera would show it.

use std::io::Cursor;
use std::path::Path;

/// The video's size; 4:2:0 needs both even.
pub const WIDTH: usize = 640;
pub const HEIGHT: usize = 480;

/// How many pixels the code may span at most, leaving a quiet zone of at
/// least 40 pixels above and below it.
const CODE_SPAN: usize = 400;

/// A greyscale picture, one byte of luma a pixel, row by row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Grey {
    pub width: usize,
    pub height: usize,
    pub pixels: Vec<u8>,
}

impl Grey {
    /// A white picture.
    pub fn white(width: usize, height: usize) -> Self {
        Self {
            width,
            height,
            pixels: vec![255; width * height],
        }
    }

    pub fn at(&self, x: usize, y: usize) -> u8 {
        self.pixels[y * self.width + x]
    }

    /// Decodes a PNG of any colour type into luma, with transparent
    /// pixels over white (as a page shows them).
    pub fn from_png(png_bytes: &[u8]) -> Result<Self, String> {
        let mut decoder = png::Decoder::new(Cursor::new(png_bytes));
        decoder.set_transformations(png::Transformations::normalize_to_color8());
        let mut reader = decoder.read_info().map_err(|e| format!("not a PNG: {e}"))?;
        let size = reader
            .output_buffer_size()
            .ok_or("the PNG is too large to decode")?;
        let mut buf = vec![0; size];
        let info = reader
            .next_frame(&mut buf)
            .map_err(|e| format!("bad PNG data: {e}"))?;
        let (width, height) = (info.width as usize, info.height as usize);
        let channels = info.color_type.samples();
        let data = buf
            .get(..info.buffer_size())
            .ok_or("the PNG frame is shorter than its header says")?;
        let mut pixels = Vec::with_capacity(width * height);
        for px in data.chunks_exact(channels) {
            let (luma, alpha) = match *px {
                [g] => (f64::from(g), 255.0),
                [g, a] => (f64::from(g), f64::from(a)),
                [r, g, b] => (rec601(r, g, b), 255.0),
                [r, g, b, a] => (rec601(r, g, b), f64::from(a)),
                _ => return Err(format!("unexpected {channels} channels")),
            };
            let over_white = luma * alpha / 255.0 + 255.0 * (1.0 - alpha / 255.0);
            pixels.push(over_white.round().clamp(0.0, 255.0) as u8);
        }
        if pixels.len() != width * height || width == 0 || height == 0 {
            return Err(format!(
                "a {width}x{height} PNG with {} pixels",
                pixels.len()
            ));
        }
        Ok(Self {
            width,
            height,
            pixels,
        })
    }

    /// The smallest rectangle holding every dark pixel: the code itself,
    /// without whatever margin the page drew around it.
    fn dark_bounds(&self) -> Option<(usize, usize, usize, usize)> {
        let (mut x0, mut y0, mut x1, mut y1) = (usize::MAX, usize::MAX, 0, 0);
        for y in 0..self.height {
            for x in 0..self.width {
                if self.at(x, y) < 128 {
                    x0 = x0.min(x);
                    y0 = y0.min(y);
                    x1 = x1.max(x + 1);
                    y1 = y1.max(y + 1);
                }
            }
        }
        (x0 < x1).then_some((x0, y0, x1, y1))
    }
}

fn rec601(r: u8, g: u8, b: u8) -> f64 {
    0.299 * f64::from(r) + 0.587 * f64::from(g) + 0.114 * f64::from(b)
}

/// One camera frame: the code from `qr` centred on white, scaled so it
/// spans up to `CODE_SPAN` pixels, by a whole factor when it fits.
pub fn frame_of(qr: &Grey) -> Result<Grey, String> {
    let (x0, y0, x1, y1) = qr
        .dark_bounds()
        .ok_or("the screenshot has no dark pixels, so no QR code")?;
    let side = (x1 - x0).max(y1 - y0);
    let span = if side <= CODE_SPAN {
        side * (CODE_SPAN / side)
    } else {
        CODE_SPAN
    };
    let mut frame = Grey::white(WIDTH, HEIGHT);
    let (left, top) = ((WIDTH - span) / 2, (HEIGHT - span) / 2);
    for oy in 0..span {
        for ox in 0..span {
            let (sx, sy) = (x0 + ox * side / span, y0 + oy * side / span);
            let luma = if sx < qr.width && sy < qr.height {
                qr.at(sx, sy)
            } else {
                255
            };
            frame.pixels[(top + oy) * WIDTH + left + ox] = luma;
        }
    }
    Ok(frame)
}

/// A YUV4MPEG2 video of `frames` copies of `frame` (which must be
/// `WIDTH`x`HEIGHT`): full-range luma from the grey level, neutral chroma.
pub fn y4m(frame: &Grey, frames: usize) -> Vec<u8> {
    assert_eq!((frame.width, frame.height), (WIDTH, HEIGHT));
    let chroma = vec![128u8; (WIDTH / 2) * (HEIGHT / 2)];
    let mut out = format!("YUV4MPEG2 W{WIDTH} H{HEIGHT} F10:1 Ip A1:1 C420jpeg\n").into_bytes();
    for _ in 0..frames {
        out.extend_from_slice(b"FRAME\n");
        out.extend_from_slice(&frame.pixels);
        out.extend_from_slice(&chroma);
        out.extend_from_slice(&chroma);
    }
    out
}

/// Writes the fake camera's video of the QR code in `qr_png` to `path`;
/// returns what a QR decoder reads in it.
pub fn write_qr_video(qr_png: &[u8], path: &Path) -> Result<Option<String>, String> {
    let frame = frame_of(&Grey::from_png(qr_png)?)?;
    std::fs::write(path, y4m(&frame, 5)).map_err(|e| format!("writing {}: {e}", path.display()))?;
    Ok(read_qr(&frame))
}

/// Encodes a greyscale picture as PNG (for tests that make their own).
pub fn png_of(grey: &Grey) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, grey.width as u32, grey.height as u32);
        encoder.set_color(png::ColorType::Grayscale);
        encoder.set_depth(png::BitDepth::Eight);
        let mut writer = encoder.write_header().expect("PNG header into memory");
        writer
            .write_image_data(&grey.pixels)
            .expect("PNG data into memory");
    }
    out
}

/// What a QR decoder reads in `picture`, if anything: the check that the
/// camera's video holds a readable code before a browser is shown it.
pub fn read_qr(picture: &Grey) -> Option<String> {
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(picture.width, picture.height, |x, y| {
            picture.at(x, y)
        });
    prepared
        .detect_grids()
        .into_iter()
        .find_map(|grid| grid.decode().ok().map(|(_, text)| text))
}
