//! The key-encryption key: whatever wraps data keys. The development key file and Azure Key
//! Vault are both providers of this one trait, chosen by configuration.

use std::fmt;

use async_trait::async_trait;

use crate::{CryptoError, DataKey};

/// A data key in wrapped form, with the id (and version) of the key that wrapped it.
#[derive(Clone, PartialEq, Eq)]
pub struct WrappedDataKey {
    pub kek_id: String,
    pub bytes: Vec<u8>,
}

impl fmt::Debug for WrappedDataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WrappedDataKey")
            .field("kek_id", &self.kek_id)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Wraps and unwraps data keys. Implementations keep their key material to themselves.
#[async_trait]
pub trait KeyEncryptionKey: Send + Sync + fmt::Debug {
    /// Wraps a data key under the current key version.
    async fn wrap(&self, data_key: &DataKey) -> Result<WrappedDataKey, CryptoError>;

    /// Unwraps a data key wrapped by this provider under any version it still holds.
    async fn unwrap(&self, wrapped: &WrappedDataKey) -> Result<DataKey, CryptoError>;
}
