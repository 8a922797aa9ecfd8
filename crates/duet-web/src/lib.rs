//! duet-web: the journal in a browser, for the partner who never opens a
//! terminal. `duet ui` calls [`bind`] and then [`Server::run`].
//!
//! It serves server-rendered pages and a little plain JavaScript on
//! 127.0.0.1 only, to a browser that opened the secret URL [`Server::url`]
//! gives (see `guard` for every check a request passes). It holds no
//! storage or protocol logic of its own: reads go through [`read`] to
//! duet-core, writes through the daemon's control socket or duet-core as
//! the CLI does, and pairing through duet-daemon.
//!
//! ```no_run
//! # async fn example() -> Result<(), duet_web::WebError> {
//! let config = duet_web::Config::new("/tmp/alex".into());
//! let server = duet_web::bind(config).await?;
//! println!("duet ui: {}", server.url());
//! server.run(async { let _ = tokio::signal::ctrl_c().await; }).await?;
//! # Ok(()) }
//! ```

use std::future::Future;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;

use duet_daemon::Multiaddr;

mod engine;
mod events;
mod guard;
pub mod html;
mod invite;
mod join;
mod pages;
pub mod read;
mod routes;
mod state;
mod timeline;
mod write;

pub use state::State;

/// What `duet ui` was asked for.
pub struct Config {
    /// The device's home.
    pub home: PathBuf,
    /// The port on 127.0.0.1; 0 picks a free one.
    pub port: u16,
    /// Where an in-process daemon listens (empty: as `duet daemon`).
    pub listen: Vec<Multiaddr>,
    /// Whether an in-process daemon looks for devices with mDNS.
    pub mdns: bool,
    /// The `duet` executable, for the daemon's work on the whole journal.
    pub whole_exe: Option<PathBuf>,
}

impl Config {
    /// The defaults `duet ui` uses for `home`.
    pub fn new(home: PathBuf) -> Self {
        Self {
            home,
            port: 0,
            listen: Vec::new(),
            mdns: true,
            whole_exe: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum WebError {
    #[error("cannot listen on 127.0.0.1:{port}")]
    Listen {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot start the sync daemon")]
    Daemon(#[from] duet_daemon::DaemonError),
    #[error("the web server stopped")]
    Serve(#[source] std::io::Error),
}

/// A web app bound to its port, not yet serving.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: Arc<State>,
}

/// Binds 127.0.0.1 (never another address: the app is for this machine's
/// person only), starts the in-process daemon when the home has a journal
/// and none runs, and makes the session secret.
pub async fn bind(config: Config) -> Result<Server, WebError> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, config.port));
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .map_err(|source| WebError::Listen {
            port: config.port,
            source,
        })?;
    let port = listener
        .local_addr()
        .map_err(|source| WebError::Listen {
            port: config.port,
            source,
        })?
        .port();
    let state = Arc::new(State::new(config, port));
    engine::start_if_needed(&state).await?;
    events::watch(&state);
    Ok(Server { listener, state })
}

impl Server {
    /// The URL that opens a session: `http://127.0.0.1:PORT/?t=SECRET`.
    pub fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/?t={}",
            self.state.port,
            self.state.secret()
        )
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.state.port
    }

    /// Serves until `shutdown` completes, then stops the in-process
    /// daemon, if it started one.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), WebError> {
        let app = routes::router(self.state.clone());
        let state = self.state.clone();
        let shutdown = async move {
            shutdown.await;
            state.stopping.send_replace(true);
        };
        let result = axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
            .map_err(WebError::Serve);
        self.state.stop_watching();
        engine::stop(&self.state).await;
        result
    }
}

/// `bind`, print nothing, and `run`: for tests that pass their own
/// shutdown. The URL is sent on `url` as soon as it listens.
pub async fn serve(
    config: Config,
    url: tokio::sync::oneshot::Sender<String>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), WebError> {
    let server = bind(config).await?;
    let _ = url.send(server.url());
    server.run(shutdown).await
}
