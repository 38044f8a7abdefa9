//! Starts the whole system as `make run` does, but in-process on port 0: a real crypto server, a
//! real storage server (SQLite or a fresh PostgreSQL schema) and a real gateway, over real
//! sockets on loopback.

#![allow(dead_code, clippy::unwrap_used)]

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use sharer_core::proto::public::secret_service_client::SecretServiceClient;
use sharer_crypto::LocalKek;
use sharer_gateway::Config;
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
    pub async fn start(database: Database) -> Self {
        let folder = tempfile::tempdir().unwrap();
        std::fs::write(
            folder.path().join("index.html"),
            "<!doctype html><title>Secret Sharer</title>",
        )
        .unwrap();

        let crypto_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let crypto = crypto_listener.local_addr().unwrap();
        let crypto_server = start_crypto(crypto_listener, &folder);

        let storage_listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let storage = storage_listener.local_addr().unwrap();
        let (storage_server, schema) = match database {
            Database::Sqlite => {
                let store = SqliteStore::open(&folder.path().join("secrets.sqlite3"))
                    .await
                    .unwrap();
                (start_storage(storage_listener, store), None)
            }
            Database::Postgres => {
                let schema = TestSchema::create().await;
                let store = schema.store(16).await.unwrap();
                (start_storage(storage_listener, store), Some(schema))
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
        self.crypto_server = Some(start_crypto(listener, &self.folder));
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

fn start_storage<S: sharer_storage::SecretStore>(listener: TcpListener, store: S) -> Running {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        sharer_storage::server::serve(listener, Arc::new(store), Duration::from_secs(60), async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Running { stop, task }
}

fn start_crypto(listener: TcpListener, folder: &tempfile::TempDir) -> Running {
    let kek = Arc::new(LocalKek::load_or_create(&folder.path().join("kek.key")).unwrap());
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        sharer_crypto::server::serve(listener, kek, async {
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
