//! Errors of the double's own API (starting it, administering it); Key Vault and Entra ID errors
//! are HTTP answers, built in `reply`.

use std::{net::SocketAddr, path::PathBuf};

/// What can go wrong starting or administering the double.
#[derive(Debug, thiserror::Error)]
pub enum DoubleError {
    #[error("cannot bind {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },

    #[error("cannot generate the test certificate authority: {0}")]
    Certificate(#[from] rcgen::Error),

    #[error("cannot build the TLS server configuration: {0}")]
    Tls(#[from] rustls::Error),

    #[error("cannot write {path}: {source}")]
    WriteFile {
        path: PathBuf,
        source: std::io::Error,
    },

    #[error("rsa key generation failed")]
    KeyGeneration,

    #[error("invalid key name {0:?}: use 1 to 127 letters, digits and dashes")]
    InvalidKeyName(String),

    #[error("key {0} not found")]
    KeyNotFound(String),

    #[error("version {version} of key {name} not found")]
    VersionNotFound { name: String, version: String },
}
