//! Everything that can go wrong setting up TLS. Messages name files and identities, never key
//! bytes.

/// The mTLS crate's one error type.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(
        "mutual TLS needs {missing} (or SHARER_TLS_MODE=mesh when a service mesh provides mTLS)"
    )]
    MissingFile { missing: &'static str },
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("{path} holds no usable {what}")]
    Pem { path: String, what: &'static str },
    #[error("invalid TLS configuration: {0}")]
    Config(String),
    #[error("invalid identity {0:?}: it must be a DNS name")]
    InvalidIdentity(String),
    #[error("cannot make certificates: {0}")]
    Generate(String),
}

impl From<rustls::Error> for TlsError {
    fn from(error: rustls::Error) -> Self {
        Self::Config(error.to_string())
    }
}
