//! The EFF short word list (CC BY 3.0, by the Electronic Frontier
//! Foundation): 1,296 words of up to five letters, chosen to be easy to
//! type and hard to confuse. Code phrases draw from it, all but one:
//! `yo-yo`, whose hyphen is the separator of a code phrase (and `yoyo` is
//! in the list too), so 1,295 words.

const RAW: &str = include_str!("eff_short_wordlist.txt");

/// The words, in the list's order.
pub fn words() -> &'static [&'static str] {
    static WORDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        RAW.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .filter(|l| !l.contains('-'))
            .collect()
    })
}

pub fn contains(word: &str) -> bool {
    words().binary_search(&word).is_ok()
}

/// The words that start with `prefix`, in order: what a code prompt
/// offers on Tab. The list is sorted, so they are one run of it.
pub fn starting_with(prefix: &str) -> &'static [&'static str] {
    let w = words();
    let from = w.partition_point(|word| *word < prefix);
    let to = from + w[from..].partition_point(|word| word.starts_with(prefix));
    &w[from..to]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_1295_sorted_unique_words_without_a_hyphen() {
        let w = words();
        assert_eq!(w.len(), 1295);
        assert!(w.iter().all(|word| !word.contains('-')));
        assert!(w.windows(2).all(|p| p[0] < p[1]));
        assert!(contains("acorn") && !contains("duet"));
    }

    #[test]
    fn a_prefix_finds_exactly_the_words_that_start_with_it() {
        assert_eq!(starting_with("acor"), ["acorn"]);
        let ac = starting_with("ac");
        assert!(
            ac.len() > 3 && ac.iter().all(|w| w.starts_with("ac")),
            "{ac:?}"
        );
        assert_eq!(
            ac.len(),
            words().iter().filter(|w| w.starts_with("ac")).count()
        );
        assert!(starting_with("duetx").is_empty());
        assert_eq!(starting_with("").len(), words().len());
    }
}
