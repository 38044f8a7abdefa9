//! `sharer-crypto`: parses configuration, loads the key-encryption key, serves until signalled.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser;
use sharer_core::process::BoxError;
use sharer_crypto::config::KekProvider;
use sharer_crypto::{AzureKeyVaultKek, Config, KeyEncryptionKey, LocalKek};

/// mimalloc: measurably fewer cycles per call than the system allocator under many small
/// allocations (protobuf, HTTP/2 frames).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> ExitCode {
    sharer_core::telemetry::init();
    let config = Config::parse();
    sharer_core::process::exit_code("crypto", run(config).await)
}

async fn run(config: Config) -> Result<(), BoxError> {
    let tls = sharer_mtls::server::ServerTls::from_args(&config.tls).await?;
    let kek: Arc<dyn KeyEncryptionKey> = match config.kek_provider {
        KekProvider::Local => {
            let path = config.local_kek_file.clone();
            let kek =
                tokio::task::spawn_blocking(move || LocalKek::load_or_create(&path)).await??;
            tracing::warn!(
                kek_id = kek.kek_id(),
                "using the local DEVELOPMENT key-encryption key"
            );
            Arc::new(kek)
        }
        KekProvider::AzureKeyVault => {
            let settings = config.key_vault.to_settings()?;
            if settings.skip_challenge_resource_check {
                tracing::warn!("key vault challenge resource check is OFF: test-only setting");
            }
            Arc::new(AzureKeyVaultKek::connect(settings).await?)
        }
    };

    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    sharer_crypto::server::serve(listener, kek, tls, sharer_core::shutdown::requested()).await
}
