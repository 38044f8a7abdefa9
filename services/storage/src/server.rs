//! Builds and runs the storage gRPC server exactly as `main` does, so tests start the real thing.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sharer_core::process::BoxError;
use sharer_core::proto::STORAGE_FILE_DESCRIPTOR_SET;
use sharer_core::proto::storage::storage_service_server::StorageServiceServer;
use sharer_mtls::server::{ServerTls, incoming};
use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::service::{MAX_SEALED_SECRET_LEN, StorageApi};
use crate::store::SecretStore;

const MAX_MESSAGE_LEN: usize = MAX_SEALED_SECRET_LEN + 4 * 1024;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the storage API, health and reflection on `listener` and sweeps expired secrets every
/// `purge_interval`, until `shutdown` resolves; then drains calls in flight.
pub async fn serve<S: SecretStore>(
    listener: TcpListener,
    store: Arc<S>,
    purge_interval: Duration,
    tls: ServerTls,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), BoxError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<StorageServiceServer<StorageApi<S>>>()
        .await;
    let reflection_service = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(STORAGE_FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let storage_service = StorageServiceServer::new(StorageApi::new(Arc::clone(&store)))
        .max_decoding_message_size(MAX_MESSAGE_LEN)
        .max_encoding_message_size(MAX_MESSAGE_LEN);
    let purger = tokio::spawn(purge_expired_forever(store, purge_interval));

    tracing::info!(address = %listener.local_addr()?, "storage service listening");
    tls.log_mode("storage");
    let served = Server::builder()
        .timeout(CALL_TIMEOUT)
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(reflection_service)
        .add_service(storage_service)
        .serve_with_incoming_shutdown(incoming(listener, tls), shutdown)
        .await;

    purger.abort();
    tracing::info!("storage service stopped");
    Ok(served?)
}

async fn purge_expired_forever<S: SecretStore>(store: Arc<S>, interval: Duration) {
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match store.purge_expired(SystemTime::now()).await {
            Ok(0) => {}
            Ok(purged) => tracing::info!(
                purged,
                backend = store.backend_name(),
                "purged expired secrets"
            ),
            Err(error) => tracing::warn!(%error, "purging expired secrets failed"),
        }
    }
}
