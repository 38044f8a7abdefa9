//! The contract every backend keeps: put once, fetch without consuming, consume at most once,
//! never return an expired secret.

use std::future::Future;
use std::time::SystemTime;

use sharer_core::SecretId;

use crate::StorageError;

/// A sealed secret to keep until `expires_at`.
#[derive(Debug, Clone)]
pub struct NewSecret {
    pub id: SecretId,
    /// Crypto's opaque sealed form: ciphertext and wrapped data key.
    pub sealed_secret: Vec<u8>,
    pub expires_at: SystemTime,
}

/// A place that keeps sealed secrets. `now` is passed in so expiry is decided by one clock.
pub trait SecretStore: Send + Sync + 'static {
    /// Stores a new secret; an id already present is [`StorageError::AlreadyExists`].
    fn put(&self, secret: NewSecret) -> impl Future<Output = Result<(), StorageError>> + Send;

    /// Reads a secret that is still live at `now`, without consuming it.
    fn fetch(
        &self,
        id: &SecretId,
        now: SystemTime,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StorageError>> + Send;

    /// Deletes a secret that is still live at `now`. Among any number of concurrent callers,
    /// at most one gets `true`.
    fn consume(
        &self,
        id: &SecretId,
        now: SystemTime,
    ) -> impl Future<Output = Result<bool, StorageError>> + Send;

    /// Deletes secrets that expired at or before `now`; returns how many.
    fn purge_expired(
        &self,
        now: SystemTime,
    ) -> impl Future<Output = Result<u64, StorageError>> + Send;

    /// A short name for logs.
    fn backend_name(&self) -> &'static str;
}
