//! Everything that can go wrong in the crypto service, and the gRPC status each becomes.

use sharer_core::secret_id::SecretIdError;
use tonic::Status;

/// The crypto service's one error type. Messages never carry key material or content.
#[derive(Debug, thiserror::Error)]
pub enum CryptoError {
    #[error("invalid secret id: {0}")]
    InvalidSecretId(#[from] SecretIdError),
    #[error("plaintext must not be empty")]
    EmptyPlaintext,
    #[error("plaintext is {len} bytes; the limit is {limit}")]
    PlaintextTooLarge { len: usize, limit: usize },
    #[error("sealed secret is malformed")]
    MalformedSealedSecret,
    #[error("sealed secret failed authentication: altered, or sealed for another id")]
    AuthenticationFailed,
    #[error("sealed under key-encryption key {kek_id}, which this service does not hold")]
    UnknownKek { kek_id: String },
    #[error("key-encryption key {kek_id} is disabled or deleted")]
    KekDisabled { kek_id: String },
    #[error("key-encryption key provider is unavailable: {reason}")]
    KekUnavailable { reason: String },
    #[error("the operating system's random generator failed")]
    RandomUnavailable,
    #[error("key file {path}: {reason}")]
    KeyFile { path: String, reason: String },
}

impl From<CryptoError> for Status {
    fn from(error: CryptoError) -> Self {
        use CryptoError::*;
        match &error {
            InvalidSecretId(_) | EmptyPlaintext | PlaintextTooLarge { .. } => {
                Status::invalid_argument(error.to_string())
            }
            MalformedSealedSecret => Status::invalid_argument(error.to_string()),
            AuthenticationFailed => Status::data_loss(error.to_string()),
            UnknownKek { .. } | KekDisabled { .. } => {
                Status::failed_precondition(error.to_string())
            }
            KekUnavailable { .. } => {
                tracing::warn!(%error, "key-encryption key provider unavailable");
                Status::unavailable("key-encryption key provider is unavailable")
            }
            RandomUnavailable | KeyFile { .. } => {
                tracing::error!(%error, "crypto failure");
                Status::internal("crypto service failure")
            }
        }
    }
}
