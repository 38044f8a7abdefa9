//! Builds and runs the gateway exactly as `main` does, so tests start the real thing: gRPC and
//! grpc-web for the API, health and reflection, and the page as the fallback, all on one port.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use sharer_core::process::BoxError;
use sharer_core::proto::PUBLIC_FILE_DESCRIPTOR_SET;
use sharer_core::proto::public::secret_service_server::SecretServiceServer;
use tokio::net::TcpListener;
use tonic::service::Routes;
use tonic_web::GrpcWebLayer;
use tower::ServiceBuilder;
use tower::limit::GlobalConcurrencyLimitLayer;
use tower::util::MapResponseLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::Config;
use crate::api::{MAX_CONTENT_LEN, SecretApi};
use crate::backends::{Backend, Backends};
use sharer_mtls::client::ClientTls;

/// Room for the largest content plus framing; larger messages are refused before decoding.
const MAX_MESSAGE_LEN: usize = MAX_CONTENT_LEN + 4 * 1024;

/// Builds the whole HTTP router of the gateway.
pub async fn router(config: &Config) -> Result<Router, BoxError> {
    let tls = match config.tls.common.files()? {
        Some(files) => Some(ClientTls::load(files).await?),
        None => None,
    };
    log_tls_mode(config, tls.is_some());
    let crypto = Backend {
        url: config.crypto_url.clone(),
        identity: config.tls.crypto_identity.clone(),
    };
    let storage = Backend {
        url: config.storage_url.clone(),
        identity: config.tls.storage_identity.clone(),
    };
    let backends =
        Backends::connect_lazy(&crypto, &storage, tls.as_ref(), config.backend_timeout())?;

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<SecretServiceServer<SecretApi>>()
        .await;
    let reflection_service = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(PUBLIC_FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let secret_service = SecretServiceServer::new(SecretApi::new(backends))
        .max_decoding_message_size(MAX_MESSAGE_LEN)
        .max_encoding_message_size(MAX_MESSAGE_LEN);

    let grpc = Routes::new(health_service)
        .add_service(reflection_service)
        .add_service(secret_service)
        .prepare()
        .into_axum_router()
        .route_layer(MapResponseLayer::new(crate::malformed::reclassify))
        .route_layer(GrpcWebLayer::new())
        .route_layer(GlobalConcurrencyLimitLayer::new(
            config.max_concurrent_calls,
        ));

    let trace = TraceLayer::new_for_http().make_span_with(|request: &http::Request<_>| {
        tracing::debug_span!("call", method = %request.method(), path = %request.uri().path())
    });
    Ok(grpc
        .fallback_service(crate::web::page_service(&config.web_dir))
        .layer(ServiceBuilder::new().layer(trace)))
}

fn log_tls_mode(config: &Config, mutual: bool) {
    if mutual {
        tracing::info!(
            tls_mode = "mutual",
            crypto_identity = %config.tls.crypto_identity,
            storage_identity = %config.tls.storage_identity,
            "calls to crypto and storage use mutual TLS 1.3"
        );
    } else {
        tracing::warn!(
            tls_mode = "mesh",
            "calls to crypto and storage are PLAINTEXT: the mesh proxy must provide mTLS"
        );
    }
}

/// Serves the gateway on `listener` until `shutdown` resolves, then drains calls in flight for
/// at most [`DRAIN_TIMEOUT`]. HTTP/1.1 request headers must arrive within
/// [`HEADER_READ_TIMEOUT`] and a whole call must finish within [`CALL_TIMEOUT`], so a stalled
/// client can hold neither a connection nor the shutdown.
pub async fn serve(
    listener: TcpListener,
    config: &Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), BoxError> {
    let router = router(config).await?.layer(TimeoutLayer::with_status_code(
        http::StatusCode::REQUEST_TIMEOUT,
        CALL_TIMEOUT,
    ));
    let service = TowerToHyperService::new(router);

    let mut connections = auto::Builder::new(TokioExecutor::new());
    connections
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    connections
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(30)));
    let graceful = GracefulShutdown::new();

    tracing::info!(
        address = %listener.local_addr()?,
        crypto = %config.crypto_url,
        storage = %config.storage_url,
        web_dir = %config.web_dir.display(),
        "gateway listening"
    );
    tokio::pin!(shutdown);
    loop {
        let (stream, _) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = connections
            .serve_connection_with_upgrades(TokioIo::new(stream), service.clone())
            .into_owned();
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "connection ended with an error");
            }
        });
    }

    drop(listener);
    if tokio::time::timeout(DRAIN_TIMEOUT, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            timeout_s = DRAIN_TIMEOUT.as_secs(),
            "calls still open at shutdown were cut"
        );
    }
    tracing::info!("gateway stopped");
    Ok(())
}

/// How long calls in flight may take to finish once shutdown starts.
pub const DRAIN_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a client may take to send HTTP/1.1 request headers.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one public call may take, from its first byte to its last.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
