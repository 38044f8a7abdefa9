//! The gateway's configuration, parsed once at start from flags or `SHARER_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the gateway listens, where its backends are, and what it serves.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "sharer-gateway",
    about = "Secret Sharer's public gateway",
    version
)]
pub struct Config {
    /// Address to serve gRPC, grpc-web and the page on.
    #[arg(long, env = "SHARER_GATEWAY_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: SocketAddr,

    /// The crypto service, `host:port` with an optional `http://` or `https://`; whether the
    /// call uses TLS is decided by SHARER_TLS_MODE, not by the scheme.
    #[arg(
        long,
        env = "SHARER_CRYPTO_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub crypto_url: String,

    /// The storage service, like the crypto service.
    #[arg(
        long,
        env = "SHARER_STORAGE_URL",
        default_value = "http://127.0.0.1:50052"
    )]
    pub storage_url: String,

    /// The built web page (`web/dist`).
    #[arg(long, env = "SHARER_WEB_DIR", default_value = "web/dist")]
    pub web_dir: PathBuf,

    /// Public calls served at once; more wait their turn.
    #[arg(long, env = "SHARER_MAX_CONCURRENT_CALLS", default_value_t = 1024)]
    pub max_concurrent_calls: usize,

    /// Milliseconds a call to crypto or storage may take.
    #[arg(long, env = "SHARER_BACKEND_TIMEOUT_MS", default_value_t = 5000)]
    pub backend_timeout_ms: u64,

    #[command(flatten)]
    pub tls: sharer_mtls::ClientTlsArgs,
}

impl Config {
    pub fn backend_timeout(&self) -> Duration {
        Duration::from_millis(self.backend_timeout_ms.max(1))
    }
}
