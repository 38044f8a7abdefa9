//! Secret Sharer's storage service: the only owner of the database. It keeps sealed secrets
//! (ciphertext and wrapped keys, never plaintext) and hands each out at most once.
//!
//! A reveal is two calls: [`SecretStore::fetch`] reads without consuming, and
//! [`SecretStore::consume`] deletes atomically; only the caller whose delete removed the row may
//! release the plaintext. A reveal that fails between the two consumes nothing.

#![forbid(unsafe_code)]

pub mod config;
pub mod error;
pub mod postgres;
mod postgres_connector;
pub mod server;
pub mod service;
pub mod sqlite;
pub mod store;
#[cfg(feature = "test-support")]
pub mod testing;

pub use config::Config;
pub use error::StorageError;
pub use postgres::PostgresStore;
pub use sqlite::SqliteStore;
pub use store::{NewSecret, SecretStore};
