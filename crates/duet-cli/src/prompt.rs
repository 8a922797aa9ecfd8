//! `duet prompt`: today's conversation starter (the list lives in
//! `duet_core::prompts`, which the web app shows too).

pub use duet_core::prompts::Prompt;

#[derive(clap::Args)]
#[group(skip)]
pub struct Args {
    /// Answer today's question: the entry is saved with it, so your
    /// partner reads both. Takes what `duet add` takes (words, stdin or
    /// the editor, --tag, --mood, --kind).
    #[arg(long, short)]
    answer: bool,
    #[command(flatten)]
    entry: crate::add::Args,
}

/// Today's prompt, by the local calendar.
pub fn today() -> &'static Prompt {
    use chrono::Datelike;
    duet_core::prompts::for_date_ce(crate::context::now().date_naive().num_days_from_ce())
}

/// `duet prompt`: today's conversation starter, and how to answer it;
/// with `--answer` (or words), the answer.
pub fn run(ctx: &crate::context::Context, args: Args) -> anyhow::Result<()> {
    let prompt = today();
    if args.answer || args.entry.has_text() {
        return crate::add::write(ctx, args.entry, Some(prompt));
    }
    if ctx.json {
        return ctx.print_json(&serde_json::json!({
            "habit": prompt.habit,
            "kind": prompt.kind,
            "text": prompt.text,
        }));
    }
    println!("{}", prompt.text);
    println!();
    println!("Answer it with `duet prompt --answer`: your entry is saved with the question.");
    Ok(())
}
