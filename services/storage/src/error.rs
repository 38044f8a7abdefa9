//! Everything that can go wrong in the storage service, and the gRPC status each becomes.

use sharer_core::secret_id::SecretIdError;
use tonic::Status;

/// The storage service's one error type. Messages never carry stored bytes.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("invalid secret id: {0}")]
    InvalidSecretId(#[from] SecretIdError),
    #[error("{0}")]
    InvalidArgument(&'static str),
    #[error("a secret with this id already exists")]
    AlreadyExists,
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("database error: {0}")]
    Database(String),
    #[error("cannot prepare the database: {0}")]
    Setup(String),
}

impl From<StorageError> for Status {
    fn from(error: StorageError) -> Self {
        match &error {
            StorageError::InvalidSecretId(_) | StorageError::InvalidArgument(_) => {
                Status::invalid_argument(error.to_string())
            }
            StorageError::AlreadyExists => Status::already_exists(error.to_string()),
            StorageError::Unavailable(_) => {
                tracing::warn!(%error, "storage unavailable");
                Status::unavailable("database unavailable")
            }
            StorageError::Database(_) | StorageError::Setup(_) => {
                tracing::error!(%error, "storage failure");
                Status::internal("storage failure")
            }
        }
    }
}
