//! The EFF short word list (CC BY 3.0, by the Electronic Frontier
//! Foundation): 1,296 words of up to five letters, chosen to be easy to
//! type and hard to confuse. Code phrases draw from it.

const RAW: &str = include_str!("eff_short_wordlist.txt");

/// The words, in the list's order.
pub fn words() -> &'static [&'static str] {
    static WORDS: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    WORDS.get_or_init(|| {
        RAW.lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
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
    fn the_list_has_1296_sorted_unique_words() {
        let w = words();
        assert_eq!(w.len(), 1296);
        assert!(w.windows(2).all(|p| p[0] < p[1]));
        assert!(contains("acorn") && !contains("duet"));
    }
}
