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

use crate::index::Index;
use crate::keys::{DeviceKey, JournalKey, KeyError};
use crate::replica::{Replica, ReplicaError};
use crate::store::{Store, StoreError};
use crate::writer::{Start, Writer};

#[derive(Debug, thiserror::Error)]
pub enum HomeError {
    #[error("there is no journal in {0}")]
    NotInitialised(PathBuf),
    #[error("{0} already holds a journal")]
    AlreadyInitialised(PathBuf),
    #[error("{0} holds part of a journal (an earlier `duet init` or `duet join` did not finish)")]
    Partial(PathBuf),
    #[error("{0} is missing, and the journal in this home cannot be read without it")]
    MissingKey(PathBuf),
    #[error("the store {0} is missing or empty, though this home holds the journal's keys")]
    StoreMissing(PathBuf),
    #[error("{0} is a mirror: it holds the journal sealed, with no key, so it has no entries to show; `duet mirror` runs it")]
    Mirror(PathBuf),
    #[error("cannot create {path}: {source}")]
    Create {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot move {from} to {to}: {source}")]
    Move {
        from: PathBuf,
        to: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Replica(#[from] ReplicaError),
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

    /// The files that make this home's journal: its keys, its store and
    /// the files SQLite keeps beside the store.
    fn journal_files(&self) -> [PathBuf; 5] {
        [
            self.device_key_path(),
            self.journal_key_path(),
            self.store_path(),
            self.root.join("store.sqlite-wal"),
            self.root.join("store.sqlite-shm"),
        ]
    }

    /// Where this home keeps a journal it retired (`duet join --bring`):
    /// `<home>/retired/<label>`, inside the home's own 0700 directory.
    pub fn retired_dir(&self, label: &str) -> PathBuf {
        self.root.join("retired").join(label)
    }

    /// Moves this home's journal, whole and sealed as it is, to `dest`
    /// (made 0700 if missing), which must hold no journal. Files are
    /// renamed, never copied or deleted, so `dest` must be on the same
    /// file system; if one rename fails, those done are undone. No
    /// process may have the store open (a running daemon). Returns the
    /// home at `dest`.
    pub fn move_journal_to(&self, dest: &Path) -> Result<Home, HomeError> {
        let to = Home::new(dest);
        to.prepare_new()?;
        let pairs: Vec<(PathBuf, PathBuf)> = self
            .journal_files()
            .into_iter()
            .zip(to.journal_files())
            .filter(|(from, _)| from.exists())
            .collect();
        for (done, (from, into)) in pairs.iter().enumerate() {
            if let Err(source) = fs::rename(from, into) {
                for (back_from, back_into) in &pairs[..done] {
                    let _ = fs::rename(back_into, back_from);
                }
                return Err(HomeError::Move {
                    from: from.clone(),
                    to: into.clone(),
                    source,
                });
            }
        }
        Ok(to)
    }

    /// True when keys and store are all present.
    pub fn is_initialised(&self) -> bool {
        self.device_key_path().exists()
            && self.journal_key_path().exists()
            && self.store_path().exists()
    }

    /// True for a mirror's home (`docs/mirror.md`): a device key and a
    /// store marked as a mirror's, and no journal key.
    pub fn is_mirror(&self) -> bool {
        self.device_key_path().exists()
            && !self.journal_key_path().exists()
            && fs::metadata(self.store_path()).is_ok_and(|m| m.len() > 0)
            && Store::open(&self.store_path())
                .ok()
                .and_then(|s| s.record(crate::ledger::records::MIRROR).ok().flatten())
                .is_some()
    }

    /// Opens a mirror's home: its device key and its ledger, which holds
    /// the signed device list and the sealed journal.
    pub fn open_mirror(&self) -> Result<(crate::ledger::Ledger, DeviceKey), HomeError> {
        if !self.is_mirror() {
            return Err(if self.is_initialised() {
                HomeError::AlreadyInitialised(self.root.clone())
            } else {
                self.why_not_initialised()
            });
        }
        let device = DeviceKey::read(&self.device_key_path())?;
        let store = Store::open(&self.store_path())?;
        let ledger = crate::ledger::Ledger::open(store)?;
        Ok((ledger, device))
    }

    fn is_empty_of_journal(&self) -> bool {
        !self.device_key_path().exists()
            && !self.journal_key_path().exists()
            && !self.store_path().exists()
    }

    /// Creates the home directory (0700) if needed and checks it holds no
    /// journal yet. The first step of both `init` and `join`.
    pub fn prepare_new(&self) -> Result<(), HomeError> {
        if self.is_initialised() || self.is_mirror() {
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

    /// Opens the journal held here, whole.
    pub fn open(&self) -> Result<Replica, HomeError> {
        let (store, device, key) = self.parts()?;
        self.partial_if_uninitialised(Replica::open(store, device, key))
    }

    /// Opens the journal held here for reading only, for a home that
    /// cannot be written (a read-only disk, a backup mounted read-only):
    /// nothing is created, migrated or written, and a write through the
    /// replica fails with [`StoreError::ReadOnly`].
    pub fn open_read_only(&self) -> Result<Replica, HomeError> {
        let (store, device, key) = self.parts_with(Store::open_read_only)?;
        self.partial_if_uninitialised(Replica::open(store, device, key))
    }

    /// Opens the journal held here as a writer (see [`Writer`]), starting
    /// at `start`, which a whole replica gives.
    pub fn open_writer(&self, start: Start) -> Result<Writer, HomeError> {
        let (store, device, key) = self.parts()?;
        self.partial_if_uninitialised(Writer::open(store, device, key, start))
    }

    /// Opens the store and the keys of its sealed read index, without
    /// loading the journal (`crate::index`): what a page of the timeline
    /// is read with.
    pub fn open_index(&self) -> Result<(Store, Index), HomeError> {
        let (store, device, _) = self.parts()?;
        let journal =
            self.partial_if_uninitialised(store.journal_id().map_err(ReplicaError::from))?;
        Ok((store, Index::new(&device, &journal)))
    }

    /// This device's id, read from its key file (no store is opened).
    pub fn device_id(&self) -> Result<crate::DeviceId, HomeError> {
        Ok(DeviceKey::read(&self.device_key_path())?.id())
    }

    /// Opens the journal held here as a writer that starts where the last
    /// replica or writer left the sealed frontier, when that still holds
    /// everything in the store (`Index::start`); `None` otherwise, and the
    /// whole journal must be opened instead.
    pub fn open_writer_if_current(&self) -> Result<Option<Writer>, HomeError> {
        let (store, device, key) = self.parts()?;
        let journal =
            self.partial_if_uninitialised(store.journal_id().map_err(ReplicaError::from))?;
        let Some(start) = Index::new(&device, &journal).start(&store)? else {
            return Ok(None);
        };
        self.partial_if_uninitialised(Writer::open(store, device, key, start))
            .map(Some)
    }

    /// Checks that a journal is here and that its keys and store open,
    /// without loading the journal.
    pub fn check(&self) -> Result<(), HomeError> {
        let (store, _, _) = self.parts()?;
        let opened = crate::ledger::Ledger::open(store).map_err(ReplicaError::from);
        self.partial_if_uninitialised(opened).map(drop)
    }

    /// Reads the keys and opens the store.
    fn parts(&self) -> Result<(Store, DeviceKey, JournalKey), HomeError> {
        self.parts_with(Store::open)
    }

    /// Reads the keys and opens the store with `open`.
    fn parts_with(
        &self,
        open: impl FnOnce(&Path) -> Result<Store, StoreError>,
    ) -> Result<(Store, DeviceKey, JournalKey), HomeError> {
        if !self.is_initialised() {
            return Err(self.why_not_initialised());
        }
        if fs::metadata(self.store_path()).is_ok_and(|m| m.len() == 0) {
            return Err(HomeError::StoreMissing(self.store_path()));
        }
        let device = DeviceKey::read(&self.device_key_path())?;
        let key = JournalKey::read(&self.journal_key_path())?;
        let store = open(&self.store_path())?;
        Ok((store, device, key))
    }

    /// Why a home that is not whole cannot be opened: nothing is here; a
    /// key file is missing beside a store that holds a journal (restore
    /// the file); the store is missing or empty beside both keys (restore
    /// it, or join again); or an `init` or `join` stopped half way.
    fn why_not_initialised(&self) -> HomeError {
        if self.is_empty_of_journal() {
            return HomeError::NotInitialised(self.root.clone());
        }
        if self.is_mirror() {
            return HomeError::Mirror(self.root.clone());
        }
        let (device, journal) = (self.device_key_path(), self.journal_key_path());
        let store = self.store_path();
        let store_has_journal = fs::metadata(&store).is_ok_and(|m| m.len() > 0)
            && Store::open(&store)
                .ok()
                .is_some_and(|s| crate::ledger::Ledger::open(s).is_ok());
        if store_has_journal {
            let missing = if journal.exists() { device } else { journal };
            return HomeError::MissingKey(missing);
        }
        if device.exists() && journal.exists() {
            return HomeError::StoreMissing(store);
        }
        HomeError::Partial(self.root.clone())
    }

    /// A store that was never initialised is a half-made home.
    fn partial_if_uninitialised<T>(&self, opened: Result<T, ReplicaError>) -> Result<T, HomeError> {
        match opened {
            Err(ReplicaError::Store(StoreError::NotInitialised)) => {
                Err(HomeError::Partial(self.root.clone()))
            }
            other => Ok(other?),
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

    #[test]
    fn a_journal_moved_aside_opens_there_and_leaves_its_home_empty() {
        let dir = tempfile::tempdir().expect("dir");
        let home = Home::new(dir.path().join("sam"));
        let id = home.init("Sam", "laptop", 1).expect("init").journal_id();
        let aside = home
            .move_journal_to(&home.retired_dir("old"))
            .expect("move");
        assert!(!home.is_initialised());
        home.prepare_new().expect("the home takes a new journal");
        assert_eq!(aside.open().expect("open").journal_id(), id);
        let taken = Home::new(dir.path().join("other"));
        taken.init("Jo", "phone", 1).expect("init");
        assert!(
            matches!(
                aside.move_journal_to(taken.root()),
                Err(HomeError::AlreadyInitialised(_))
            ),
            "a journal never replaces another"
        );
        assert_eq!(aside.open().expect("still there").journal_id(), id);
    }
}
