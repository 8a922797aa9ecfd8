//! Getting text from the person: an argument, stdin (`-`), or their
//! editor. The editor's buffer lives in a private (0700) runtime directory,
//! preferably in memory (`$XDG_RUNTIME_DIR`, else `/dev/shm`), and is
//! removed with everything the editor left beside it (swap, backup files).

use std::fs;
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::PathBuf;
use std::process::Command;

use anyhow::{bail, Context as _};

/// Lines starting with this are instructions, left out of the entry.
const COMMENT: char = '#';

/// The text from `arg`: itself, all of stdin for `-`, or the editor.
pub fn text_from(arg: Option<String>, initial: &str, help: &str) -> anyhow::Result<String> {
    match arg.as_deref() {
        Some("-") => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the entry from stdin")?;
            Ok(text)
        }
        Some(text) => Ok(text.to_string()),
        None => compose(initial, help),
    }
}

/// Opens `$VISUAL` or `$EDITOR` (else `vi`) on `initial` and returns what
/// was saved, without comment lines.
pub fn compose(initial: &str, help: &str) -> anyhow::Result<String> {
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
    let buffer = Buffer::create()?;
    {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&buffer.file)
            .context("cannot create the editor buffer")?;
        let mut template = String::from(initial);
        if !template.is_empty() && !template.ends_with('\n') {
            template.push('\n');
        }
        template.push('\n');
        for line in help.lines() {
            template.push_str(&format!("{COMMENT} {line}\n"));
        }
        file.write_all(template.as_bytes())
            .context("cannot write the editor buffer")?;
    }
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!("{editor} \"$1\""))
        .arg("sh")
        .arg(&buffer.file)
        .status()
        .with_context(|| format!("cannot start the editor `{editor}`"))?;
    if !status.success() {
        bail!("the editor `{editor}` exited with an error; nothing was saved");
    }
    let raw = fs::read_to_string(&buffer.file).context("cannot read the editor buffer")?;
    Ok(strip_comments(&raw))
}

fn strip_comments(raw: &str) -> String {
    let kept: Vec<&str> = raw
        .lines()
        .filter(|l| !l.trim_start().starts_with(COMMENT))
        .collect();
    kept.join("\n").trim().to_string()
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

impl Drop for Buffer {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.dir);
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
    fn comment_lines_and_edges_are_dropped() {
        let raw = "Hello there.\n\nSecond line\n# Write your entry above.\n";
        assert_eq!(strip_comments(raw), "Hello there.\n\nSecond line");
    }
}
