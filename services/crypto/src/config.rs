//! The crypto service's configuration, parsed once at start from flags or `SHARER_*` variables.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Where the crypto service listens and which key-encryption key it uses.
#[derive(Debug, Clone, clap::Parser)]
#[command(
    name = "sharer-crypto",
    about = "Secret Sharer's crypto service",
    version
)]
pub struct Config {
    /// Address to serve gRPC on.
    #[arg(long, env = "SHARER_CRYPTO_LISTEN", default_value = "127.0.0.1:50051")]
    pub listen: SocketAddr,

    /// Which key-encryption key provider wraps data keys.
    #[arg(long, env = "SHARER_KEK_PROVIDER", value_enum, default_value_t = KekProvider::Local)]
    pub kek_provider: KekProvider,

    /// The development key file (created with mode 0600 if absent); `local` provider only.
    #[arg(
        long,
        env = "SHARER_LOCAL_KEK_FILE",
        default_value = ".data/dev-kek.key"
    )]
    pub local_kek_file: PathBuf,

    /// Azure Key Vault settings; `azure-key-vault` provider only.
    #[command(flatten)]
    pub key_vault: crate::key_vault::KeyVaultArgs,

    #[command(flatten)]
    pub tls: sharer_mtls::ServerTlsArgs,
}

/// The key-encryption key providers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum KekProvider {
    /// A 256-bit key in a local file: for development only.
    Local,
    /// An RSA key in Azure Key Vault, reached with Workload Identity, wrapping in-memory
    /// intermediate keys (`SHARER_KEY_VAULT_URL`, `SHARER_KEY_VAULT_KEY_NAME`, `AZURE_*`).
    AzureKeyVault,
}
