//! Getting text from the person: an argument, stdin (`-`), or their
//! editor. The editor's buffer lives in a private (0700) runtime directory,
//! preferably in memory (`$XDG_RUNTIME_DIR`, else `/dev/shm`), and is
//! removed with everything the editor left beside it (swap, backup files)
//! once the text is saved.
//!
//! Nothing the person wrote, and nothing that came from a stored body, is
//! ever stripped: the instructions sit below a scissors line, as in git,
//! and the only lines taken out are duet's own markers, which carry a
//! token made for this session that no journal text contains. When
//! anything fails after the editor closes (it exits with an error, the
//! text is over the limit, the store cannot be written), the text stays
//! in its private directory and the error says where, with the command
//! that saves it from there.

use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context as _};

/// What the person wrote, and where it waits until it is saved.
pub struct Draft {
    pub text: String,
    /// The editor's buffer, when the text came from the editor.
    buffer: Option<Buffer>,
}

impl Draft {
    /// Runs `save` with the text. When it fails, the text is kept (see
    /// [`Draft::keep`]) and the error says where and how to save it:
    /// `retry` is the command, to be run as `retry < PATH`.
    pub fn save<T>(
        self,
        retry: &str,
        save: impl FnOnce(&str) -> anyhow::Result<T>,
    ) -> anyhow::Result<T> {
        match save(&self.text) {
            Ok(value) => Ok(value),
            Err(e) => Err(match self.keep() {
                Some(path) => e.context(kept_message(&path, retry)),
                None => e,
            }),
        }
    }

    /// Keeps the text in the buffer's private directory, in a file of its
    /// own (0600), and returns its path; `None` when the text did not come
    /// from the editor (the person has it already) or cannot be kept.
    fn keep(mut self) -> Option<PathBuf> {
        let buffer = self.buffer.take()?;
        let path = buffer.dir.join("kept.txt");
        let written = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&path)
            .and_then(|mut f| f.write_all(self.text.as_bytes()));
        if written.is_err() {
            return None;
        }
        buffer.leave();
        Some(path)
    }
}

fn kept_message(path: &std::path::Path, retry: &str) -> String {
    format!(
        "your text is kept in {}; `{retry} < {}` saves it",
        path.display(),
        path.display()
    )
}

/// The text from `arg`: itself, all of stdin for `-`, or the editor on
/// `initial`, with the `help` lines below the scissors; `versions` are
/// other versions of the text, shown after it between duet's markers.
/// `retry` is the command that saves a kept text (`duet add -`).
pub fn text_from(
    arg: Option<String>,
    initial: &str,
    versions: &[String],
    help: &str,
    retry: &str,
) -> anyhow::Result<Draft> {
    match arg.as_deref() {
        Some("-") => Ok(Draft {
            text: read_stdin()?,
            buffer: None,
        }),
        Some(text) => Ok(Draft {
            text: text.to_string(),
            buffer: None,
        }),
        // `echo "a good day" | duet add`: text piped in is the text. An
        // empty stdin that is not a terminal (`< /dev/null`, a service)
        // still gets the editor, as before.
        None if !std::io::stdin().is_terminal() => {
            let text = read_stdin()?;
            if text.trim().is_empty() {
                compose(initial, versions, help, retry)
            } else {
                Ok(Draft { text, buffer: None })
            }
        }
        None => compose(initial, versions, help, retry),
    }
}

fn read_stdin() -> anyhow::Result<String> {
    let mut text = String::new();
    std::io::stdin()
        .read_to_string(&mut text)
        .context("cannot read the text from stdin")?;
    Ok(text)
}

/// The lines duet puts in a buffer, each with this session's token.
struct Markers {
    scissors: String,
    version: String,
}

impl Markers {
    fn new() -> Self {
        let token: [u8; 4] = duet_core::ids::random_bytes();
        let token: String = token.iter().map(|b| format!("{b:02x}")).collect();
        Self {
            scissors: format!("# ------------------------ >8 duet {token} ------------------------"),
            version: format!(
                "# ---- duet {token}: another version, written at the same time on another device ----"
            ),
        }
    }

    fn template(&self, initial: &str, versions: &[String], help: &str) -> String {
        let mut template = String::from(initial);
        for other in versions {
            template.push_str("\n\n");
            template.push_str(&self.version);
            template.push_str("\n\n");
            template.push_str(other);
        }
        if !template.is_empty() && !template.ends_with('\n') {
            template.push('\n');
        }
        template.push('\n');
        template.push_str(&self.scissors);
        template.push_str(
            "\n# Do not change or remove the line above. Everything below it is left out.\n",
        );
        if !versions.is_empty() {
            template.push_str(
                "# Keep what you want of every version above; duet's own marker lines are left out.\n",
            );
        }
        for line in help.lines() {
            template.push_str(&format!("# {line}\n"));
        }
        template
    }

    /// The text above the scissors line, without duet's own marker lines
    /// and the blank lines it added at the end.
    fn text(&self, raw: &str) -> String {
        let above = raw.split_once(&format!("\n{}", self.scissors)).map_or_else(
            || raw.strip_prefix(&self.scissors).map_or(raw, |_| ""),
            |(above, _)| above,
        );
        let kept: Vec<&str> = above
            .split('\n')
            .filter(|line| *line != self.version)
            .collect();
        kept.join("\n").trim_end().to_string()
    }
}

/// Opens `$VISUAL` or `$EDITOR` (else `vi`) on `initial` and returns what
/// was saved above the scissors line.
fn compose(initial: &str, versions: &[String], help: &str, retry: &str) -> anyhow::Result<Draft> {
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|e| !e.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|e| !e.trim().is_empty())
        });
    let editor = match editor {
        Some(e) => e,
        None if std::io::stdin().is_terminal() => "vi".to_string(),
        None => {
            bail!("no text given and no editor set; pass the text, `-` for stdin, or set $EDITOR")
        }
    };
    let markers = Markers::new();
    let buffer = Buffer::create()?;
    {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&buffer.file)
            .context("cannot create the editor buffer")?;
        file.write_all(markers.template(initial, versions, help).as_bytes())
            .context("cannot write the editor buffer")?;
    }
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&buffer.file)
        .status()
        .with_context(|| format!("cannot start the editor `{editor}`"))?;
    let raw = fs::read_to_string(&buffer.file).context("cannot read the editor buffer")?;
    let draft = Draft {
        text: markers.text(&raw),
        buffer: Some(buffer),
    };
    if !status.success() {
        let failed =
            anyhow::anyhow!("the editor `{editor}` exited with an error; nothing was saved");
        return Err(match draft.keep() {
            Some(path) => failed.context(kept_message(&path, retry)),
            None => failed,
        });
    }
    Ok(draft)
}

/// A private directory for one editing session, removed on drop.
struct Buffer {
    dir: PathBuf,
    file: PathBuf,
}

impl Buffer {
    fn create() -> anyhow::Result<Self> {
        let base = runtime_base()?;
        let name: [u8; 8] = duet_core::ids::random_bytes();
        let dir = base.join(format!(
            "edit-{}",
            name.iter().map(|b| format!("{b:02x}")).collect::<String>()
        ));
        fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let file = dir.join("entry.md");
        Ok(Self { dir, file })
    }
}

impl Buffer {
    /// Leaves the directory in place (it holds a kept text).
    fn leave(mut self) {
        self.dir = PathBuf::new();
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// `$XDG_RUNTIME_DIR/duet`, else `/dev/shm/duet-UID`, else the temp dir's
/// `duet-UID`: created 0700, and refused if someone else owns it.
fn runtime_base() -> anyhow::Result<PathBuf> {
    let uid = fs::metadata("/proc/self")
        .map(|m| m.uid())
        .unwrap_or_else(|_| fs::metadata(".").map(|m| m.uid()).unwrap_or(0));
    let base = match std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from) {
        Some(dir) if dir.is_dir() => dir.join("duet"),
        _ if std::path::Path::new("/dev/shm").is_dir() => {
            PathBuf::from(format!("/dev/shm/duet-{uid}"))
        }
        _ => std::env::temp_dir().join(format!("duet-{uid}")),
    };
    match fs::DirBuilder::new().mode(0o700).create(&base) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e).with_context(|| format!("cannot create {}", base.display())),
    }
    let meta =
        fs::symlink_metadata(&base).with_context(|| format!("cannot read {}", base.display()))?;
    if !meta.is_dir() || meta.uid() != uid {
        bail!(
            "{} is not a directory owned by you; remove it and try again",
            base.display()
        );
    }
    if meta.permissions().mode() & 0o077 != 0 {
        fs::set_permissions(&base, fs::Permissions::from_mode(0o700))
            .with_context(|| format!("cannot make {} private", base.display()))?;
    }
    Ok(base)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_but_duets_own_lines_is_left_out() {
        let m = Markers::new();
        let body = "# Our trip to Lisbon\n\n#travel #us\n  # indented\nThe end.";
        let raw = m.template(body, &[], "Write your entry above.");
        assert_eq!(m.text(&raw), body);
        let other = "# The other version\nwith #tags".to_string();
        let raw = m.template(body, std::slice::from_ref(&other), "help");
        assert_eq!(m.text(&raw), format!("{body}\n\n\n{other}"));
        // What the person writes below the scissors is left out, as told.
        assert_eq!(m.text(&format!("Hi\n{}\nnot this", m.scissors)), "Hi");
        // A buffer whose scissors line was deleted keeps everything.
        assert_eq!(m.text("# kept\ntext\n"), "# kept\ntext");
    }
}
