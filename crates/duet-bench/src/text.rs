//! Deterministic, English-like journal text: sentences of common words,
//! about the length people write in a journal entry.

/// Words a couple's journal is made of; drawn uniformly, which compresses
/// about as well as real prose under deflate.
const WORDS: &[&str] = &[
    "the",
    "a",
    "and",
    "to",
    "of",
    "in",
    "it",
    "you",
    "that",
    "was",
    "for",
    "on",
    "with",
    "we",
    "me",
    "my",
    "your",
    "our",
    "is",
    "felt",
    "feel",
    "today",
    "tonight",
    "morning",
    "evening",
    "when",
    "after",
    "before",
    "while",
    "because",
    "so",
    "but",
    "really",
    "still",
    "again",
    "always",
    "sometimes",
    "never",
    "little",
    "long",
    "quiet",
    "warm",
    "tired",
    "happy",
    "grateful",
    "nervous",
    "proud",
    "calm",
    "sad",
    "excited",
    "hopeful",
    "restless",
    "lonely",
    "close",
    "far",
    "walk",
    "dinner",
    "breakfast",
    "coffee",
    "tea",
    "kitchen",
    "garden",
    "park",
    "river",
    "beach",
    "train",
    "car",
    "bike",
    "office",
    "work",
    "meeting",
    "project",
    "deadline",
    "weekend",
    "holiday",
    "trip",
    "summer",
    "winter",
    "spring",
    "autumn",
    "rain",
    "sun",
    "snow",
    "wind",
    "light",
    "window",
    "book",
    "film",
    "song",
    "music",
    "dance",
    "game",
    "cards",
    "puzzle",
    "recipe",
    "soup",
    "bread",
    "cake",
    "pancakes",
    "market",
    "friends",
    "family",
    "mother",
    "father",
    "sister",
    "brother",
    "neighbour",
    "dog",
    "cat",
    "plants",
    "flowers",
    "laughed",
    "talked",
    "listened",
    "cooked",
    "cleaned",
    "planned",
    "remembered",
    "noticed",
    "missed",
    "hugged",
    "held",
    "asked",
    "said",
    "told",
    "heard",
    "thought",
    "wondered",
    "hoped",
    "wanted",
    "needed",
    "tried",
    "made",
    "found",
    "lost",
    "kept",
    "gave",
    "took",
    "watched",
    "read",
    "wrote",
    "called",
    "texted",
    "waited",
    "slept",
    "woke",
    "stayed",
    "left",
    "came",
    "went",
    "home",
    "bed",
    "couch",
    "table",
    "door",
    "street",
    "city",
    "village",
    "mountains",
    "sea",
    "lake",
    "forest",
    "hill",
    "bridge",
    "station",
    "moment",
    "day",
    "week",
    "month",
    "year",
    "time",
    "hour",
    "minute",
    "night",
    "dream",
    "goal",
    "plan",
    "idea",
    "question",
    "answer",
    "story",
    "memory",
    "joke",
    "smile",
    "voice",
    "hands",
    "eyes",
    "heart",
    "face",
    "laugh",
    "tears",
    "patience",
    "kindness",
    "space",
    "help",
    "rest",
    "quietly",
    "slowly",
    "together",
    "alone",
    "softly",
    "finally",
    "maybe",
    "almost",
    "just",
    "enough",
    "more",
    "less",
    "much",
    "first",
    "last",
    "next",
    "every",
    "some",
    "all",
    "both",
    "this",
    "those",
    "there",
    "here",
    "about",
    "around",
    "through",
    "over",
    "under",
    "between",
    "without",
    "along",
    "across",
    "toward",
    "honest",
    "gentle",
    "funny",
    "silly",
    "brave",
    "safe",
    "seen",
    "understood",
    "loved",
    "busy",
    "late",
    "early",
    "new",
    "old",
    "small",
    "big",
    "good",
];

/// A small, fast, deterministic generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed.max(1))
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// One entry of about `target` bytes: whole sentences of 6–16 words.
pub fn entry(rng: &mut Rng, target: usize) -> String {
    let mut out = String::with_capacity(target + 64);
    while out.len() < target {
        if !out.is_empty() {
            out.push(' ');
        }
        let words = 6 + rng.below(11);
        for i in 0..words {
            let word = WORDS[rng.below(WORDS.len())];
            if i == 0 {
                let mut chars = word.chars();
                if let Some(first) = chars.next() {
                    out.extend(first.to_uppercase());
                    out.push_str(chars.as_str());
                }
            } else {
                out.push(' ');
                out.push_str(word);
            }
        }
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_deterministic_and_near_the_target_length() {
        let a = entry(&mut Rng::new(7), 400);
        let b = entry(&mut Rng::new(7), 400);
        assert_eq!(a, b);
        assert!((400..520).contains(&a.len()), "{}", a.len());
        assert!(a.ends_with('.'));
    }
}
