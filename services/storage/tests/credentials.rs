//! Storage against a PostgreSQL that demands TLS and a password, as a managed one does: the
//! password comes from a file that is re-read for each new connection (a rotated Key Vault CSI
//! mount), and TLS verifies the server against the CA file. `make test` starts such a server
//! (scripts/start-postgres-tls.sh) and names it in SHARER_TEST_TLS_DATABASE_*.

use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use sharer_core::SecretId;
use sharer_storage::postgres::PostgresOptions;
use sharer_storage::{NewSecret, PostgresStore, SecretStore};

struct TlsServer {
    url: String,
    password_file: PathBuf,
    ca_file: PathBuf,
}

/// The server `make test` started, or `None` (with a note) when run outside it.
fn tls_server() -> Option<TlsServer> {
    let variable = |name: &str| std::env::var(name).ok();
    match (
        variable("SHARER_TEST_TLS_DATABASE_URL"),
        variable("SHARER_TEST_TLS_DATABASE_PASSWORD_FILE"),
        variable("SHARER_TEST_TLS_DATABASE_CA_FILE"),
    ) {
        (Some(url), Some(password_file), Some(ca_file)) => Some(TlsServer {
            url,
            password_file: password_file.into(),
            ca_file: ca_file.into(),
        }),
        _ => {
            eprintln!("not run: SHARER_TEST_TLS_DATABASE_* unset (`make test` sets them)");
            None
        }
    }
}

fn options(
    server: &TlsServer,
    password_file: PathBuf,
    ca_file: Option<PathBuf>,
) -> PostgresOptions {
    PostgresOptions {
        url: server.url.clone(),
        password_file: Some(password_file),
        ca_file,
        pool_size: 1,
        connect_timeout: Duration::from_secs(5),
    }
}

async fn round_trip(store: &PostgresStore) {
    let id = SecretId::generate().expect("id");
    let secret = NewSecret {
        id: id.clone(),
        sealed_secret: b"sealed".to_vec(),
        expires_at: SystemTime::now() + Duration::from_secs(60),
    };
    store.put(secret).await.expect("put");
    assert!(
        store
            .consume(&id, SystemTime::now())
            .await
            .expect("consume")
    );
}

#[tokio::test]
async fn a_rotated_password_file_is_used_by_new_connections() {
    let Some(server) = tls_server() else { return };
    let folder = tempfile::tempdir().expect("tempdir");
    let password_file = folder.path().join("password");
    std::fs::copy(&server.password_file, &password_file).expect("copy password");
    let store = PostgresStore::connect(&options(
        &server,
        password_file.clone(),
        Some(server.ca_file.clone()),
    ))
    .await
    .expect("connects with the password from the file, over verified TLS");
    round_trip(&store).await;

    // Rotate: the server gets a new password, the mounted file follows, old sessions end.
    let rotated = format!("rotated-{}", SecretId::generate().expect("random"));
    let admin_url = format!(
        "{}&password={}",
        server.url,
        std::fs::read_to_string(&server.password_file)
            .expect("password")
            .trim()
    );
    let admin = PostgresStore::connect(&PostgresOptions {
        url: admin_url,
        password_file: None,
        ca_file: Some(server.ca_file.clone()),
        pool_size: 1,
        connect_timeout: Duration::from_secs(5),
    })
    .await
    .expect("admin");
    admin
        .execute_for_tests(&format!(
            "ALTER ROLE postgres PASSWORD '{rotated}'; \
             SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE application_name = 'sharer-storage' AND pid <> pg_backend_pid()"
        ))
        .await
        .expect("rotate");
    std::fs::write(&password_file, format!("{rotated}\n")).expect("write rotated password");

    let mut rotated_round_trip = false;
    for _ in 0..20 {
        let id = SecretId::generate().expect("id");
        if store.fetch(&id, SystemTime::now()).await.is_ok() {
            rotated_round_trip = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        rotated_round_trip,
        "no new connection with the rotated password"
    );
    round_trip(&store).await;

    admin
        .execute_for_tests(&format!(
            "ALTER ROLE postgres PASSWORD '{}'",
            std::fs::read_to_string(&server.password_file)
                .expect("password")
                .trim()
        ))
        .await
        .expect("restore the password");
}

#[tokio::test]
async fn tls_refuses_a_server_the_ca_file_does_not_vouch_for() {
    let Some(server) = tls_server() else { return };
    let folder = tempfile::tempdir().expect("tempdir");
    let other_ca = folder.path().join("other-ca.pem");
    std::fs::write(
        &other_ca,
        sharer_mtls::dev_certs::DevCa::new("other")
            .expect("ca")
            .certificate_pem(),
    )
    .expect("write");

    let refused = PostgresStore::connect(&options(
        &server,
        server.password_file.clone(),
        Some(other_ca),
    ))
    .await;
    assert!(
        refused.is_err(),
        "connected to a server signed by another CA"
    );
}
