//! The storage service's configuration, parsed once at start from flags or `SHARER_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Where the storage service listens and which database it keeps secrets in.
#[derive(Clone, clap::Parser)]
#[command(
    name = "sharer-storage",
    about = "Secret Sharer's storage service",
    version
)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "SHARER_STORAGE_LISTEN", default_value = "127.0.0.1:50052")]
    pub listen: SocketAddr,

    /// PostgreSQL URL. When unset, secrets are kept in the embedded SQLite file instead.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// A file holding the PostgreSQL password, re-read for each new connection.
    #[arg(long, env = "SHARER_DATABASE_PASSWORD_FILE")]
    pub database_password_file: Option<PathBuf>,

    /// CA bundle (PEM) for PostgreSQL's certificate with `sslmode=require` (default: the public
    /// web PKI roots). TLS always verifies the chain and the host name.
    #[arg(long, env = "SHARER_DATABASE_CA_FILE")]
    pub database_ca_file: Option<PathBuf>,

    /// PostgreSQL connections kept open at most.
    #[arg(long, env = "SHARER_DATABASE_POOL_SIZE", default_value_t = 32)]
    pub database_pool_size: usize,

    /// The embedded SQLite file, used when no DATABASE_URL is given.
    #[arg(
        long,
        env = "SHARER_SQLITE_PATH",
        default_value = ".data/secrets.sqlite3"
    )]
    pub sqlite_path: PathBuf,

    /// Seconds between sweeps that delete expired secrets.
    #[arg(long, env = "SHARER_PURGE_INTERVAL_SECONDS", default_value_t = 60)]
    pub purge_interval_seconds: u64,

    #[command(flatten)]
    pub tls: sharer_mtls::ServerTlsArgs,
}

impl Config {
    pub fn purge_interval(&self) -> Duration {
        Duration::from_secs(self.purge_interval_seconds.max(1))
    }
}

/// Prints no database URL: it may hold a password.
impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen", &self.listen)
            .field(
                "database",
                &if self.database_url.is_some() {
                    "postgres"
                } else {
                    "sqlite"
                },
            )
            .field("sqlite_path", &self.sqlite_path)
            .finish_non_exhaustive()
    }
}
