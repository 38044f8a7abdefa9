//! TLS settings shared by every service, parsed with the service's own configuration.

use std::path::PathBuf;

use crate::TlsError;
use crate::identity;

/// Who provides mutual TLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum TlsMode {
    /// The service itself: TLS 1.3 with client certificates, identities checked here.
    Mutual,
    /// A service mesh (Linkerd) whose proxy terminates mTLS; the service speaks plaintext and
    /// must not be reachable except through the proxy.
    Mesh,
}

/// The certificate, key and CA bundle files of one workload.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub certificate: PathBuf,
    pub key: PathBuf,
    pub ca: PathBuf,
}

/// The TLS options every service has.
#[derive(Debug, Clone, clap::Args)]
pub struct CommonTlsArgs {
    /// `mutual` (default): the service does mTLS itself. `mesh`: plaintext behind a mesh proxy.
    #[arg(long = "tls-mode", env = "SHARER_TLS_MODE", value_enum, default_value_t = TlsMode::Mutual)]
    pub mode: TlsMode,

    /// This workload's certificate chain (PEM); re-read when it changes.
    #[arg(long = "tls-cert-file", env = "SHARER_TLS_CERT_FILE")]
    pub certificate_file: Option<PathBuf>,

    /// This workload's private key (PEM); re-read when it changes.
    #[arg(long = "tls-key-file", env = "SHARER_TLS_KEY_FILE")]
    pub key_file: Option<PathBuf>,

    /// The CA bundle (PEM) that peers' certificates must chain to; re-read when it changes.
    #[arg(long = "tls-ca-file", env = "SHARER_TLS_CA_FILE")]
    pub ca_file: Option<PathBuf>,
}

impl CommonTlsArgs {
    /// The files to use, or `None` in mesh mode. Mutual mode without all three is an error.
    pub fn files(&self) -> Result<Option<TlsFiles>, TlsError> {
        if self.mode == TlsMode::Mesh {
            return Ok(None);
        }
        let missing = |missing| TlsError::MissingFile { missing };
        Ok(Some(TlsFiles {
            certificate: self
                .certificate_file
                .clone()
                .ok_or(missing("SHARER_TLS_CERT_FILE"))?,
            key: self
                .key_file
                .clone()
                .ok_or(missing("SHARER_TLS_KEY_FILE"))?,
            ca: self.ca_file.clone().ok_or(missing("SHARER_TLS_CA_FILE"))?,
        }))
    }
}

/// TLS options of a server (crypto, storage).
#[derive(Debug, Clone, clap::Args)]
pub struct ServerTlsArgs {
    #[command(flatten)]
    pub common: CommonTlsArgs,

    /// Client identities admitted, comma-separated; every other peer is refused.
    #[arg(
        long = "allowed-clients",
        env = "SHARER_ALLOWED_CLIENTS",
        value_delimiter = ',',
        default_value = identity::GATEWAY_IDENTITY
    )]
    pub allowed_clients: Vec<String>,
}

/// TLS options of the gateway, the client of crypto and storage.
#[derive(Debug, Clone, clap::Args)]
pub struct ClientTlsArgs {
    #[command(flatten)]
    pub common: CommonTlsArgs,

    /// The identity crypto's certificate must prove.
    #[arg(long = "crypto-identity", env = "SHARER_CRYPTO_IDENTITY", default_value = identity::CRYPTO_IDENTITY)]
    pub crypto_identity: String,

    /// The identity storage's certificate must prove.
    #[arg(long = "storage-identity", env = "SHARER_STORAGE_IDENTITY", default_value = identity::STORAGE_IDENTITY)]
    pub storage_identity: String,
}
