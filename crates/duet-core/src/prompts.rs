//! Daily conversation starters: `duet prompt` and the web app's `#prompt`.
//!
//! duet offers one conversation starter for today. The prompts are
//! drawn from the everyday habits that keep a couple close:
//!
//! - **feelings**: saying how you actually feel;
//! - **needs**: being honest about what you need;
//! - **gratitude**: noticing what matters and saying thank you;
//! - **dreams**: sharing hopes, dreams and goals;
//! - **listening**: listening to each other without judgement;
//! - **laughter**: laughing together;
//! - **memories**: remembering the moments you have shared.
//!
//! Every prompt carries the journal entry kind its answer would naturally be
//! saved as, so the CLI and the web app can suggest it when the writer responds.
//!
//! The list is interleaved so that consecutive indices cycle through the
//! habits (feelings, needs, gratitude, dreams, listening, laughter, memories,
//! feelings, ...). Because [`for_day`] maps consecutive day numbers to
//! consecutive indices, two days in a row never offer the same habit, let
//! alone the same prompt.

/// One conversation starter.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Prompt {
    /// The habit this prompt practises: "feelings", "needs", "gratitude",
    /// "dreams", "listening", "laughter" or "memories".
    pub habit: &'static str,
    /// The journal entry kind an answer would naturally be saved as: one of
    /// "note", "feeling", "need", "gratitude", "dream", "memory", "laugh".
    pub kind: &'static str,
    /// The prompt itself, addressed to the writer.
    pub text: &'static str,
}

const fn feelings(text: &'static str) -> Prompt {
    Prompt {
        habit: "feelings",
        kind: "feeling",
        text,
    }
}

const fn needs(text: &'static str) -> Prompt {
    Prompt {
        habit: "needs",
        kind: "need",
        text,
    }
}

const fn gratitude(text: &'static str) -> Prompt {
    Prompt {
        habit: "gratitude",
        kind: "gratitude",
        text,
    }
}

const fn dreams(text: &'static str) -> Prompt {
    Prompt {
        habit: "dreams",
        kind: "dream",
        text,
    }
}

const fn listening(text: &'static str) -> Prompt {
    Prompt {
        habit: "listening",
        kind: "note",
        text,
    }
}

const fn laughter(text: &'static str) -> Prompt {
    Prompt {
        habit: "laughter",
        kind: "laugh",
        text,
    }
}

const fn memories(text: &'static str) -> Prompt {
    Prompt {
        habit: "memories",
        kind: "memory",
        text,
    }
}

/// All prompts, interleaved so consecutive indices cycle through the seven
/// habits in a fixed order.
pub const PROMPTS: &[Prompt] = &[
    // Round 1
    feelings("What feeling has been sitting with you most today, and where in your day did it start?"),
    needs("What is one thing you could use more of from your partner this week? Say it as plainly as you can."),
    gratitude("What small, easy-to-miss thing did your partner do lately that made your day a little lighter?"),
    dreams("If the two of you had a free year with no obligations, what is the first thing you would want to do together?"),
    listening("What has your partner been talking about a lot lately? Write down what you think sits underneath it, then ask them whether you got it right."),
    laughter("What made you laugh out loud this week, even if only for a second?"),
    memories("Describe a moment from your early days together that you still replay sometimes."),
    // Round 2
    feelings("When did you last feel completely at ease around your partner? Describe what was happening."),
    needs("Is there something you have been needing but hesitating to ask for? What makes it hard to ask?"),
    gratitude("Name a habit of your partner's that you have come to rely on without ever saying so."),
    dreams("What is a skill you would love to learn in the next few years, and how could your partner cheer you on?"),
    listening("Think of the last time your partner was upset. What do you think they most wanted from you in that moment?"),
    laughter("What is an inside joke between the two of you, and how did it begin?"),
    memories("What is a meal you shared that you still remember clearly? What made it stick?"),
    // Round 3
    feelings("What has been weighing on you that you have not fully said out loud yet?"),
    needs("How much time alone do you need right now to feel like yourself, and how much time together?"),
    gratitude("What about your shared home, however small or temporary, are you glad for today?"),
    dreams("Picture an ordinary Sunday ten years from now. Where are you, and what are the two of you doing?"),
    listening("Pick a topic where you and your partner see things differently. Try writing their view in a way they would happily sign."),
    laughter("What is the silliest disagreement the two of you have ever had?"),
    memories("What is a place you visited together that you would return to tomorrow if you could?"),
    // Round 4
    feelings("What is something that made you proud of yourself recently, even if nobody else noticed?"),
    needs("When you are stressed, what helps most: advice, distraction, company, or quiet? Which would you want this week?"),
    gratitude("Who outside the two of you has made your life together easier lately, and how?"),
    dreams("What is one dream you set aside at some point? Does any part of it still call to you?"),
    listening("When does your partner seem most like themselves? What do you notice about them then?"),
    laughter("What word, phrase, or face of your partner's reliably cracks you up?"),
    memories("What is a hard stretch you got through together, and what helped you reach the other side?"),
    // Round 5
    feelings("What are you nervous about right now, and what would make it feel a little smaller?"),
    needs("Which household task or responsibility would you like to rebalance, and what would a fair version look like?"),
    gratitude("What is something your partner taught you, on purpose or by accident, that you are glad to know?"),
    dreams("If you could plan one adventure for the two of you this year, big or small, what would it be?"),
    listening("What is a question you wish your partner would ask you more often? What might they wish you asked them?"),
    laughter("Describe a plan that went hilariously wrong. Is it funnier now than it was then?"),
    memories("What song takes you straight back to a moment with your partner? Describe the moment."),
    // Round 6
    feelings("When today did you feel closest to your partner, and when did you feel furthest away?"),
    needs("What kind of affection means the most to you right now: words, touch, time, help, or small surprises?"),
    gratitude("What quality in your partner did you admire early on that you still admire today?"),
    dreams("What do you hope the two of you will be known for among your friends and family?"),
    listening("Recall something your partner told you recently that you only half heard. What do you remember, and what would you like to ask about it?"),
    laughter("What is the funniest thing that has happened while one of you was trying to be romantic?"),
    memories("What is the first thing you remember noticing about your partner?"),
    // Round 7
    feelings("Is there a feeling you tend to keep from your partner? What do you imagine would happen if you shared it?"),
    needs("What boundary, around work, family, or screens, would help you show up better for each other?"),
    gratitude("What ordinary part of this week would you miss if it were suddenly gone?"),
    dreams("What tradition would you like to start together, and when could it begin?"),
    listening("When you disagree, what helps you feel heard? Write it down, then guess what helps your partner feel heard."),
    laughter("If your relationship had a blooper reel, which moment would definitely make the cut?"),
    memories("What small everyday ritual from your time together do you treasure, or miss?"),
    // Round 8
    feelings("How is your energy today, somewhere between empty and overflowing, and what drained or filled it?"),
    needs("What reassurance would help you most right now, and how could your partner offer it?"),
    gratitude("What did your partner say recently that stayed with you in a good way?"),
    dreams("What is one thing you want to get better at as a partner over the next year?"),
    listening("What might your partner be carrying quietly lately? How could you make room for them to talk about it?"),
    laughter("What story about yourself do you love telling because it never fails to get a laugh?"),
    memories("What is a photo of the two of you that you love, and what was happening just outside the frame?"),
];

/// Deterministically picks the prompt for a day number (days since the Unix
/// epoch in local time; may be negative).
///
/// The index is `day.rem_euclid(PROMPTS.len())`, so consecutive days always
/// get different prompts (and, thanks to the interleaving, different habits).
pub fn for_day(day: i64) -> &'static Prompt {
    let len = PROMPTS.len() as i64;
    let index = day.rem_euclid(len) as usize;
    &PROMPTS[index]
}

/// The prompt for a calendar day (its days since the common era, as
/// `chrono::Datelike::num_days_from_ce` counts them), so that every face
/// of duet offers the same question on the same local day.
pub fn for_date_ce(days_from_ce: i32) -> &'static Prompt {
    for_day(i64::from(days_from_ce) - 719_163)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const KINDS: [&str; 7] = [
        "note",
        "feeling",
        "need",
        "gratitude",
        "dream",
        "memory",
        "laugh",
    ];

    const HABITS: [&str; 7] = [
        "feelings",
        "needs",
        "gratitude",
        "dreams",
        "listening",
        "laughter",
        "memories",
    ];

    fn expected_kind(habit: &str) -> Option<&'static str> {
        match habit {
            "feelings" => Some("feeling"),
            "needs" => Some("need"),
            "gratitude" => Some("gratitude"),
            "dreams" => Some("dream"),
            "listening" => Some("note"),
            "laughter" => Some("laugh"),
            "memories" => Some("memory"),
            _ => None,
        }
    }

    #[test]
    fn every_kind_is_a_journal_kind() {
        for p in PROMPTS {
            assert!(KINDS.contains(&p.kind), "bad kind {:?} in {:?}", p.kind, p);
        }
    }

    #[test]
    fn kind_matches_habit() {
        for p in PROMPTS {
            assert_eq!(expected_kind(p.habit), Some(p.kind), "{p:?}");
        }
    }

    #[test]
    fn fifty_six_prompts_eight_per_habit() {
        assert_eq!(PROMPTS.len(), 56);
        for habit in HABITS {
            let n = PROMPTS.iter().filter(|p| p.habit == habit).count();
            assert_eq!(n, 8, "habit {habit} has {n} prompts");
        }
    }

    #[test]
    fn every_habit_appears() {
        let seen: HashSet<&str> = PROMPTS.iter().map(|p| p.habit).collect();
        for habit in HABITS {
            assert!(seen.contains(habit), "habit {habit} missing");
        }
        assert_eq!(seen.len(), HABITS.len());
    }

    #[test]
    fn prompts_cycle_through_habits() {
        for (i, p) in PROMPTS.iter().enumerate() {
            assert_eq!(p.habit, HABITS[i % HABITS.len()], "index {i}");
        }
    }

    #[test]
    fn no_duplicate_texts() {
        let mut seen = HashSet::new();
        for p in PROMPTS {
            assert!(seen.insert(p.text), "duplicate prompt {:?}", p.text);
        }
    }

    #[test]
    fn texts_are_tidy() {
        for p in PROMPTS {
            assert!(!p.text.is_empty());
            assert_eq!(p.text.trim(), p.text, "{:?}", p.text);
            assert!(
                p.text.ends_with('?') || p.text.ends_with('.'),
                "{:?}",
                p.text
            );
        }
    }

    #[test]
    fn consecutive_days_differ_over_a_year() {
        let start: i64 = 20_000;
        for day in start..start + 366 {
            let yesterday = for_day(day - 1);
            let today = for_day(day);
            assert_ne!(yesterday.text, today.text, "day {day}");
            assert_ne!(yesterday.habit, today.habit, "day {day}");
        }
    }

    #[test]
    fn deterministic() {
        for day in -100..100 {
            assert_eq!(for_day(day), for_day(day));
        }
    }

    #[test]
    fn negative_days() {
        let len = PROMPTS.len() as i64;
        assert_eq!(for_day(-1), &PROMPTS[PROMPTS.len() - 1]);
        assert_eq!(for_day(-len), &PROMPTS[0]);
        assert_eq!(for_day(-len - 1), for_day(-1));
        assert_eq!(for_day(-1), for_day(len - 1));
        // Extremes must not panic.
        let _ = for_day(i64::MIN);
        let _ = for_day(i64::MAX);
        // Crossing zero still changes the prompt every day.
        for day in -400..400 {
            assert_ne!(for_day(day).text, for_day(day + 1).text, "day {day}");
        }
    }
}
