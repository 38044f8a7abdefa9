//! The server side: a listener that completes TLS handshakes off the accept loop, admits only
//! allowed client identities, and hands tonic plain or TLS connections alike.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, UnixTime};
use rustls::server::WebPkiClientVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, ServerConfig, SignatureScheme,
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::{Connected, TcpConnectInfo};

use crate::material::Material;
use crate::reloading::Reloading;
use crate::{ServerTlsArgs, TlsError, identity};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How a server secures its listener: mutual TLS with an allow-list of client identities, or
/// plaintext behind a mesh proxy.
#[derive(Debug, Clone)]
pub struct ServerTls(Mode);

#[derive(Debug, Clone)]
enum Mode {
    Mutual {
        config: Reloading<ServerConfig>,
        allowed_clients: Arc<[String]>,
    },
    Mesh,
}

impl ServerTls {
    /// Plaintext: only for use behind a mesh proxy that does mTLS.
    pub const MESH: Self = Self(Mode::Mesh);

    /// Loads the files named by `args` (mutual mode) and starts watching them.
    pub async fn from_args(args: &ServerTlsArgs) -> Result<Self, TlsError> {
        match args.common.files()? {
            None => Ok(Self::MESH),
            Some(files) => Self::mutual(files, args.allowed_clients.clone()).await,
        }
    }

    pub async fn mutual(
        files: crate::TlsFiles,
        allowed_clients: Vec<String>,
    ) -> Result<Self, TlsError> {
        let allowed_clients: Arc<[String]> = allowed_clients.into();
        let allowed = Arc::clone(&allowed_clients);
        let config = Reloading::start(files, move |material| {
            server_config(material, Arc::clone(&allowed))
        })
        .await?;
        Ok(Self(Mode::Mutual {
            config,
            allowed_clients,
        }))
    }

    /// Logs, once at start, the mode and whom the server admits.
    pub fn log_mode(&self, service: &'static str) {
        match &self.0 {
            Mode::Mutual {
                allowed_clients, ..
            } => tracing::info!(
                service,
                tls_mode = "mutual",
                allowed_clients = ?allowed_clients,
                "serving mutual TLS 1.3; only the allowed client identities are admitted"
            ),
            Mode::Mesh => tracing::warn!(
                service,
                tls_mode = "mesh",
                "serving PLAINTEXT: the mesh proxy must terminate mTLS and authorize callers"
            ),
        }
    }
}

/// Accepts connections on `listener` until tonic drops the stream. TLS handshakes run in their
/// own tasks, so a slow or hostile peer never holds up the accept loop.
pub fn incoming(
    listener: TcpListener,
    tls: ServerTls,
) -> ReceiverStream<Result<Connection, io::Error>> {
    let (sender, receiver) = mpsc::channel(128);
    tokio::spawn(async move {
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = sender.closed() => return,
            };
            let (stream, remote) = match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let _ = stream.set_nodelay(true);

            match &tls.0 {
                Mode::Mesh => {
                    if sender.send(Ok(Connection::Plain(stream))).await.is_err() {
                        return;
                    }
                }
                Mode::Mutual { config, .. } => {
                    let acceptor = TlsAcceptor::from(config.current());
                    let sender = sender.clone();
                    tokio::spawn(async move {
                        if let Some(connection) = handshake(acceptor, stream, remote).await {
                            let _ = sender.send(Ok(connection)).await;
                        }
                    });
                }
            }
        }
    });
    ReceiverStream::new(receiver)
}

async fn handshake(
    acceptor: TlsAcceptor,
    stream: TcpStream,
    remote: SocketAddr,
) -> Option<Connection> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
        Ok(Ok(tls)) => Some(Connection::Tls(Box::new(tls))),
        Ok(Err(error)) => {
            // A refused identity was already logged, with the identity, by the verifier.
            let refused_identity = error
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                == Some(&rustls::Error::InvalidCertificate(
                    CertificateError::ApplicationVerificationFailure,
                ));
            if !refused_identity {
                tracing::warn!(peer = %remote, %error, "refused a TLS handshake");
            }
            None
        }
        Err(_) => {
            tracing::warn!(peer = %remote, "TLS handshake timed out");
            None
        }
    }
}

fn server_config(material: Material, allowed: Arc<[String]>) -> Result<ServerConfig, TlsError> {
    let provider = crate::provider();
    let chain_verifier = WebPkiClientVerifier::builder_with_provider(
        Arc::new(material.roots),
        Arc::clone(&provider),
    )
    .build()
    .map_err(|error| TlsError::Config(error.to_string()))?;
    let verifier = Arc::new(AllowedClients {
        chain_verifier,
        allowed,
    });

    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_client_cert_verifier(verifier)
        .with_single_cert(material.chain, material.key)?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

/// Verifies the client's chain against the CA bundle, then admits it only if its certificate
/// proves an allowed identity.
#[derive(Debug)]
struct AllowedClients {
    chain_verifier: Arc<dyn ClientCertVerifier>,
    allowed: Arc<[String]>,
}

impl ClientCertVerifier for AllowedClients {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        true
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.chain_verifier.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.chain_verifier
            .verify_client_cert(end_entity, intermediates, now)?;

        let identities = identity::dns_names(end_entity);
        if identities
            .iter()
            .any(|identity| self.allowed.contains(identity))
        {
            return Ok(ClientCertVerified::assertion());
        }
        tracing::warn!(peer_identities = ?identities, "refused a client whose identity is not allowed");
        Err(rustls::Error::InvalidCertificate(
            CertificateError::ApplicationVerificationFailure,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain_verifier
            .verify_tls12_signature(message, certificate, signature)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        certificate: &CertificateDer<'_>,
        signature: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.chain_verifier
            .verify_tls13_signature(message, certificate, signature)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.chain_verifier.supported_verify_schemes()
    }
}

/// An accepted connection: TLS in mutual mode, plaintext in mesh mode.
#[derive(Debug)]
pub enum Connection {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl Connected for Connection {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> TcpConnectInfo {
        match self {
            Self::Plain(stream) => stream.connect_info(),
            Self::Tls(stream) => stream.get_ref().0.connect_info(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_read(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write(cx, buf),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_write_vectored(cx, bufs),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Plain(stream) => stream.is_write_vectored(),
            Self::Tls(stream) => stream.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_flush(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Self::Plain(stream) => Pin::new(stream).poll_shutdown(cx),
            Self::Tls(stream) => Pin::new(stream.as_mut()).poll_shutdown(cx),
        }
    }
}
