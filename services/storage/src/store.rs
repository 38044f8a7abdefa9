//! The contract every backend keeps: put once, fetch without consuming, consume at most once,
//! never return an expired secret.

use std::future::Future;
use std::time::SystemTime;

use sha2::{Digest, Sha256};
use sharer_core::SecretId;

use crate::StorageError;

/// Prefix hashed with an id, so the hash serves this purpose only.
pub const ROW_KEY_DOMAIN: &str = "sharer.v1/secret-id/";

/// The key a secret is stored under: SHA-256 of its id. Rows never hold the id itself, so a
/// copy of the database gives no way to ask the gateway for a secret (ids carry 128 random
/// bits, too many to search for a hash's preimage).
pub fn row_key(id: &SecretId) -> [u8; 32] {
    let mut digest = Sha256::new();
    digest.update(ROW_KEY_DOMAIN.as_bytes());
    digest.update(id.as_str().as_bytes());
    digest.finalize().into()
}

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
