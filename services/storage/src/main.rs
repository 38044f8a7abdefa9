//! `sharer-storage`: parses configuration, opens the database, serves until signalled.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use sharer_core::process::BoxError;
use sharer_storage::postgres::PostgresOptions;
use sharer_storage::{Config, PostgresStore, SecretStore, SqliteStore};

/// mimalloc: measurably fewer cycles per call than the system allocator under many small
/// allocations (protobuf, HTTP/2 frames).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    sharer_core::telemetry::init();
    let config = Config::parse();
    sharer_core::process::exit_code("storage", run(config).await)
}

async fn run(config: Config) -> Result<(), BoxError> {
    let tls = sharer_mtls::server::ServerTls::from_args(&config.tls).await?;
    let listener = tokio::net::TcpListener::bind(config.listen).await?;

    match &config.database_url {
        Some(url) => {
            let options = PostgresOptions {
                url: url.clone(),
                password_file: config.database_password_file.clone(),
                ca_file: config.database_ca_file.clone(),
                pool_size: config.database_pool_size,
                connect_timeout: Duration::from_secs(5),
            };
            let store = PostgresStore::connect(&options).await?;
            serve(listener, store, tls, &config).await
        }
        None => {
            let store = SqliteStore::open(&config.sqlite_path).await?;
            tracing::info!(path = %config.sqlite_path.display(), "using the embedded SQLite store");
            serve(listener, store, tls, &config).await
        }
    }
}

async fn serve<S: SecretStore>(
    listener: tokio::net::TcpListener,
    store: S,
    tls: sharer_mtls::server::ServerTls,
    config: &Config,
) -> Result<(), BoxError> {
    tracing::info!(backend = store.backend_name(), "database ready");
    sharer_storage::server::serve(
        listener,
        Arc::new(store),
        config.purge_interval(),
        tls,
        sharer_core::shutdown::requested(),
    )
    .await
}
