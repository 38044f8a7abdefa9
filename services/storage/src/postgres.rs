//! The PostgreSQL backend: a pool of `tokio-postgres` connections, statements prepared once per
//! connection, and an atomic `DELETE` that decides who consumes a secret.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use deadpool_postgres::{Manager, ManagerConfig, Pool, PoolError, RecyclingMethod, Runtime};
use sharer_core::SecretId;
use tokio_postgres::Client;
use tokio_postgres::error::SqlState;

use crate::StorageError;
use crate::postgres_connector::Connector;
use crate::store::{NewSecret, SecretStore, row_key};

/// Ordered schema changes; each runs once, under an advisory lock, recorded in
/// `sharer_schema_version`.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE secrets (
        id            text        PRIMARY KEY,
        sealed_secret bytea       NOT NULL,
        created_at    timestamptz NOT NULL DEFAULT now(),
        expires_at    timestamptz NOT NULL
    );
    CREATE INDEX secrets_expires_at_idx ON secrets (expires_at);",
    // Rows are keyed by a hash of the id, never the id: see `store::row_key`.
    "ALTER TABLE secrets ADD COLUMN id_hash bytea;
    UPDATE secrets SET id_hash = sha256(convert_to('sharer.v1/secret-id/' || id, 'UTF8'));
    ALTER TABLE secrets DROP CONSTRAINT secrets_pkey;
    ALTER TABLE secrets DROP COLUMN id;
    ALTER TABLE secrets ALTER COLUMN id_hash SET NOT NULL;
    ALTER TABLE secrets ADD PRIMARY KEY (id_hash);",
];
/// Any constant shared by every replica: serializes concurrent migrations.
const MIGRATION_LOCK_KEY: i64 = 0x5348_4152_4552;
const PURGE_BATCH: i64 = 10_000;

/// How to reach PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresOptions {
    /// A libpq-style URL or key=value string. A password in it is used unless a file is given.
    pub url: String,
    /// A file holding the password, read again for every new connection so it can rotate.
    pub password_file: Option<PathBuf>,
    /// CA bundle (PEM) for the server's certificate when the URL says `sslmode=require`;
    /// without it, the public web PKI roots are used.
    pub ca_file: Option<PathBuf>,
    /// Connections kept open at most.
    pub pool_size: usize,
    /// How long a call waits for a free connection or a new one.
    pub connect_timeout: Duration,
}

/// Sealed secrets in PostgreSQL.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: Pool,
}

impl PostgresStore {
    /// Connects, then creates or migrates the schema.
    pub async fn connect(options: &PostgresOptions) -> Result<Self, StorageError> {
        let mut pg_config: tokio_postgres::Config = options.url.parse().map_err(|_| {
            StorageError::Setup("DATABASE_URL is not a valid PostgreSQL URL".into())
        })?;
        pg_config.connect_timeout(options.connect_timeout);
        if pg_config.get_application_name().is_none() {
            pg_config.application_name("sharer-storage");
        }

        let manager_config = ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        };
        let connector = Connector::new(&pg_config, options)?;
        let manager = Manager::from_connect(pg_config, connector, manager_config);
        let pool = Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|error| StorageError::Setup(error.to_string()))?;

        let store = Self { pool };
        store.migrate().await?;
        Ok(store)
    }

    async fn migrate(&self) -> Result<(), StorageError> {
        let mut client = self.pool.get().await.map_err(pool_error)?;
        let transaction = client.transaction().await.map_err(query_error)?;
        transaction
            .execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK_KEY])
            .await
            .map_err(query_error)?;
        transaction
            .batch_execute(
                "CREATE TABLE IF NOT EXISTS sharer_schema_version (version integer NOT NULL)",
            )
            .await
            .map_err(query_error)?;
        let applied: i32 = transaction
            .query_one(
                "SELECT COALESCE(max(version), 0) FROM sharer_schema_version",
                &[],
            )
            .await
            .map_err(query_error)?
            .get(0);

        let applied = usize::try_from(applied).unwrap_or(0);
        for (index, migration) in MIGRATIONS.iter().enumerate().skip(applied) {
            let version = i32::try_from(index + 1).unwrap_or(i32::MAX);
            transaction
                .batch_execute(migration)
                .await
                .map_err(query_error)?;
            transaction
                .execute(
                    "INSERT INTO sharer_schema_version (version) VALUES ($1)",
                    &[&version],
                )
                .await
                .map_err(query_error)?;
            tracing::info!(version, "applied schema migration");
        }
        transaction.commit().await.map_err(query_error)
    }

    /// Runs SQL on one of the pool's connections; for tests that change the server.
    #[cfg(feature = "test-support")]
    pub async fn execute_for_tests(&self, sql: &str) -> Result<(), StorageError> {
        self.client()
            .await?
            .batch_execute(sql)
            .await
            .map_err(query_error)
    }

    async fn client(&self) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(pool_error)
    }
}

impl SecretStore for PostgresStore {
    async fn put(&self, secret: NewSecret) -> Result<(), StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "INSERT INTO secrets (id_hash, sealed_secret, expires_at) VALUES ($1, $2, $3)",
            )
            .await
            .map_err(query_error)?;

        let key = row_key(&secret.id).to_vec();
        client
            .execute(
                &statement,
                &[&key, &secret.sealed_secret, &secret.expires_at],
            )
            .await
            .map_err(|error| match error.code() {
                Some(code) if *code == SqlState::UNIQUE_VIOLATION => StorageError::AlreadyExists,
                _ => query_error(error),
            })?;
        Ok(())
    }

    async fn fetch(&self, id: &SecretId, now: SystemTime) -> Result<Option<Vec<u8>>, StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached(
                "SELECT sealed_secret FROM secrets WHERE id_hash = $1 AND expires_at > $2",
            )
            .await
            .map_err(query_error)?;

        let row = client
            .query_opt(&statement, &[&row_key(id).as_slice(), &now])
            .await
            .map_err(query_error)?;
        Ok(row.map(|row| row.get(0)))
    }

    async fn consume(&self, id: &SecretId, now: SystemTime) -> Result<bool, StorageError> {
        let client = self.client().await?;
        let statement = client
            .prepare_cached("DELETE FROM secrets WHERE id_hash = $1 AND expires_at > $2")
            .await
            .map_err(query_error)?;

        let deleted = client
            .execute(&statement, &[&row_key(id).as_slice(), &now])
            .await
            .map_err(query_error)?;
        Ok(deleted == 1)
    }

    async fn purge_expired(&self, now: SystemTime) -> Result<u64, StorageError> {
        let client = self.client().await?;
        purge_in_batches(&client, now).await
    }

    fn backend_name(&self) -> &'static str {
        "postgres"
    }
}

async fn purge_in_batches(client: &Client, now: SystemTime) -> Result<u64, StorageError> {
    let statement = client
        .prepare(
            "DELETE FROM secrets WHERE id_hash IN \
             (SELECT id_hash FROM secrets WHERE expires_at <= $1 LIMIT $2)",
        )
        .await
        .map_err(query_error)?;

    let mut purged = 0;
    loop {
        let deleted = client
            .execute(&statement, &[&now, &PURGE_BATCH])
            .await
            .map_err(query_error)?;
        purged += deleted;
        if deleted < PURGE_BATCH.unsigned_abs() {
            return Ok(purged);
        }
    }
}

fn pool_error(error: PoolError) -> StorageError {
    match error {
        PoolError::Backend(error) => query_error(error),
        PoolError::Timeout(kind) => StorageError::Unavailable(format!(
            "no database connection within the timeout ({kind:?})"
        )),
        other => StorageError::Unavailable(other.to_string()),
    }
}

/// Connection trouble is `Unavailable` (worth a retry); anything the server refused is not.
fn query_error(error: tokio_postgres::Error) -> StorageError {
    let Some(code) = error.code() else {
        return StorageError::Unavailable(error.to_string());
    };
    let class = &code.code()[..2];
    let transient = matches!(class, "08" | "53" | "57" | "40");
    if transient {
        StorageError::Unavailable(error.to_string())
    } else {
        StorageError::Database(error.to_string())
    }
}
