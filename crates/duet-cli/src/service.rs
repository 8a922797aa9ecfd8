//! `duet service install|uninstall|status`: the daemon in the background
//! with one command, as a systemd user unit on Linux
//! (`~/.config/systemd/user/duet.service`) or a launchd agent on macOS
//! (`~/Library/LaunchAgents/duet.daemon.plist`).
//!
//! The unit is hardened like docs/duet-daemon.service. It names this
//! binary by its absolute path and the home by its absolute path: the
//! service manager's environment has neither the shell's `PATH` nor its
//! `DUET_HOME`. Where no service manager runs (a container, CI), duet
//! says so, prints what it would install and changes nothing.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context as _};
use serde_json::json;

use crate::context::Context;

#[derive(clap::Subcommand)]
pub enum Action {
    /// Install the daemon as a service that starts now and at every login.
    Install {
        /// Print the unit and where it would go; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop the service and remove it.
    Uninstall,
    /// Whether the service is installed and running.
    Status,
}

/// The service manager of this platform.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Manager {
    Systemd,
    Launchd,
}

impl Manager {
    fn here() -> Self {
        if cfg!(target_os = "macos") {
            Manager::Launchd
        } else {
            Manager::Systemd
        }
    }

    fn name(self) -> &'static str {
        match self {
            Manager::Systemd => "systemd",
            Manager::Launchd => "launchd",
        }
    }

    /// Where the unit or agent file goes.
    fn path(self) -> anyhow::Result<PathBuf> {
        let dirs = directories::BaseDirs::new()
            .context("cannot find your home directory (HOME is not set)")?;
        Ok(match self {
            Manager::Systemd => dirs.config_dir().join("systemd/user/duet.service"),
            Manager::Launchd => dirs
                .home_dir()
                .join("Library/LaunchAgents")
                .join(format!("{LABEL}.plist")),
        })
    }

    /// Why this manager cannot take a service now, if it cannot. systemd
    /// is running when /run/systemd/system exists (what `sd_booted` looks
    /// at) and the user's manager answers.
    fn unavailable(self) -> Option<String> {
        if self == Manager::Launchd {
            return None;
        }
        if !Path::new("/run/systemd/system").exists() {
            return Some("systemd is not running on this machine (a container or CI?)".into());
        }
        match run(&["systemctl", "--user", "show-environment"]) {
            Ok(_) => None,
            Err(e) => Some(format!("systemd's user manager does not answer ({e})")),
        }
    }

    fn render(self, unit: &Unit) -> String {
        match self {
            Manager::Systemd => unit.systemd(),
            Manager::Launchd => unit.launchd(),
        }
    }

    /// The commands that load and start the service once its file is written.
    fn enable(self, path: &Path) -> Vec<Vec<String>> {
        let path = path.display().to_string();
        match self {
            Manager::Systemd => vec![
                words(&["systemctl", "--user", "daemon-reload"]),
                words(&["systemctl", "--user", "enable", "--now", "duet.service"]),
            ],
            Manager::Launchd => vec![words(&["launchctl", "load", "-w", &path])],
        }
    }

    fn disable(self, path: &Path) -> Vec<Vec<String>> {
        let path = path.display().to_string();
        match self {
            Manager::Systemd => {
                vec![words(&[
                    "systemctl",
                    "--user",
                    "disable",
                    "--now",
                    "duet.service",
                ])]
            }
            Manager::Launchd => vec![words(&["launchctl", "unload", "-w", &path])],
        }
    }

    /// True when the service runs now.
    fn active(self) -> bool {
        match self {
            Manager::Systemd => run(&["systemctl", "--user", "is-active", "duet.service"]).is_ok(),
            Manager::Launchd => run(&["launchctl", "list", LABEL]).is_ok(),
        }
    }
}

/// The launchd agent's label.
const LABEL: &str = "duet.daemon";

/// What the service runs.
struct Unit {
    /// This binary, absolute.
    exe: PathBuf,
    /// The home, absolute.
    home: PathBuf,
    /// `mirror` for a mirror's home, else `daemon`.
    command: &'static str,
}

impl Unit {
    fn for_this(ctx: &Context) -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("cannot find the duet binary")?;
        let root = ctx.home.root();
        let home = std::fs::canonicalize(root)
            .or_else(|_| std::path::absolute(root))
            .with_context(|| format!("cannot find the home {}", root.display()))?;
        let command = if ctx.home.is_mirror() {
            "mirror"
        } else {
            "daemon"
        };
        Ok(Self { exe, home, command })
    }

    /// The systemd user unit, hardened as docs/duet-daemon.service is.
    fn systemd(&self) -> String {
        let exe = systemd_quote(&self.exe.to_string_lossy());
        let home = systemd_quote(&self.home.to_string_lossy());
        format!(
            "# Written by `duet service install`; `duet service uninstall` removes it.
# In a user service, PrivateTmp=, ProtectSystem= and ReadWritePaths= need a
# systemd that can sandbox user services; if it fails to start with status
# 218/CAPABILITIES or 226/NAMESPACE, comment those three out.

[Unit]
Description=duet sync daemon: keeps this device's journal merged with your partner's devices

[Service]
Type=simple
ExecStart={exe} {command} --home {home}
Environment=RUST_LOG=info
Restart=on-failure
RestartSec=5s
NoNewPrivileges=yes
PrivateTmp=yes
ProtectSystem=strict
ReadWritePaths={home}

[Install]
WantedBy=default.target
",
            command = self.command
        )
    }

    /// The launchd agent: started at login, restarted when it fails.
    fn launchd(&self) -> String {
        let string = |s: &str| format!("<string>{}</string>", xml_escape(s));
        let log = self.home.join("daemon.log");
        format!(
            r#"<?xml version="1.0" encoding="UTF-8"?>
<!DOCTYPE plist PUBLIC "-//Apple//DTD PLIST 1.0//EN" "http://www.apple.com/DTDs/PropertyList-1.0.dtd">
<plist version="1.0">
<dict>
  <key>Label</key>
  {label}
  <key>ProgramArguments</key>
  <array>
    {exe}
    {command}
    <string>--home</string>
    {home}
  </array>
  <key>EnvironmentVariables</key>
  <dict>
    <key>RUST_LOG</key>
    <string>info</string>
  </dict>
  <key>RunAtLoad</key>
  <true/>
  <key>KeepAlive</key>
  <dict>
    <key>SuccessfulExit</key>
    <false/>
  </dict>
  <key>ThrottleInterval</key>
  <integer>5</integer>
  <key>StandardErrorPath</key>
  {log}
</dict>
</plist>
"#,
            label = string(LABEL),
            exe = string(&self.exe.to_string_lossy()),
            command = string(self.command),
            home = string(&self.home.to_string_lossy()),
            log = string(&log.to_string_lossy()),
        )
    }
}

pub fn run_action(ctx: &Context, action: Action) -> anyhow::Result<()> {
    let manager = Manager::here();
    match action {
        Action::Install { dry_run } => install(ctx, manager, dry_run),
        Action::Uninstall => uninstall(manager),
        Action::Status => status(ctx, manager),
    }
}

fn install(ctx: &Context, manager: Manager, dry_run: bool) -> anyhow::Result<()> {
    let path = manager.path()?;
    let text = manager.render(&Unit::for_this(ctx)?);
    let then: Vec<String> = manager.enable(&path).iter().map(|c| c.join(" ")).collect();
    if dry_run {
        println!("# {}\n{text}", path.display());
        eprintln!(
            "Would write {} and run: {}",
            path.display(),
            then.join(" && ")
        );
        return Ok(());
    }
    if let Some(why) = manager.unavailable() {
        println!("# {}\n{text}", path.display());
        bail!(
            "{why}, so duet cannot install a service here and changed nothing; above is what it would install at {}",
            path.display()
        );
    }
    // The daemon refuses to start without a journal; say so now rather
    // than through a service that fails every five seconds.
    if ctx.home.is_mirror() {
        ctx.home.open_mirror()?;
    } else {
        ctx.home.check()?;
    }
    if duet_daemon::client::Client::connect(ctx.home.root()).is_ok() && !manager.active() {
        bail!("a daemon is already running for this home; stop it first, then run `duet service install` again so that the service runs the only one");
    }
    write_file(&path, &text)?;
    for command in manager.enable(&path) {
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        run(&command).with_context(|| {
            format!(
                "wrote {}, but `{}` failed",
                path.display(),
                command.join(" ")
            )
        })?;
    }
    if ctx.json {
        return ctx.print_json(&json!({ "installed": path, "manager": manager.name() }));
    }
    println!(
        "Installed {}: the daemon runs now and whenever you log in. `duet service status` tells how it is doing.",
        path.display()
    );
    if manager == Manager::Systemd {
        println!("To keep syncing while you are logged out, run `loginctl enable-linger` once.");
    }
    Ok(())
}

fn uninstall(manager: Manager) -> anyhow::Result<()> {
    let path = manager.path()?;
    if !path.exists() {
        println!(
            "No duet service is installed ({} does not exist).",
            path.display()
        );
        return Ok(());
    }
    if let Some(why) = manager.unavailable() {
        bail!(
            "{why}, so duet cannot stop the service; remove {} yourself",
            path.display()
        );
    }
    for command in manager.disable(&path) {
        let command: Vec<&str> = command.iter().map(String::as_str).collect();
        run(&command).with_context(|| format!("`{}` failed", command.join(" ")))?;
    }
    std::fs::remove_file(&path).with_context(|| format!("cannot remove {}", path.display()))?;
    if manager == Manager::Systemd {
        run(&["systemctl", "--user", "daemon-reload"])?;
    }
    println!("Stopped the daemon and removed {}.", path.display());
    Ok(())
}

fn status(ctx: &Context, manager: Manager) -> anyhow::Result<()> {
    let path = manager.path()?;
    let installed = path.exists();
    let unavailable = manager.unavailable();
    let active = unavailable.is_none() && installed && manager.active();
    let answers = duet_daemon::client::Client::connect(ctx.home.root()).is_ok();
    if ctx.json {
        return ctx.print_json(&json!({
            "manager": manager.name(),
            "path": path,
            "installed": installed,
            "active": active,
            "daemon_running": answers,
        }));
    }
    match (installed, active) {
        (false, _) => println!(
            "No duet service is installed; `duet service install` installs one at {}.",
            path.display()
        ),
        (true, true) => println!("The duet service ({}) is running.", path.display()),
        (true, false) => println!(
            "The duet service ({}) is installed but not running.",
            path.display()
        ),
    }
    if let Some(why) = unavailable {
        println!("Note: {why}.");
    }
    if answers {
        println!("A daemon answers for this home.");
    }
    Ok(())
}

/// Writes `text` to `path` whole (a temporary file renamed over it), the
/// folders made as needed.
fn write_file(path: &Path, text: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let dir = path
        .parent()
        .with_context(|| format!("{} has no folder", path.display()))?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let mut file = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("cannot write in {}", dir.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.persist(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Runs `command`; its stderr, trimmed, is the error when it fails.
fn run(command: &[&str]) -> anyhow::Result<String> {
    let (program, args) = command.split_first().context("an empty command")?;
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("cannot run {program}"))?;
    if !out.status.success() {
        let said = String::from_utf8_lossy(&out.stderr).trim().to_string();
        bail!(if said.is_empty() {
            format!("{program} exited with {}", out.status)
        } else {
            said
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn words(w: &[&str]) -> Vec<String> {
    w.iter().map(|s| s.to_string()).collect()
}

/// One word of a systemd command line or setting: double-quoted, with
/// `\` and `"` escaped and systemd's specifiers (`%`) and variables (`$`)
/// doubled, so a path with spaces or those characters stays one word.
fn systemd_quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            '%' => out.push_str("%%"),
            '$' => out.push_str("$$"),
            _ => out.push(c),
        }
    }
    out.push('"');
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unit() -> Unit {
        Unit {
            exe: "/opt/my apps/duet".into(),
            home: "/home/a/100% <journal>".into(),
            command: "daemon",
        }
    }

    #[test]
    fn a_systemd_unit_names_the_binary_and_home_as_single_words() {
        let text = unit().systemd();
        assert!(text.contains(
            "ExecStart=\"/opt/my apps/duet\" daemon --home \"/home/a/100%% <journal>\"\n"
        ));
        assert!(text.contains("ReadWritePaths=\"/home/a/100%% <journal>\"\n"));
        assert!(text.contains("NoNewPrivileges=yes"));
    }

    #[test]
    fn a_launchd_agent_is_escaped_xml() {
        let text = unit().launchd();
        assert!(text.contains("<string>/home/a/100% &lt;journal&gt;</string>"));
        assert!(text.contains("<string>/opt/my apps/duet</string>"));
    }
}
