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
}
