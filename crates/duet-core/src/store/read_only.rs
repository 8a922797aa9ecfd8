//! Opening a store that cannot be written: a home on a read-only disk, a
//! backup mounted read-only, files this user may read but not change.
//! Everything that only reads (`duet log`, `show`, `export`, `status`)
//! works on it; a write fails with [`StoreError::ReadOnly`].

use std::path::Path;

use rusqlite::{Connection, ErrorCode, OpenFlags};

use super::{Store, StoreError, MIGRATIONS};

impl Store {
    /// Opens the database file for reading only: no file is created, no
    /// schema is migrated, nothing is written.
    ///
    /// A store in WAL mode (every duet store) needs its `-shm` file, which
    /// SQLite creates beside it; in a folder that cannot be written it
    /// cannot, and the file is then opened as immutable, which is right
    /// when nothing can change it. Unless a `-wal` file holds changes not
    /// yet folded into the database (a process was killed): reading
    /// without them would show an older journal, so that is refused.
    pub fn open_read_only(path: &Path) -> Result<Self, StoreError> {
        let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let conn = match schema_of(Connection::open_with_flags(path, flags)) {
            Ok(conn) => conn,
            Err(StoreError::Sqlite(e)) if e.sqlite_error_code() == Some(ErrorCode::CannotOpen) => {
                let wal = path.with_file_name(format!(
                    "{}-wal",
                    path.file_name()
                        .map_or_else(String::new, |f| f.to_string_lossy().into_owned())
                ));
                if std::fs::metadata(&wal).is_ok_and(|m| m.len() > 0) {
                    return Err(StoreError::Unfolded);
                }
                schema_of(Connection::open_with_flags(immutable_uri(path), flags))?
            }
            Err(e) => return Err(e),
        };
        conn.busy_timeout(std::time::Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        let known = MIGRATIONS.len() as i64;
        if version > known {
            return Err(StoreError::TooNew {
                found: version,
                known,
            });
        }
        if version < known {
            return Err(StoreError::Outdated {
                found: version,
                known,
            });
        }
        Ok(Self { conn })
    }
}

/// The connection, once a first read shows the file opens (SQLite opens
/// lazily: a file it cannot use fails on the first statement).
fn schema_of(conn: rusqlite::Result<Connection>) -> Result<Connection, StoreError> {
    let conn = conn?;
    conn.pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))?;
    Ok(conn)
}

/// `file:PATH?immutable=1`, the path percent-encoded as SQLite's URIs
/// want (every byte but letters, digits, `/` and `-._~`).
fn immutable_uri(path: &Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut uri = String::from("file:");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/-._~".contains(&b) {
            uri.push(char::from(b));
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    uri.push_str("?immutable=1");
    uri
}

/// True when `e` is SQLite refusing a write because the database can only
/// be read.
pub(super) fn is_read_only(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::ReadOnly)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_store_opened_read_only_reads_and_refuses_writes() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("a store?#%.sqlite");
        drop(Store::open(&path).expect("create"));
        let store = Store::open_read_only(&path).expect("open read-only");
        assert_eq!(store.last_position().expect("read"), 0);
        let err = store.set_record("x", b"y").expect_err("a write");
        assert!(matches!(err, StoreError::ReadOnly(_)), "{err:?}");
    }

    #[test]
    fn an_older_schema_is_named_not_migrated() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("store.sqlite");
        let conn = Connection::open(&path).expect("create");
        conn.execute_batch(MIGRATIONS[0]).expect("first schema");
        conn.pragma_update(None, "user_version", 1)
            .expect("version");
        drop(conn);
        let err = Store::open_read_only(&path).err().expect("refused");
        assert!(
            matches!(err, StoreError::Outdated { found: 1, .. }),
            "{err:?}"
        );
        let conn = Connection::open(&path).expect("reopen");
        let version: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .expect("version");
        assert_eq!(version, 1, "the read-only open migrated the store");
    }

    #[test]
    fn uris_escape_what_sqlite_would_read_as_syntax() {
        assert_eq!(
            immutable_uri(Path::new("/h/a b?#%.sqlite")),
            "file:/h/a%20b%3F%23%25.sqlite?immutable=1"
        );
    }
}
