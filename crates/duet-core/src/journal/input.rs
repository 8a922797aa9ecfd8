//! What a person types, made ready for the journal: tags, moods, names
//! and reactions, checked and cleaned the same way whichever face of duet
//! (the command line or the web app) they were typed into.

use super::RESERVED_NAMES;

/// Longest reaction, in characters: an emoji (some are several code
/// points) or a short word.
pub const MAX_REACTION_CHARS: usize = 16;

/// Why something typed cannot go into the journal.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InputError {
    #[error("the person's name is empty")]
    EmptyName,
    #[error("`{0}` is a word the journal uses for itself; choose another name")]
    ReservedName(String),
    #[error("a reaction is an emoji or a short word (up to {MAX_REACTION_CHARS} characters)")]
    BadReaction,
}

/// Tags without `#`, blanks or repeats (ignoring case), in the order given.
pub fn clean_tags(tags: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for tag in tags {
        let tag = tag.trim().trim_start_matches('#').trim().to_string();
        if !tag.is_empty() && !out.iter().any(|t| t.eq_ignore_ascii_case(&tag)) {
            out.push(tag);
        }
    }
    out
}

/// A mood as typed, trimmed; `None` when blank.
pub fn clean_mood(mood: Option<&str>) -> Option<String> {
    mood.map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
}

/// A person's name, trimmed and checked: not empty, and not one of the
/// words the journal keys its own fields by (reactions and heard marks
/// are keyed by person, so the schema refuses those names).
pub fn person_name(raw: &str) -> Result<String, InputError> {
    let person = raw.trim();
    if person.is_empty() {
        return Err(InputError::EmptyName);
    }
    if RESERVED_NAMES.contains(&person) {
        return Err(InputError::ReservedName(person.to_string()));
    }
    Ok(person.to_string())
}

/// A reaction, trimmed and checked for length.
pub fn reaction(raw: &str) -> Result<&str, InputError> {
    let emoji = raw.trim();
    if emoji.is_empty() || emoji.chars().count() > MAX_REACTION_CHARS {
        return Err(InputError::BadReaction);
    }
    Ok(emoji)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_lose_hashes_blanks_and_repeats() {
        let tags = ["#home", " home ", "", "Trip", "#trip"].map(String::from);
        assert_eq!(clean_tags(tags), vec!["home", "Trip"]);
    }

    #[test]
    fn reserved_and_empty_names_are_refused() {
        assert_eq!(person_name("  Sam "), Ok("Sam".to_string()));
        assert_eq!(person_name("  "), Err(InputError::EmptyName));
        let reserved = RESERVED_NAMES[0];
        assert!(matches!(
            person_name(reserved),
            Err(InputError::ReservedName(_))
        ));
    }

    #[test]
    fn a_reaction_is_short_and_not_blank() {
        assert_eq!(reaction(" ❤️ "), Ok("❤️"));
        assert_eq!(reaction(""), Err(InputError::BadReaction));
        assert_eq!(reaction(&"x".repeat(17)), Err(InputError::BadReaction));
    }
}
