//! Strings that came from the journal or from another device, made safe
//! to print on a terminal.
//!
//! A name, a tag or an entry is written by a person on another device,
//! or by whoever holds a stolen one. Printed raw, an escape sequence in
//! it could recolour or clear the screen, rewrite what the person reads
//! (including the question `duet invite` asks before a device may join),
//! set the window title or ring the bell. So every such string is printed
//! with its control characters made visible: C0 controls and DEL as their
//! Unicode control pictures (ESC as `␛`, NUL as `␀`), C1 controls and the
//! invisible characters that reorder text (bidirectional overrides and
//! isolates) as `<U+202E>`. An entry's newlines and tabs are kept.
//! `--json` output is exact: JSON escapes control characters itself.

use std::borrow::Cow;

/// For a single line: a name, a tag, a mood, an id, an error sentence.
pub fn line(s: &str) -> Cow<'_, str> {
    visible(s, false)
}

/// For an entry's text: newlines and tabs are kept.
pub fn text(s: &str) -> Cow<'_, str> {
    visible(s, true)
}

/// The first `n` characters of `s` (a device id as people see it), safe
/// to print. Ids come from the journal, so nothing about them is assumed.
pub fn prefix(s: &str, n: usize) -> String {
    let end = s.char_indices().nth(n).map_or(s.len(), |(i, _)| i);
    line(&s[..end]).into_owned()
}

fn visible(s: &str, multiline: bool) -> Cow<'_, str> {
    if !s.chars().any(|c| needs_showing(c, multiline)) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if !needs_showing(c, multiline) {
            out.push(c);
        } else if (c as u32) < 0x20 {
            // U+2400 CONTROL PICTURE FOR NULL and the 31 after it.
            out.push(char::from_u32(0x2400 + c as u32).unwrap_or('?'));
        } else if c == '\u{7f}' {
            out.push('\u{2421}');
        } else {
            out.push_str(&format!("<U+{:04X}>", c as u32));
        }
    }
    Cow::Owned(out)
}

fn needs_showing(c: char, multiline: bool) -> bool {
    match c {
        '\n' | '\t' => !multiline,
        '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}' => true,
        // Bidirectional embeddings, overrides and isolates, and the
        // marks that flip the order of what follows.
        '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' => true,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_become_visible_and_words_stay() {
        assert_eq!(line("Sam"), "Sam");
        assert_eq!(line("S\u{1b}[31mam"), "S␛[31mam");
        assert_eq!(line("a\u{7}b\u{0}c\u{7f}"), "a␇b␀c␡");
        assert_eq!(line("x\u{9b}2J"), "x<U+009B>2J");
        assert_eq!(line("evil\u{202e}txt"), "evil<U+202E>txt");
        assert_eq!(line("two\nlines"), "two␊lines");
        assert_eq!(text("two\nlines\tand a tab"), "two\nlines\tand a tab");
        assert_eq!(text("no\rreturn"), "no␍return");
        assert_eq!(text("café ❤️ 日本"), "café ❤️ 日本");
        assert_eq!(prefix("日本語のなまえ長い", 3), "日本語");
        assert_eq!(prefix("\u{1b}abc", 2), "␛a");
    }
}
