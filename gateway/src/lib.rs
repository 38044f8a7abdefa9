//! Secret Sharer's gateway: the public `sharer.v1.SecretService` over gRPC and grpc-web, and the
//! web page, on one port. It validates input and is the only client of crypto and storage; it
//! holds no keys and stores nothing.

#![forbid(unsafe_code)]

pub mod api;
pub mod backends;
pub mod config;
pub mod error;
pub mod malformed;
pub mod server;
pub mod web;

pub use config::Config;
pub use error::GatewayError;
