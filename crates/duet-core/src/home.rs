//! A device's home directory: where its keys and store live.
//!
//! ```text
//! <home>/            mode 0700
//!   device.key       this device's ed25519 secret (0600)
//!   journal.key      the journal's age identity (0600), age's own format
//!   store.sqlite     the store (+ -wal, -shm): ciphertext and sync metadata
//! ```

use std::fs;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::keys::{DeviceKey, JournalKey, KeyError};
use crate::replica::{Replica, ReplicaError};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("there is no journal in {0}; start one with `duet init --person NAME` or pair this device with `duet join`")]
    NotInitialised(PathBuf),
    #[error("{0} already holds a journal; use another --home to start a second one")]
    AlreadyInitialised(PathBuf),
    #[error("{0} holds part of a journal (an earlier `duet init` or `duet join` did not finish); move it aside and try again")]
    Partial(PathBuf),
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
    #[error("cannot open the journal in a worker thread: {0}")]
    Thread(String),
}

#[derive(Clone, Debug)]
pub struct Home {
    root: PathBuf,
}

impl Home {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn device_key_path(&self) -> PathBuf {
        self.root.join("device.key")
    }

    pub fn journal_key_path(&self) -> PathBuf {
        self.root.join("journal.key")
    }

    pub fn store_path(&self) -> PathBuf {
        self.root.join("store.sqlite")
    }

    /// True when keys and store are all present.
    pub fn is_initialised(&self) -> bool {
        self.device_key_path().exists()
            && self.journal_key_path().exists()
            && self.store_path().exists()
    }

    fn is_empty_of_journal(&self) -> bool {
        !self.device_key_path().exists()
            && !self.journal_key_path().exists()
            && !self.store_path().exists()
    }

    /// Creates the home directory (0700) if needed and checks it holds no
    /// journal yet. The first step of both `init` and `join`.
    pub fn prepare_new(&self) -> Result<(), HomeError> {
        if self.is_initialised() {
            return Err(HomeError::AlreadyInitialised(self.root.clone()));
        }
        if !self.is_empty_of_journal() {
            return Err(HomeError::Partial(self.root.clone()));
        }
        let create = |source| HomeError::Create {
            path: self.root.clone(),
            source,
        };
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.root)
            .map_err(create)?;
        fs::set_permissions(&self.root, fs::Permissions::from_mode(0o700)).map_err(create)?;
        Ok(())
    }

    /// Starts a new journal here for `person` on device `device_name`.
    pub fn init(&self, person: &str, device_name: &str, now: i64) -> Result<Replica, HomeError> {
        self.prepare_new()?;
        let device = DeviceKey::generate();
        let key = JournalKey::generate();
        device.write(&self.device_key_path())?;
        key.write(&self.journal_key_path())?;
        let store = Store::open(&self.store_path())?;
        Ok(Replica::create(
            store,
            device,
            key,
            person,
            device_name,
            now,
        )?)
    }

    /// Opens the journal held here as a writer replica, without its
    /// document (see [`Replica::open_writer`]). `None` when the store does
    /// not yet hold what that needs: open the whole journal once first.
    pub fn open_writer(&self) -> Result<Option<Replica>, HomeError> {
        match self.open_with(Replica::open_writer)? {
            Err(ReplicaError::MissingRecord(_)) => Ok(None),
            other => Ok(Some(other?)),
        }
    }

    /// Opens the journal held here.
    pub fn open(&self) -> Result<Replica, HomeError> {
        Ok(self.open_with(Replica::open)??)
    }

    /// Reads the keys, opens the store and hands them to `open`; a store
    /// that was never initialised is a half-made home.
    fn open_with(
        &self,
        open: impl FnOnce(Store, DeviceKey, JournalKey) -> Result<Replica, ReplicaError>,
    ) -> Result<Result<Replica, ReplicaError>, HomeError> {
        if !self.is_initialised() {
            if self.is_empty_of_journal() {
                return Err(HomeError::NotInitialised(self.root.clone()));
            }
            return Err(HomeError::Partial(self.root.clone()));
        }
        let device = DeviceKey::read(&self.device_key_path())?;
        let key = JournalKey::read(&self.journal_key_path())?;
        let store = Store::open(&self.store_path())?;
        match open(store, device, key) {
            Err(ReplicaError::Store(StoreError::NotInitialised)) => {
                Err(HomeError::Partial(self.root.clone()))
            }
            other => Ok(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_home_is_initialised_once_and_then_opens() {
        let dir = tempfile::tempdir().expect("dir");
        let home = Home::new(dir.path().join("alex"));
        assert!(matches!(home.open(), Err(HomeError::NotInitialised(_))));
        let replica = home.init("Alex", "laptop", 1).expect("init");
        let id = replica.device_id();
        drop(replica);
        assert!(matches!(
            home.init("Alex", "laptop", 2),
            Err(HomeError::AlreadyInitialised(_))
        ));
        assert_eq!(home.open().expect("open").device_id(), id);
        let mode = fs::metadata(home.root())
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o700);
    }
}
