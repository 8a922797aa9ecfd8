//! The code prompt of `duet join`: a line editor (rustyline) that
//! completes code words on Tab, as magic-wormhole's prompt does. It is
//! used only on a terminal; the caller reads nothing from a pipe.

use anyhow::bail;
use duet_daemon::pairing::CODE_WORDS;
use duet_daemon::wordlist;
use rustyline::completion::{Completer, Pair};
use rustyline::config::{CompletionType, Config};
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::history::DefaultHistory;
use rustyline::validate::Validator;
use rustyline::{Context, Editor, Helper};

/// Completes the word under the cursor from the code word list.
pub struct CodeWords;

impl CodeWords {
    /// Where the word before `pos` starts in `line`, and what it may
    /// become: each word of the list it begins, followed by a dash while
    /// more words are to come. The nameplate (the number first) and an
    /// empty word get nothing, rather than a screen of 1,295 words.
    pub fn candidates(line: &str, pos: usize) -> (usize, Vec<Pair>) {
        let before = line.get(..pos).unwrap_or(line);
        let start = before
            .rfind(|c: char| c == '-' || c.is_whitespace())
            .map_or(0, |i| i + 1);
        let word = before[start..].to_ascii_lowercase();
        if start == 0 || word.is_empty() {
            return (start, Vec::new());
        }
        // Parts before this word: the nameplate, then the words so far.
        let words_before = before[..start]
            .split(|c: char| c == '-' || c.is_whitespace())
            .filter(|p| !p.is_empty())
            .count()
            .saturating_sub(1);
        let more = words_before + 1 < CODE_WORDS;
        let pairs = wordlist::starting_with(&word)
            .iter()
            .map(|w| Pair {
                display: (*w).to_string(),
                replacement: if more {
                    format!("{w}-")
                } else {
                    (*w).to_string()
                },
            })
            .collect();
        (start, pairs)
    }
}

impl Completer for CodeWords {
    type Candidate = Pair;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &Context<'_>,
    ) -> rustyline::Result<(usize, Vec<Pair>)> {
        Ok(Self::candidates(line, pos))
    }
}

impl Hinter for CodeWords {
    type Hint = String;
}
impl Highlighter for CodeWords {}
impl Validator for CodeWords {}
impl Helper for CodeWords {}

/// Asks for the code on the terminal, with Tab completing code words.
pub fn ask(prompt: &str) -> anyhow::Result<String> {
    let config = Config::builder()
        .completion_type(CompletionType::List)
        .auto_add_history(false)
        .build();
    let mut editor: Editor<CodeWords, DefaultHistory> = Editor::with_config(config)?;
    editor.set_helper(Some(CodeWords));
    match editor.readline(prompt) {
        Ok(code) => Ok(code),
        Err(ReadlineError::Interrupted | ReadlineError::Eof) => {
            bail!("no code given; nothing was changed")
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn offered(line: &str) -> (usize, Vec<String>) {
        let (start, pairs) = CodeWords::candidates(line, line.len());
        (start, pairs.into_iter().map(|p| p.replacement).collect())
    }

    #[test]
    fn a_prefix_completes_to_the_list_words_it_begins() {
        assert_eq!(offered("7-acor"), (2, vec!["acorn-".to_string()]));
        let (start, words) = offered("7-acorn-ac");
        assert_eq!(start, 8);
        assert!(words.len() > 1, "{words:?}");
        assert!(
            words
                .iter()
                .all(|w| w.starts_with("ac") && w.ends_with('-')),
            "{words:?}"
        );
        assert!(words.contains(&"acid-".to_string()));
    }

    #[test]
    fn the_last_word_gets_no_dash_and_typing_is_forgiven() {
        assert_eq!(
            offered("7-acorn-acid-acor"),
            (13, vec!["acorn".to_string()])
        );
        assert_eq!(offered("7 acorn ACOR"), (8, vec!["acorn-".to_string()]));
    }

    #[test]
    fn the_nameplate_an_empty_word_and_a_stranger_get_nothing() {
        assert!(offered("7").1.is_empty());
        assert!(offered("7-").1.is_empty());
        assert!(offered("7-duetx").1.is_empty());
    }

    #[test]
    fn only_the_text_before_the_cursor_counts() {
        let (start, pairs) = CodeWords::candidates("7-acorxyz", 6);
        assert_eq!(start, 2);
        assert_eq!(pairs.len(), 1);
        assert_eq!(pairs[0].display, "acorn");
    }
}
