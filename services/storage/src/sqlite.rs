//! The embedded backend for zero-setup runs: one SQLite file in WAL mode with full fsync. Calls
//! run on tokio's blocking pool, one at a time, so async threads never wait on disk.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, ErrorCode, OptionalExtension, params};
use sharer_core::SecretId;

use crate::StorageError;
use crate::store::{NewSecret, SecretStore, row_key};

const SCHEMA: &str = "
    PRAGMA journal_mode = WAL;
    PRAGMA synchronous = FULL;
    PRAGMA busy_timeout = 5000;
    CREATE TABLE IF NOT EXISTS sealed_secrets (
        id_hash          BLOB    PRIMARY KEY,
        sealed_secret    BLOB    NOT NULL,
        created_at_ms    INTEGER NOT NULL,
        expires_at_ms    INTEGER NOT NULL
    ) STRICT;
    CREATE INDEX IF NOT EXISTS sealed_secrets_expires_at_idx ON sealed_secrets (expires_at_ms);
";

/// Sealed secrets in one SQLite file.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file and its schema.
    pub async fn open(path: &Path) -> Result<Self, StorageError> {
        let path = path.to_path_buf();
        let connection =
            tokio::task::spawn_blocking(move || -> Result<Connection, StorageError> {
                if let Some(folder) = path.parent().filter(|f| !f.as_os_str().is_empty()) {
                    std::fs::create_dir_all(folder)
                        .map_err(|e| StorageError::Setup(format!("{}: {e}", folder.display())))?;
                }
                let connection = Connection::open(&path)
                    .map_err(|e| StorageError::Setup(format!("{}: {e}", path.display())))?;
                connection
                    .execute_batch(SCHEMA)
                    .map_err(|e| StorageError::Setup(e.to_string()))?;
                migrate_rows_keyed_by_id(&connection)?;
                restrict_to_owner(&path);
                Ok(connection)
            })
            .await
            .map_err(|e| StorageError::Setup(e.to_string()))??;

        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// Runs `work` on the blocking pool with the connection to itself.
    async fn with_connection<T, F>(&self, work: F) -> Result<T, StorageError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StorageError> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let connection = connection
                .lock()
                .map_err(|_| StorageError::Database("connection lock poisoned".into()))?;
            work(&connection)
        })
        .await
        .map_err(|e| StorageError::Database(e.to_string()))?
    }
}

impl SecretStore for SqliteStore {
    async fn put(&self, secret: NewSecret) -> Result<(), StorageError> {
        let created_at = unix_millis(SystemTime::now());
        let expires_at = unix_millis(secret.expires_at);
        self.with_connection(move |connection| {
            connection
                .prepare_cached(
                    "INSERT INTO sealed_secrets (id_hash, sealed_secret, created_at_ms, expires_at_ms) \
                     VALUES (?1, ?2, ?3, ?4)",
                )
                .and_then(|mut statement| {
                    statement.execute(params![
                        row_key(&secret.id).as_slice(),
                        secret.sealed_secret,
                        created_at,
                        expires_at
                    ])
                })
                .map_err(|error| match error.sqlite_error_code() {
                    Some(ErrorCode::ConstraintViolation) => StorageError::AlreadyExists,
                    _ => database_error(error),
                })?;
            Ok(())
        })
        .await
    }

    async fn fetch(&self, id: &SecretId, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        let key = row_key(id);
        let now = unix_millis(now);
        self.with_connection(move |connection| {
            connection
                .prepare_cached(
                    "SELECT sealed_secret FROM sealed_secrets WHERE id_hash = ?1 AND expires_at_ms > ?2",
                )
                .and_then(|mut statement| {
                    statement
                        .query_row(params![key.as_slice(), now], |row| row.get(0))
                        .optional()
                })
                .map_err(database_error)
        })
        .await
    }

    async fn consume(&self, id: &SecretId, now: SystemTime) -> Result<bool, StorageError> {
        let key = row_key(id);
        let now = unix_millis(now);
        self.with_connection(move |connection| {
            let deleted = connection
                .prepare_cached(
                    "DELETE FROM sealed_secrets WHERE id_hash = ?1 AND expires_at_ms > ?2",
                )
                .and_then(|mut statement| statement.execute(params![key.as_slice(), now]))
                .map_err(database_error)?;
            Ok(deleted == 1)
        })
        .await
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let now = unix_millis(now);
        self.with_connection(move |connection| {
            let deleted = connection
                .execute(
                    "DELETE FROM sealed_secrets WHERE expires_at_ms <= ?1",
                    params![now],
                )
                .map_err(database_error)?;
            Ok(u64::try_from(deleted).unwrap_or(u64::MAX))
        })
        .await
    }

    fn backend_name(&self) -> &'static str {
        "sqlite"
    }
}

fn unix_millis(time: SystemTime) -> i64 {
    let millis = time
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_millis());
    i64::try_from(millis).unwrap_or(i64::MAX)
}

fn database_error(error: rusqlite::Error) -> StorageError {
    match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => {
            StorageError::Unavailable(error.to_string())
        }
        _ => StorageError::Database(error.to_string()),
    }
}

/// Moves rows from the first layout (keyed by the id itself) to `sealed_secrets`, keyed by
/// [`row_key`], then drops the old table.
fn migrate_rows_keyed_by_id(connection: &Connection) -> Result<(), StorageError> {
    let setup = |e: rusqlite::Error| StorageError::Setup(e.to_string());
    let old_table_exists: bool = connection
        .query_row(
            "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = 'secrets'",
            [],
            |row| row.get(0),
        )
        .map_err(setup)?;
    if !old_table_exists {
        return Ok(());
    }

    let transaction = connection.unchecked_transaction().map_err(setup)?;
    let rows: Vec<(String, Vec<u8>, i64, i64)> = transaction
        .prepare("SELECT id, sealed_secret, created_at_ms, expires_at_ms FROM secrets")
        .and_then(|mut statement| {
            statement
                .query_map([], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?))
                })?
                .collect()
        })
        .map_err(setup)?;
    for (id, sealed_secret, created_at, expires_at) in &rows {
        let Ok(id) = SecretId::parse(id) else {
            continue;
        };
        transaction
            .execute(
                "INSERT OR IGNORE INTO sealed_secrets \
                 (id_hash, sealed_secret, created_at_ms, expires_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![
                    row_key(&id).as_slice(),
                    sealed_secret,
                    created_at,
                    expires_at
                ],
            )
            .map_err(setup)?;
    }
    transaction
        .execute_batch("DROP TABLE secrets")
        .map_err(setup)?;
    transaction.commit().map_err(setup)?;
    tracing::info!(
        rows = rows.len(),
        "re-keyed stored secrets by the hash of their id"
    );
    Ok(())
}

/// The file holds only ciphertext, but nobody else needs to read it either.
fn restrict_to_owner(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        for suffix in ["", "-wal", "-shm"] {
            let mut file = path.as_os_str().to_owned();
            file.push(suffix);
            let _ = std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600));
        }
    }
}
