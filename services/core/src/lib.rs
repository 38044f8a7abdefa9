//! Shared pieces of Secret Sharer: the generated gRPC bindings of `proto/`, the secret id, logging
//! set-up and shutdown signals. It holds no secrets and does no I/O of its own.

#![forbid(unsafe_code)]

pub mod process;
pub mod proto;
pub mod secret_id;
pub mod shutdown;
pub mod telemetry;

pub use secret_id::SecretId;
