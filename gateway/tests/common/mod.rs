//! Starts the whole system as `make run` does, but in-process on port 0: a real crypto server, a
//! real storage server (SQLite or a fresh PostgreSQL schema) and a real gateway, over real
//! sockets on loopback, with mutual TLS between them (certificates from a throwaway CA) or in
//! mesh mode (plaintext).

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sharer_core::proto::public::secret_service_client::SecretServiceClient;
use sharer_crypto::LocalKek;
use sharer_gateway::Config;
use sharer_mtls::dev_certs::DevCa;
use sharer_mtls::identity::{CRYPTO_IDENTITY, GATEWAY_IDENTITY, STORAGE_IDENTITY};
use sharer_mtls::server::ServerTls;
use sharer_mtls::{ClientTlsArgs, TlsFiles, TlsMode};
use sharer_storage::SqliteStore;
use sharer_storage::testing::TestSchema;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Channel;

/// Which database the storage service keeps secrets in.
pub enum Database {
    Sqlite,
    Postgres,
}

/// One running server and the switch that stops it.
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Running {
    async fn stop(self) {
        let _ = self.stop.send(());
        let _ = self.task.await;
    }
}

/// The three services, running.
pub struct System {
    /// The CA that issued the services' certificates (mutual mode).
    pub ca: Option<DevCa>,
    pub gateway: SocketAddr,
    pub crypto: SocketAddr,
    pub storage: SocketAddr,
    pub schema: Option<TestSchema>,
    folder: tempfile::TempDir,
    crypto_server: Option<Running>,
    storage_server: Running,
    gateway_server: Running,
}

impl System {
    /// The system with mutual TLS between the services, as `make run` starts it.
    pub async fn start(database: Database) -> Self {
        Self::start_in(database, TlsMode::Mutual).await
    }

    pub async fn start_in(database: Database, tls_mode: TlsMode) -> Self {
        Self::start_with(database, tls_mode, "gateway").await
    }

    /// Like [`System::start_in`], with the gateway presenting `gateway_certificate`'s
    /// certificate (another workload's, to see a refusal).
    pub async fn start_with(
        database: Database,
        tls_mode: TlsMode,
        gateway_certificate: &str,
    ) -> Self {
        let folder = tempfile::tempdir().unwrap();
        let ca = (tls_mode == TlsMode::Mutual).then(|| write_certificates(folder.path()));
        std::fs::write(
            folder.path().join("index.html"),
            "<!doctype html><title>Secret Sharer</title>",
        )
        .unwrap();

        let crypto_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let crypto = crypto_listener.local_addr().unwrap();
        let crypto_server = start_crypto(crypto_listener, &folder).await;

        let storage_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let storage = storage_listener.local_addr().unwrap();
        let (storage_server, schema) = match database {
            Database::Sqlite => {
                let store = SqliteStore::open(&folder.path().join("secrets.sqlite3"))
                    .await
                    .unwrap();
                (
                    start_storage(
                        storage_listener,
                        store,
                        server_tls(&folder, "storage").await,
                    ),
                    None,
                )
            }
            Database::Postgres => {
                let schema = TestSchema::create().await;
                let store = schema.store(16).await.unwrap();
                let tls = server_tls(&folder, "storage").await;
                (start_storage(storage_listener, store, tls), Some(schema))
            }
        };

        let gateway_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let gateway = gateway_listener.local_addr().unwrap();
        let config = Config {
            listen: gateway,
            crypto_url: format!("http://{crypto}"),
            storage_url: format!("http://{storage}"),
            web_dir: folder.path().to_path_buf(),
            max_concurrent_calls: 256,
            backend_timeout_ms: 3000,
            tls: client_tls_args(folder.path(), tls_mode, gateway_certificate),
        };
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            sharer_gateway::server::serve(gateway_listener, &config, async {
                let _ = stopped.await;
            })
            .await
            .unwrap();
        });
        let gateway_server = Running { stop, task };

        Self {
            ca,
            gateway,
            crypto,
            storage,
            schema,
            folder,
            crypto_server: Some(crypto_server),
            storage_server,
            gateway_server,
        }
    }

    pub fn gateway_url(&self) -> String {
        format!("http://{}", self.gateway)
    }

    pub async fn client(&self) -> SecretServiceClient<Channel> {
        let channel = Channel::from_shared(self.gateway_url())
            .unwrap()
            .connect()
            .await
            .unwrap();
        SecretServiceClient::new(channel)
    }

    /// Stops crypto, as if it crashed or its pods were all gone.
    pub async fn stop_crypto(&mut self) {
        if let Some(server) = self.crypto_server.take() {
            server.stop().await;
        }
    }

    /// Starts crypto again on its old address with the same key.
    pub async fn restart_crypto(&mut self) {
        let listener = bind_again(self.crypto).await;
        self.crypto_server = Some(start_crypto(listener, &self.folder).await);
    }

    pub fn folder(&self) -> &std::path::Path {
        self.folder.path()
    }

    pub async fn stop(mut self) {
        self.stop_crypto().await;
        self.gateway_server.stop().await;
        self.storage_server.stop().await;
        if let Some(schema) = self.schema.take() {
            schema.drop_schema().await;
        }
    }
}

fn start_storage<S: sharer_storage::SecretStore>(
    listener: TcpListener,
    store: S,
    tls: ServerTls,
) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        sharer_storage::server::serve(
            listener,
            Arc::new(store),
            Duration::from_secs(60),
            tls,
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
    });
    Running { stop, task }
}

async fn start_crypto(listener: TcpListener, folder: &tempfile::TempDir) -> Running {
    let kek = Arc::new(LocalKek::load_or_create(&folder.path().join("kek.key")).unwrap());
    let tls = server_tls(folder, "crypto").await;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        sharer_crypto::server::serve(listener, kek, tls, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Running { stop, task }
}

async fn bind_again(address: SocketAddr) -> TcpListener {
    for _ in 0..50 {
        if let Ok(listener) = TcpListener::bind(address).await {
            return listener;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("cannot bind {address} again");
}

/// The files of one workload in `folder/tls`, written by [`write_certificates`].
pub fn tls_files(folder: &std::path::Path, workload: &str) -> TlsFiles {
    let tls = folder.join("tls");
    TlsFiles {
        certificate: tls.join(format!("{workload}.pem")),
        key: tls.join(format!("{workload}.key")),
        ca: tls.join("ca.pem"),
    }
}

/// A throwaway CA and one certificate per workload, in `folder/tls`.
pub fn write_certificates(folder: &std::path::Path) -> DevCa {
    let tls = folder.join("tls");
    std::fs::create_dir_all(&tls).unwrap();
    let ca = DevCa::new("test").unwrap();
    sharer_mtls::dev_certs::write_atomically(&tls.join("ca.pem"), ca.certificate_pem().as_bytes())
        .unwrap();
    for (workload, identity) in [
        ("gateway", GATEWAY_IDENTITY),
        ("crypto", CRYPTO_IDENTITY),
        ("storage", STORAGE_IDENTITY),
    ] {
        ca.issue(identity).unwrap().write(&tls, workload).unwrap();
    }
    ca
}

/// Mutual TLS admitting only the gateway when certificates exist, else mesh mode.
async fn server_tls(folder: &tempfile::TempDir, workload: &str) -> ServerTls {
    let files = tls_files(folder.path(), workload);
    if !files.certificate.exists() {
        return ServerTls::MESH;
    }
    ServerTls::mutual(files, vec![GATEWAY_IDENTITY.to_owned()])
        .await
        .unwrap()
}

fn client_tls_args(folder: &std::path::Path, mode: TlsMode, workload: &str) -> ClientTlsArgs {
    let files = tls_files(folder, workload);
    ClientTlsArgs {
        common: sharer_mtls::config::CommonTlsArgs {
            mode,
            certificate_file: Some(files.certificate),
            key_file: Some(files.key),
            ca_file: Some(files.ca),
        },
        crypto_identity: CRYPTO_IDENTITY.to_owned(),
        storage_identity: STORAGE_IDENTITY.to_owned(),
    }
}

/// A CA unrelated to the system's, for tests of refusals.
pub fn foreign_ca() -> DevCa {
    DevCa::new("foreign").unwrap()
}
