//! The client side: a connector for tonic channels that presents this workload's certificate
//! and accepts the server only if its certificate proves the expected identity.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::Uri;
use hyper_util::rt::TokioIo;
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use crate::material::Material;
use crate::reloading::Reloading;
use crate::{TlsError, TlsFiles};

/// This workload's client-side TLS: its certificate and the CA bundle, re-read on change.
#[derive(Debug, Clone)]
pub struct ClientTls {
    config: Reloading<ClientConfig>,
}

impl ClientTls {
    pub async fn load(files: TlsFiles) -> Result<Self, TlsError> {
        Ok(Self {
            config: Reloading::start(files, client_config).await?,
        })
    }

    /// A connector that dials the URI's host and port and expects `server_identity`.
    pub fn connector(&self, server_identity: &str) -> Result<MtlsConnector, TlsError> {
        let server_identity = ServerName::try_from(server_identity.to_owned())
            .map_err(|_| TlsError::InvalidIdentity(server_identity.to_owned()))?;
        Ok(MtlsConnector {
            config: self.config.clone(),
            server_identity,
        })
    }
}

fn client_config(material: Material) -> Result<ClientConfig, TlsError> {
    let mut config = ClientConfig::builder_with_provider(crate::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(material.roots)
        .with_client_auth_cert(material.chain, material.key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Dials TCP, then TLS with the current configuration. A tower service, for
/// `Endpoint::connect_with_connector_lazy`.
#[derive(Debug, Clone)]
pub struct MtlsConnector {
    config: Reloading<ClientConfig>,
    server_identity: ServerName<'static>,
}

type Connecting = Pin<Box<dyn Future<Output = io::Result<TokioIo<TlsStream<TcpStream>>>> + Send>>;

impl tower::Service<Uri> for MtlsConnector {
    type Response = TokioIo<TlsStream<TcpStream>>;
    type Error = io::Error;
    type Future = Connecting;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = TlsConnector::from(Arc::clone(&self.config.current()));
        let server_identity = self.server_identity.clone();
        Box::pin(async move {
            let host = uri
                .host()
                .ok_or_else(|| io::Error::other("backend URL has no host"))?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let port = uri
                .port_u16()
                .ok_or_else(|| io::Error::other("backend URL has no port"))?;

            let tcp = TcpStream::connect((host, port)).await?;
            tcp.set_nodelay(true)?;
            let tls = connector.connect(server_identity, tcp).await?;
            Ok(TokioIo::new(tls))
        })
    }
}
