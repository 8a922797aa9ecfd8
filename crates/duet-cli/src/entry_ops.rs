//! `duet edit`, `rm`, `react`, `reply` and `heard`: changing an entry or
//! answering one.

use duet_core::journal::{EntryEdit, EntryKind, JournalError, Target};
use duet_core::replica::Replica;
use serde_json::json;

use crate::add::clean_tags;
use crate::context::{ask_yes_no, now_ms, Context};
use crate::editor;
use crate::render::short_id;
use crate::safe;

#[derive(clap::Args)]
pub struct EditArgs {
    /// The entry's id, or one of your replies' (4 or more characters).
    id: String,
    /// The new text; `-` reads stdin; absent opens your editor, unless
    /// only --kind, --tag or --mood are given.
    text: Option<String>,
    #[arg(long, short)]
    kind: Option<EntryKind>,
    /// Replaces the tags (repeat for more).
    #[arg(long = "tag", short)]
    tags: Vec<String>,
    #[arg(long)]
    mood: Option<String>,
}

/// Opens the replica and resolves an id prefix to the full id of the
/// entry it names, or of the entry a reply's id answers.
fn open_entry(ctx: &Context, id: &str) -> anyhow::Result<(Replica, String)> {
    let (replica, target) = open_target(ctx, id)?;
    Ok((replica, target.entry))
}

/// Opens the replica and resolves an id prefix to an entry or a reply.
fn open_target(ctx: &Context, id: &str) -> anyhow::Result<(Replica, Target)> {
    let replica = ctx.open()?;
    let target = replica.journal().resolve(id)?;
    Ok((replica, target))
}

fn report(ctx: &Context, action: &str, id: &str, sentence: String) -> anyhow::Result<()> {
    if ctx.json {
        ctx.print_json(&json!({ "action": action, "id": id }))
    } else {
        println!("{sentence}");
        Ok(())
    }
}

pub fn edit(ctx: &Context, args: EditArgs) -> anyhow::Result<()> {
    let (mut replica, target) = open_target(ctx, &args.id)?;
    ctx.check_writable()?;
    if let Some(reply) = &target.reply {
        return edit_reply(ctx, replica, &target.entry, reply, args);
    }
    let id = target.entry;
    let metadata_only = args.text.is_none()
        && (args.kind.is_some() || !args.tags.is_empty() || args.mood.is_some());
    let retry = format!("duet edit {} -", short_id(&id));
    let draft = if metadata_only {
        None
    } else {
        let entry = replica
            .journal()
            .entry(&id)
            .ok_or_else(|| JournalError::NoSuchEntry(id.clone()))?;
        let draft = editor::text_from(
            args.text,
            &entry.body,
            &entry.conflicts,
            "Edit the entry above the line.",
            &retry,
        )?;
        if draft.text.trim_end() == entry.body.trim_end()
            && entry.conflicts.is_empty()
            && args.kind.is_none()
            && args.tags.is_empty()
            && args.mood.is_none()
        {
            return report(
                ctx,
                "unchanged",
                &id,
                format!("{} is unchanged.", short_id(&id)),
            );
        }
        Some(draft)
    };
    let edit = |body: Option<String>| EntryEdit {
        body,
        kind: args.kind,
        tags: (!args.tags.is_empty()).then(|| clean_tags(args.tags.clone())),
        mood: args
            .mood
            .as_ref()
            .map(|m| Some(m.trim().to_string()).filter(|m| !m.is_empty())),
    };
    let now = now_ms();
    match draft {
        Some(draft) => draft.save(&retry, |text| {
            let edit = edit(Some(text.trim_end().to_string()));
            Ok(replica.commit(|j, a| Ok(((), j.edit_entry(a, &id, edit, now)?)))?)
        })?,
        None => {
            let edit = edit(None);
            replica.commit(|j, a| Ok(((), j.edit_entry(a, &id, edit, now)?)))?
        }
    }
    report(
        ctx,
        "edited",
        &id,
        format!("Saved your changes to {}.", short_id(&id)),
    )?;
    ctx.tidy(&mut replica);
    Ok(())
}

/// `duet edit REPLY-ID`: a reply has only words to change.
fn edit_reply(
    ctx: &Context,
    mut replica: Replica,
    id: &str,
    reply: &str,
    args: EditArgs,
) -> anyhow::Result<()> {
    anyhow::ensure!(
        args.kind.is_none() && args.tags.is_empty() && args.mood.is_none(),
        "{} is a reply, which has only words; --kind, --tag and --mood are for entries",
        short_id(reply)
    );
    let body = replica.journal().reply_body(id, reply)?;
    let retry = format!("duet edit {} -", short_id(reply));
    let draft = editor::text_from(
        args.text,
        &body,
        &[],
        "Edit your reply above the line.",
        &retry,
    )?;
    if draft.text.trim_end() == body.trim_end() {
        return report(
            ctx,
            "unchanged",
            reply,
            format!("{} is unchanged.", short_id(reply)),
        );
    }
    let now = now_ms();
    draft.save(&retry, |text| {
        let text = text.trim_end().to_string();
        Ok(replica.commit(|j, a| Ok(((), j.edit_reply(a, id, reply, &text, now)?)))?)
    })?;
    report(
        ctx,
        "edited",
        reply,
        format!("Saved your changes to the reply {}.", short_id(reply)),
    )?;
    ctx.tidy(&mut replica);
    Ok(())
}

pub fn remove(ctx: &Context, id: &str, yes: bool) -> anyhow::Result<()> {
    let (mut replica, target) = open_target(ctx, id)?;
    ctx.check_writable()?;
    if !yes {
        let entry = replica
            .journal()
            .entry(&target.entry)
            .ok_or_else(|| JournalError::NoSuchEntry(target.entry.clone()))?;
        // What is being deleted, and whose it is: someone else's is
        // refused now, not after the question.
        let (what, id, person, body) = match &target.reply {
            Some(reply) => {
                let r = entry
                    .replies
                    .iter()
                    .find(|r| &r.id == reply)
                    .ok_or_else(|| JournalError::Deleted(reply.clone()))?;
                ("reply", reply, r.person.clone(), r.body.clone())
            }
            None => (
                "entry",
                &target.entry,
                entry.person.clone(),
                entry.body.clone(),
            ),
        };
        if person != replica.author()?.person {
            return Err(JournalError::NotYours {
                id: id.clone(),
                owner: person,
            }
            .into());
        }
        if !confirm_removal(what, id, &body)? {
            return report(ctx, "kept", id, format!("Kept {}.", short_id(id)));
        }
    }
    let now = now_ms();
    let id = match &target.reply {
        // A reply's id deletes that reply, never the entry it answers.
        Some(reply) => {
            replica.commit(|j, a| Ok(((), j.remove_reply(a, &target.entry, reply, now)?)))?;
            reply.clone()
        }
        None => {
            replica.commit(|j, a| Ok(((), j.remove_entry(a, &target.entry, now)?)))?;
            target.entry.clone()
        }
    };
    report(ctx, "removed", &id, format!("Deleted {}.", short_id(&id)))?;
    ctx.tidy(&mut replica);
    Ok(())
}

/// Asks on the terminal whether to delete the entry, naming it by its id
/// and first words. Without a terminal (a script, a pipe) there is nobody
/// to ask, and deleting unasked is what `--yes` says.
fn confirm_removal(what: &str, id: &str, body: &str) -> anyhow::Result<bool> {
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "`duet rm` asks before it deletes, and there is no terminal to ask on; pass --yes to delete {} without asking",
            short_id(id)
        );
    }
    ask_yes_no(&format!(
        "Delete {what} {} \"{}\"?",
        short_id(id),
        safe::line(&first_words(body))
    ))
}

/// The start of an entry, to recognise it by: its first line, cut at a
/// word boundary after about 40 characters.
fn first_words(body: &str) -> String {
    const ABOUT: usize = 40;
    let line = body
        .lines()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("")
        .trim();
    if line.chars().count() <= ABOUT && body.trim().lines().count() <= 1 {
        return line.to_string();
    }
    let mut out = String::new();
    for word in line.split_whitespace() {
        if !out.is_empty() && out.chars().count() + 1 + word.chars().count() > ABOUT {
            break;
        }
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().take(ABOUT));
    }
    out.push('…');
    out
}

pub fn react(ctx: &Context, id: &str, emoji: &str) -> anyhow::Result<()> {
    let emoji = duet_core::journal::input::reaction(emoji)?;
    let (mut replica, target) = open_target(ctx, id)?;
    let now = now_ms();
    let id = match &target.reply {
        Some(reply) => {
            replica
                .commit(|j, a| Ok(((), j.react_to_reply(a, &target.entry, reply, emoji, now)?)))?;
            reply.clone()
        }
        None => {
            replica.commit(|j, a| Ok(((), j.react(a, &target.entry, emoji, now)?)))?;
            target.entry.clone()
        }
    };
    report(
        ctx,
        "reacted",
        &id,
        format!("Reacted {emoji} to {}.", short_id(&id)),
    )?;
    ctx.tidy(&mut replica);
    Ok(())
}

pub fn reply(ctx: &Context, id: &str, text: Option<String>) -> anyhow::Result<()> {
    let (mut replica, id) = open_entry(ctx, id)?;
    ctx.check_writable()?;
    let retry = format!("duet reply {} -", short_id(&id));
    let draft = editor::text_from(text, "", &[], "Write your reply above the line.", &retry)?;
    let now = now_ms();
    let reply_id = draft.save(&retry, |text| {
        let body = text.trim_end().to_string();
        Ok(replica.commit(|j, a| j.reply(a, &id, &body, now))?)
    })?;
    if ctx.json {
        ctx.print_json(&json!({ "action": "replied", "id": id, "reply_id": reply_id }))?;
    } else {
        println!("Replied to {}.", short_id(&id));
    }
    ctx.tidy(&mut replica);
    Ok(())
}

pub fn heard(ctx: &Context, id: &str) -> anyhow::Result<()> {
    let (mut replica, id) = open_entry(ctx, id)?;
    let now = now_ms();
    replica.commit(|j, a| Ok(((), j.heard(a, &id, now)?)))?;
    report(
        ctx,
        "heard",
        &id,
        format!("Marked {} as heard.", short_id(&id)),
    )?;
    ctx.tidy(&mut replica);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::first_words;

    #[test]
    fn an_entry_is_named_by_its_first_words() {
        assert_eq!(first_words("A walk by the river"), "A walk by the river");
        assert_eq!(
            first_words("We walked by the river until the light went and the cold came"),
            "We walked by the river until the light…"
        );
        assert_eq!(first_words("\nTitle\nmore below"), "Title…");
        assert_eq!(first_words(""), "");
    }
}
