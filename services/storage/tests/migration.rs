//! Stores made by an earlier version, which keyed rows by the id itself, are re-keyed by the
//! hash of the id at start, and their secrets stay revealable.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sharer_core::SecretId;
use sharer_storage::testing::TestSchema;
use sharer_storage::{SecretStore, SqliteStore};

#[tokio::test]
async fn postgres_rows_keyed_by_id_are_rekeyed_and_stay_revealable() {
    let schema = TestSchema::create().await;
    let id = SecretId::generate().expect("id");
    schema
        .admin()
        .batch_execute(&format!(
            "SET search_path = {name};
             CREATE TABLE sharer_schema_version (version integer NOT NULL);
             INSERT INTO sharer_schema_version VALUES (1);
             CREATE TABLE secrets (id text PRIMARY KEY, sealed_secret bytea NOT NULL,
                 created_at timestamptz NOT NULL DEFAULT now(), expires_at timestamptz NOT NULL);
             CREATE INDEX secrets_expires_at_idx ON secrets (expires_at);
             INSERT INTO secrets (id, sealed_secret, expires_at)
                 VALUES ('{id}', 'sealed', now() + interval '1 hour');
             RESET search_path;",
            name = schema.name,
            id = id.as_str()
        ))
        .await
        .expect("old layout");

    let store = schema.store(2).await.expect("migrates");

    let fetched = store.fetch(&id, SystemTime::now()).await.expect("fetch");
    assert_eq!(fetched.as_deref(), Some(b"sealed".as_slice()));
    let columns = schema
        .admin()
        .query(
            "SELECT column_name::text FROM information_schema.columns \
             WHERE table_schema = $1 AND table_name = 'secrets'",
            &[&schema.name],
        )
        .await
        .expect("columns");
    let columns: Vec<String> = columns.iter().map(|row| row.get(0)).collect();
    assert!(!columns.contains(&"id".to_owned()), "{columns:?}");
    assert!(
        store
            .consume(&id, SystemTime::now())
            .await
            .expect("consume")
    );
    schema.drop_schema().await;
}

#[tokio::test]
async fn sqlite_rows_keyed_by_id_are_rekeyed_and_stay_revealable() {
    let folder = tempfile::tempdir().expect("tempdir");
    let path = folder.path().join("secrets.sqlite3");
    let id = SecretId::generate().expect("id");
    let expires_at = (SystemTime::now() + Duration::from_secs(3600))
        .duration_since(UNIX_EPOCH)
        .expect("after epoch")
        .as_millis() as i64;
    {
        let old = rusqlite::Connection::open(&path).expect("open");
        old.execute_batch(
            "CREATE TABLE secrets (id TEXT PRIMARY KEY, sealed_secret BLOB NOT NULL,
                 created_at_ms INTEGER NOT NULL, expires_at_ms INTEGER NOT NULL) STRICT;",
        )
        .expect("old layout");
        old.execute(
            "INSERT INTO secrets VALUES (?1, ?2, 0, ?3)",
            rusqlite::params![id.as_str(), b"sealed".as_slice(), expires_at],
        )
        .expect("old row");
    }

    let store = SqliteStore::open(&path).await.expect("migrates");

    let fetched = store.fetch(&id, SystemTime::now()).await.expect("fetch");
    assert_eq!(fetched.as_deref(), Some(b"sealed".as_slice()));
    drop(store);
    let check = rusqlite::Connection::open(&path).expect("reopen");
    let old_tables: i64 = check
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE name = 'secrets'",
            [],
            |row| row.get(0),
        )
        .expect("query");
    assert_eq!(old_tables, 0, "the table keyed by id is gone");
}
