//! `duet daemon` as a child process: started for a home on loopback,
//! waited for until it answers on its control socket, and stopped with
//! SIGTERM (then killed, if it will not stop). The demo, the benchmark and
//! the end-to-end tests all run their daemons this way.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use crate::client;

#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("cannot start `{exe} daemon`")]
    Spawn {
        exe: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot create the daemon's log {path}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the daemon for {home} was not listening after {} s", waited.as_secs())]
    NotListening { home: PathBuf, waited: Duration },
}

/// How to start one.
pub struct Options<'a> {
    /// Where its stderr goes (its log); `None` discards it.
    pub log: Option<&'a Path>,
    /// Extra environment, e.g. `RUST_LOG`.
    pub env: &'a [(&'a str, &'a str)],
    /// How long to wait until it answers.
    pub wait: Duration,
    /// Its arguments after `daemon --no-mdns` (default: `--listen` on
    /// 127.0.0.1, an ephemeral TCP port).
    pub args: &'a [&'a str],
    /// A command that runs it (`ip netns exec NAME`, say); none by default.
    pub wrapper: &'a [&'a str],
}

impl Default for Options<'_> {
    fn default() -> Self {
        Self {
            log: None,
            env: &[],
            wait: Duration::from_secs(30),
            args: &["--listen", "/ip4/127.0.0.1/tcp/0"],
            wrapper: &[],
        }
    }
}

/// A running `duet daemon`; stopped (SIGTERM) when dropped.
pub struct ChildDaemon {
    child: Child,
    home: PathBuf,
}

impl ChildDaemon {
    /// Starts `exe daemon` for `home`, listening on 127.0.0.1 on an
    /// ephemeral TCP port without mDNS, and waits until it answers.
    pub fn start(exe: &Path, home: &Path, options: &Options<'_>) -> Result<Self, ChildError> {
        let stderr = match options.log {
            Some(path) => {
                Stdio::from(
                    std::fs::File::create(path).map_err(|source| ChildError::Log {
                        path: path.to_path_buf(),
                        source,
                    })?,
                )
            }
            None => Stdio::null(),
        };
        let mut command = match options.wrapper.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(exe);
                c
            }
            None => Command::new(exe),
        };
        command
            .arg("--home")
            .arg(home)
            .args(["daemon", "--no-mdns"])
            .args(options.args);
        let child = command
            .env_remove("DUET_HOME")
            .envs(options.env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .map_err(|source| ChildError::Spawn {
                exe: exe.to_path_buf(),
                source,
            })?;
        let mut daemon = Self {
            child,
            home: home.to_path_buf(),
        };
        let start = Instant::now();
        while daemon.addrs().is_empty() {
            if start.elapsed() > options.wait || daemon.exited().is_some() {
                return Err(ChildError::NotListening {
                    home: home.to_path_buf(),
                    waited: start.elapsed(),
                });
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        Ok(daemon)
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Where it listens (empty once it has stopped).
    pub fn addrs(&self) -> Vec<String> {
        client::listen_addrs(&self.home)
    }

    /// Its exit status, if it has exited.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// SIGTERM, then waits up to `limit`; kills it if it has not exited.
    /// Returns its exit status if it exited by itself.
    pub fn stop(mut self, limit: Duration) -> Option<ExitStatus> {
        self.terminate(limit)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn terminate(&mut self, limit: Duration) -> Option<ExitStatus> {
        if let Some(status) = self.exited() {
            return Some(status);
        }
        // The standard `kill` sends SIGTERM without unsafe code here.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let start = Instant::now();
        while start.elapsed() < limit {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

impl Drop for ChildDaemon {
    fn drop(&mut self) {
        self.terminate(Duration::from_secs(5));
    }
}
