//! The sync daemon behind the app. When the home has a journal and no
//! daemon runs for it, `duet ui` runs one itself, in this process, with
//! the configuration `duet daemon` would use; when one already runs (a
//! `duet service`), the app talks to it through its control socket.

use duet_daemon::client::{Client, ControlError};
use duet_daemon::{Control, DaemonError};

use crate::state::State;

/// Starts the in-process daemon unless one runs or there is no journal.
pub async fn start_if_needed(state: &State) -> Result<(), DaemonError> {
    let home = state.home();
    if !home.is_initialised() || home.is_mirror() {
        return Ok(());
    }
    let mut slot = state.daemon.lock().await;
    if slot.is_some() {
        return Ok(());
    }
    match Client::connect(state.root()) {
        Ok(_) => return Ok(()),
        Err(ControlError::NotRunning) => {}
        // A daemon answers but cannot be spoken to (another version): it
        // holds the home's lock, so starting one here would fail too.
        Err(_) => return Ok(()),
    }
    let config = duet_daemon::Config {
        home: state.root().to_path_buf(),
        listen: state.listen.clone(),
        mdns: state.mdns,
        compact_after: std::env::var("DUET_COMPACT_AFTER")
            .ok()
            .and_then(|v| v.parse().ok()),
        whole_exe: state.whole_exe.clone(),
        control: Control::Socket,
    };
    match duet_daemon::start(config).await {
        Ok(daemon) => {
            *slot = Some(daemon);
            Ok(())
        }
        // Another daemon started in between: use that one.
        Err(DaemonError::AlreadyRunning { .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Stops the in-process daemon, if this process runs one.
pub async fn stop(state: &State) {
    if let Some(daemon) = state.daemon.lock().await.take() {
        daemon.stop().await;
    }
}
