//! Mutual TLS between the services, against real listeners on loopback: who is admitted, who is
//! refused, certificate rotation on disk, and mesh mode.

#![allow(clippy::unwrap_used)]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use common::{Database, System, tls_files};
use hyper_util::rt::TokioIo;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use sharer_core::proto::public::CreateSecretRequest;
use sharer_mtls::TlsMode;
use sharer_mtls::client::ClientTls;
use sharer_mtls::identity::{CRYPTO_IDENTITY, GATEWAY_IDENTITY, STORAGE_IDENTITY};
use tokio::net::TcpStream;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

/// A health check over `channel`: any answer at all counts as "reached".
async fn health(channel: Channel) -> Result<i32, tonic::Status> {
    let request = HealthCheckRequest {
        service: String::new(),
    };
    Ok(HealthClient::new(channel)
        .check(request)
        .await?
        .into_inner()
        .status)
}

/// A channel to `address` presenting the certificate in `files`, expecting `server_identity`.
async fn mtls_channel(
    address: SocketAddr,
    files: sharer_mtls::TlsFiles,
    server_identity: &str,
) -> Channel {
    let tls = ClientTls::load(files).await.unwrap();
    Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_with_connector_lazy(tls.connector(server_identity).unwrap())
}

/// A channel that trusts the system's CA but presents no client certificate.
fn channel_without_client_certificate(
    address: SocketAddr,
    ca_pem: &[u8],
    server_identity: &'static str,
) -> Channel {
    let mut roots = rustls::RootCertStore::empty();
    for certificate in CertificateDer::pem_slice_iter(ca_pem) {
        roots.add(certificate.unwrap()).unwrap();
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));

    Endpoint::from_shared(format!("http://{address}"))
        .unwrap()
        .connect_with_connector_lazy(tower::service_fn(move |_uri| {
            let connector = connector.clone();
            async move {
                let tcp = TcpStream::connect(address).await?;
                let name = ServerName::try_from(server_identity).unwrap();
                Ok::<_, std::io::Error>(TokioIo::new(connector.connect(name, tcp).await?))
            }
        }))
}

/// The peer got no answer from the service: the connection failed before any gRPC reply.
fn assert_refused(outcome: Result<i32, tonic::Status>, what: &str) {
    let status = outcome.expect_err(what);
    let transport_failure = std::error::Error::source(&status).is_some()
        || matches!(
            status.code(),
            Code::Unavailable | Code::Unknown | Code::Cancelled
        );
    assert!(transport_failure, "{what}: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_certificate_is_admitted_by_crypto_and_storage() {
    let system = System::start(Database::Sqlite).await;
    let folder = system.folder();

    let crypto = mtls_channel(system.crypto, tls_files(folder, "gateway"), CRYPTO_IDENTITY).await;
    let storage = mtls_channel(
        system.storage,
        tls_files(folder, "gateway"),
        STORAGE_IDENTITY,
    )
    .await;

    assert_eq!(health(crypto).await.unwrap(), 1);
    assert_eq!(health(storage).await.unwrap(), 1);
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_client_without_a_certificate_gets_no_answer() {
    let system = System::start(Database::Sqlite).await;
    let ca_pem = std::fs::read(tls_files(system.folder(), "gateway").ca).unwrap();

    for (address, identity) in [
        (system.crypto, CRYPTO_IDENTITY),
        (system.storage, STORAGE_IDENTITY),
    ] {
        let channel = channel_without_client_certificate(address, &ca_pem, identity);
        assert_refused(health(channel).await, "no client certificate");
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_plaintext_client_gets_no_answer() {
    let system = System::start(Database::Sqlite).await;

    for address in [system.crypto, system.storage] {
        let channel = Endpoint::from_shared(format!("http://{address}"))
            .unwrap()
            .connect_lazy();
        assert_refused(health(channel).await, "plaintext client");
    }
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_certificate_from_another_ca_is_refused() {
    let system = System::start(Database::Sqlite).await;
    let folder = system.folder();
    let foreign = common::foreign_ca();
    foreign
        .issue(GATEWAY_IDENTITY)
        .unwrap()
        .write(&folder.join("tls"), "impostor")
        .unwrap();

    let files = sharer_mtls::TlsFiles {
        ca: tls_files(folder, "gateway").ca,
        ..tls_files(folder, "impostor")
    };
    let channel = mtls_channel(system.crypto, files, CRYPTO_IDENTITY).await;
    assert_refused(health(channel).await, "certificate from another CA");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_expired_certificate_is_refused() {
    let system = System::start(Database::Sqlite).await;
    let folder = system.folder();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let expired = system
        .ca
        .as_ref()
        .unwrap()
        .issue_valid(GATEWAY_IDENTITY, now - 7200, now - 3600)
        .unwrap();
    expired.write(&folder.join("tls"), "expired").unwrap();

    let files = sharer_mtls::TlsFiles {
        ca: tls_files(folder, "gateway").ca,
        ..tls_files(folder, "expired")
    };
    let channel = mtls_channel(system.crypto, files, CRYPTO_IDENTITY).await;
    assert_refused(health(channel).await, "expired certificate");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_valid_certificate_with_another_identity_is_refused() {
    let system = System::start(Database::Sqlite).await;
    let folder = system.folder();

    let storage_calling_crypto =
        mtls_channel(system.crypto, tls_files(folder, "storage"), CRYPTO_IDENTITY).await;
    assert_refused(
        health(storage_calling_crypto).await,
        "storage calling crypto",
    );
    let crypto_calling_storage = mtls_channel(
        system.storage,
        tls_files(folder, "crypto"),
        STORAGE_IDENTITY,
    )
    .await;
    assert_refused(
        health(crypto_calling_storage).await,
        "crypto calling storage",
    );
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_gateway_turns_a_refusal_into_unavailable() {
    let system = System::start_with(Database::Sqlite, TlsMode::Mutual, "storage").await;
    let mut client = system.client().await;

    let status = client
        .create_secret(CreateSecretRequest {
            content: b"x".to_vec(),
            ttl: None,
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable, "{status:?}");
    system.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_server_certificate_replaced_on_disk_is_used_without_dropping_calls() {
    let system = System::start(Database::Sqlite).await;
    let folder = system.folder().to_path_buf();
    let client = system.client().await;

    let failures = Arc::new(AtomicUsize::new(0));
    let calls = Arc::new(AtomicUsize::new(0));
    let caller = {
        let (failures, calls, mut client) =
            (Arc::clone(&failures), Arc::clone(&calls), client.clone());
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(4);
            while tokio::time::Instant::now() < deadline {
                let request = CreateSecretRequest {
                    content: b"during rotation".to_vec(),
                    ttl: None,
                };
                if client.create_secret(request).await.is_err() {
                    failures.fetch_add(1, Ordering::Relaxed);
                }
                calls.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };

    tokio::time::sleep(Duration::from_millis(500)).await;
    let renewed = system.ca.as_ref().unwrap().issue(CRYPTO_IDENTITY).unwrap();
    renewed.write(&folder.join("tls"), "crypto").unwrap();
    let renewed_der = renewed.certificate_der();

    let mut presented = None;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let certificate = presented_certificate(system.crypto, &folder).await;
        if certificate == renewed_der {
            presented = Some(certificate);
            break;
        }
    }
    caller.await.unwrap();

    assert!(
        presented.is_some(),
        "new handshakes never presented the renewed certificate"
    );
    assert!(calls.load(Ordering::Relaxed) > 50);
    assert_eq!(
        failures.load(Ordering::Relaxed),
        0,
        "calls failed during rotation"
    );
    drop(client);
    system.stop().await;
}

/// The certificate crypto presents to a fresh handshake by the gateway.
async fn presented_certificate(
    address: SocketAddr,
    folder: &std::path::Path,
) -> CertificateDer<'static> {
    let files = tls_files(folder, "gateway");
    let ca = std::fs::read(&files.ca).unwrap();
    let chain = std::fs::read(&files.certificate).unwrap();
    let key = std::fs::read(&files.key).unwrap();

    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(&ca).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_client_auth_cert(
            vec![CertificateDer::from_pem_slice(&chain).unwrap()],
            rustls::pki_types::PrivateKeyDer::from_pem_slice(&key).unwrap(),
        )
        .unwrap();
    let tcp = TcpStream::connect(address).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(ServerName::try_from(CRYPTO_IDENTITY).unwrap(), tcp)
        .await
        .unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0]
        .clone()
        .into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mesh_mode_speaks_plaintext_end_to_end() {
    let system = System::start_in(Database::Sqlite, TlsMode::Mesh).await;
    let mut client = system.client().await;

    let created = client
        .create_secret(CreateSecretRequest {
            content: b"meshed".to_vec(),
            ttl: None,
        })
        .await
        .unwrap()
        .into_inner();
    let revealed = client
        .reveal_secret(sharer_core::proto::public::RevealSecretRequest { id: created.id })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(revealed.content, b"meshed");

    let plaintext = Endpoint::from_shared(format!("http://{}", system.crypto))
        .unwrap()
        .connect_lazy();
    assert_eq!(health(plaintext).await.unwrap(), 1);
    system.stop().await;
}
