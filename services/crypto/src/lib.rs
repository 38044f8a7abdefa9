//! Secret Sharer's crypto service: it seals each secret under a fresh data key and opens what it
//! sealed. It is the only process that holds key-encryption keys; it never stores anything and
//! never talks to storage.
//!
//! A sealed secret is XChaCha20-Poly1305 ciphertext of the content, with the secret's id bound
//! as associated data, plus the data key wrapped by a [`KeyEncryptionKey`].

#![forbid(unsafe_code)]

pub mod aead;
pub mod config;
pub mod data_key;
pub mod envelope;
pub mod error;
pub mod kek;
pub mod key_vault;
pub mod local_kek;
pub mod server;
pub mod service;

pub use config::Config;
pub use data_key::DataKey;
pub use error::CryptoError;
pub use kek::{KeyEncryptionKey, WrappedDataKey};
pub use key_vault::AzureKeyVaultKek;
pub use local_kek::LocalKek;
