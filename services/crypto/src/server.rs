//! Builds and runs the crypto gRPC server exactly as `main` does, so tests start the real thing.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use sharer_core::process::BoxError;
use sharer_core::proto::CRYPTO_FILE_DESCRIPTOR_SET;
use sharer_core::proto::crypto::crypto_service_server::CryptoServiceServer;
use sharer_mtls::server::{ServerTls, incoming};
use tokio::net::TcpListener;
use tonic::transport::Server;

use crate::KeyEncryptionKey;
use crate::envelope::MAX_PLAINTEXT_LEN;
use crate::service::CryptoApi;

/// Room for the largest content plus the envelope around it.
const MAX_MESSAGE_LEN: usize = MAX_PLAINTEXT_LEN + 16 * 1024;
const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves the crypto API, health and reflection on `listener`, with mutual TLS or behind a mesh
/// as `tls` says, until `shutdown` resolves; then drains calls in flight.
pub async fn serve(
    listener: TcpListener,
    kek: Arc<dyn KeyEncryptionKey>,
    tls: ServerTls,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), BoxError> {
    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<CryptoServiceServer<CryptoApi>>()
        .await;
    let reflection_service = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(CRYPTO_FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;

    let crypto_service = CryptoServiceServer::new(CryptoApi::new(kek))
        .max_decoding_message_size(MAX_MESSAGE_LEN)
        .max_encoding_message_size(MAX_MESSAGE_LEN);

    tracing::info!(address = %listener.local_addr()?, "crypto service listening");
    tls.log_mode("crypto");
    Server::builder()
        .timeout(CALL_TIMEOUT)
        .tcp_nodelay(true)
        .add_service(health_service)
        .add_service(reflection_service)
        .add_service(crypto_service)
        .serve_with_incoming_shutdown(incoming(listener, tls), shutdown)
        .await?;
    tracing::info!("crypto service stopped");
    Ok(())
}
