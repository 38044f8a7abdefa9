//! The storage contract, run against every backend: SQLite in a fresh file and PostgreSQL in a
//! fresh schema. Each backend must behave the same.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sharer_core::SecretId;
use sharer_storage::testing::TestSchema;
use sharer_storage::{NewSecret, SecretStore, SqliteStore, StorageError};

const HOUR: Duration = Duration::from_secs(3600);

fn new_secret(sealed_secret: &[u8], expires_in: Duration) -> NewSecret {
    NewSecret {
        id: SecretId::generate().expect("id"),
        sealed_secret: sealed_secret.to_vec(),
        expires_at: SystemTime::now() + expires_in,
    }
}

async fn put_then_fetch_returns_the_exact_bytes_without_consuming(store: impl SecretStore) {
    let sealed: Vec<u8> = (0..=255).collect();
    let secret = new_secret(&sealed, HOUR);
    let id = secret.id.clone();
    store.put(secret).await.expect("put");

    for _ in 0..3 {
        let fetched = store.fetch(&id, SystemTime::now()).await.expect("fetch");
        assert_eq!(fetched.as_deref(), Some(sealed.as_slice()));
    }
}

async fn consume_succeeds_once_then_the_secret_is_gone(store: impl SecretStore) {
    let secret = new_secret(b"sealed", HOUR);
    let id = secret.id.clone();
    store.put(secret).await.expect("put");

    assert!(
        store
            .consume(&id, SystemTime::now())
            .await
            .expect("first consume")
    );
    assert!(
        !store
            .consume(&id, SystemTime::now())
            .await
            .expect("second consume")
    );
    assert_eq!(
        store.fetch(&id, SystemTime::now()).await.expect("fetch"),
        None
    );
}

async fn concurrent_consumes_have_exactly_one_winner(store: impl SecretStore) {
    let store = Arc::new(store);
    for _round in 0..5 {
        let secret = new_secret(b"sealed", HOUR);
        let id = secret.id.clone();
        store.put(secret).await.expect("put");

        let consumers = (0..32).map(|_| {
            let store = Arc::clone(&store);
            let id = id.clone();
            tokio::spawn(async move { store.consume(&id, SystemTime::now()).await })
        });
        let outcomes = futures::future::join_all(consumers).await;

        let winners = outcomes
            .into_iter()
            .map(|outcome| outcome.expect("task").expect("consume"))
            .filter(|consumed| *consumed)
            .count();
        assert_eq!(winners, 1);
    }
}

async fn a_second_put_under_the_same_id_is_refused_and_keeps_the_first(store: impl SecretStore) {
    let first = new_secret(b"first", HOUR);
    let id = first.id.clone();
    store.put(first).await.expect("put");

    let second = NewSecret {
        id: id.clone(),
        sealed_secret: b"second".to_vec(),
        expires_at: SystemTime::now() + HOUR,
    };
    let error = store.put(second).await.expect_err("duplicate");
    assert!(matches!(error, StorageError::AlreadyExists), "{error:?}");
    let kept = store.fetch(&id, SystemTime::now()).await.expect("fetch");
    assert_eq!(kept.as_deref(), Some(b"first".as_slice()));
}

async fn expired_secrets_are_never_returned_nor_consumed(store: impl SecretStore) {
    let secret = new_secret(b"sealed", HOUR);
    let id = secret.id.clone();
    store.put(secret).await.expect("put");
    let after_expiry = SystemTime::now() + HOUR + Duration::from_secs(1);

    assert_eq!(store.fetch(&id, after_expiry).await.expect("fetch"), None);
    assert!(!store.consume(&id, after_expiry).await.expect("consume"));
    assert!(
        store
            .fetch(&id, SystemTime::now())
            .await
            .expect("fetch")
            .is_some()
    );
}

async fn purge_removes_expired_secrets_only(store: impl SecretStore) {
    let short = new_secret(b"short", Duration::from_secs(60));
    let long = new_secret(b"long", HOUR);
    let (short_id, long_id) = (short.id.clone(), long.id.clone());
    store.put(short).await.expect("put short");
    store.put(long).await.expect("put long");

    let later = SystemTime::now() + Duration::from_secs(120);
    let purged = store.purge_expired(later).await.expect("purge");

    assert!(purged >= 1);
    assert_eq!(
        store
            .fetch(&short_id, SystemTime::now())
            .await
            .expect("fetch"),
        None
    );
    assert!(
        store
            .fetch(&long_id, SystemTime::now())
            .await
            .expect("fetch")
            .is_some()
    );
}

async fn unknown_ids_are_absent(store: impl SecretStore) {
    let id = SecretId::generate().expect("id");
    assert_eq!(
        store.fetch(&id, SystemTime::now()).await.expect("fetch"),
        None
    );
    assert!(
        !store
            .consume(&id, SystemTime::now())
            .await
            .expect("consume")
    );
}

/// Runs each contract check against a fresh store of one backend.
macro_rules! contract_suite {
    ($backend:ident, $with_store:path) => {
        mod $backend {
            use super::*;

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn put_then_fetch() {
                $with_store(put_then_fetch_returns_the_exact_bytes_without_consuming).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn consume_once() {
                $with_store(consume_succeeds_once_then_the_secret_is_gone).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn concurrent_consume() {
                $with_store(concurrent_consumes_have_exactly_one_winner).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn duplicate_put() {
                $with_store(a_second_put_under_the_same_id_is_refused_and_keeps_the_first).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn expiry() {
                $with_store(expired_secrets_are_never_returned_nor_consumed).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn purge() {
                $with_store(purge_removes_expired_secrets_only).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn unknown_ids() {
                $with_store(unknown_ids_are_absent).await;
            }
        }
    };
}

async fn with_sqlite<F, Fut>(check: F)
where
    F: FnOnce(SqliteStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let folder = tempfile::tempdir().expect("tempdir");
    let store = SqliteStore::open(&folder.path().join("secrets.sqlite3"))
        .await
        .expect("open");
    check(store).await;
}

async fn with_postgres<F, Fut>(check: F)
where
    F: FnOnce(sharer_storage::PostgresStore) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let schema = TestSchema::create().await;
    let store = schema.store(16).await.expect("connect");
    check(store).await;
    schema.drop_schema().await;
}

contract_suite!(sqlite, with_sqlite);
contract_suite!(postgres, with_postgres);
