//! Runs the Key Vault and Entra ID double on its own and prints, as `NAME=value` lines on
//! stdout, the settings a client needs.

#![forbid(unsafe_code)]

use std::{
    io::Write,
    net::SocketAddr,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Duration,
};

use clap::Parser;
use keyvault_double::{AZURE_VAULT_RESOURCE, DoubleConfig, FederatedToken};

/// HTTPS double of Azure Key Vault (keys) and the Entra ID workload-identity token endpoint.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address of the HTTPS listener (port 0 picks a free port).
    #[arg(long, env = "KVDOUBLE_LISTEN", default_value = "127.0.0.1:0")]
    listen: SocketAddr,

    /// Optional admin-only HTTPS listener that stays up while the double refuses connections.
    #[arg(long, env = "KVDOUBLE_ADMIN_LISTEN")]
    admin_listen: Option<SocketAddr>,

    #[arg(
        long,
        env = "KVDOUBLE_TENANT_ID",
        default_value = "00000000-0000-0000-0000-000000000001"
    )]
    tenant_id: String,

    #[arg(
        long,
        env = "KVDOUBLE_CLIENT_ID",
        default_value = "00000000-0000-0000-0000-000000000002"
    )]
    client_id: String,

    /// File holding the federated token clients must present; created with a random token if
    /// missing. Point `AZURE_FEDERATED_TOKEN_FILE` of the client at the same file.
    #[arg(long, env = "KVDOUBLE_FEDERATED_TOKEN_FILE")]
    federated_token_file: PathBuf,

    /// Where to write the throwaway CA certificate (PEM) clients must trust.
    #[arg(long, env = "KVDOUBLE_CA_FILE")]
    ca_file: PathBuf,

    /// Keys to create at start, comma-separated, each with one RSA-2048 version.
    #[arg(
        long,
        env = "KVDOUBLE_KEYS",
        value_delimiter = ',',
        default_value = "sharer-kek"
    )]
    keys: Vec<String>,

    #[arg(long, env = "KVDOUBLE_TOKEN_LIFETIME_SECS", default_value_t = 3600)]
    token_lifetime_secs: u64,

    /// Challenge resource for vault hosts outside `*.vault.localhost`.
    #[arg(long, env = "KVDOUBLE_RESOURCE", default_value = AZURE_VAULT_RESOURCE)]
    resource: String,

    /// Vault name used in the printed `*.vault.localhost` URL.
    #[arg(long, env = "KVDOUBLE_VAULT_NAME", default_value = "sharer")]
    vault_name: String,

    /// Latency added to every Key Vault request from the start.
    #[arg(long, env = "KVDOUBLE_LATENCY_MS", default_value_t = 0)]
    latency_ms: u64,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();

    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("keyvault-double: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let federated_token = load_or_create_token(&args.federated_token_file)?;
    let config = DoubleConfig {
        listen: args.listen,
        admin_listen: args.admin_listen,
        tenant_id: args.tenant_id,
        client_id: args.client_id,
        federated_token,
        ca_pem_path: Some(args.ca_file.clone()),
        extra_dns_names: Vec::new(),
        keys: args.keys,
        token_lifetime: Duration::from_secs(args.token_lifetime_secs),
        resource: args.resource,
    };

    let double = keyvault_double::start(config)
        .await
        .map_err(|e| e.to_string())?;
    double.set_latency(Duration::from_millis(args.latency_ms));

    let admin_base = double.admin_addr().unwrap_or_else(|| double.addr());
    let lines = [
        format!("KVDOUBLE_ADDR={}", double.addr()),
        format!("KVDOUBLE_ADMIN_URL=https://{admin_base}/_double/"),
        format!("KVDOUBLE_VAULT_URL={}", double.vault_url()),
        format!(
            "KVDOUBLE_NAMED_VAULT_URL={}",
            double.named_vault_url(&args.vault_name)
        ),
        format!("AZURE_AUTHORITY_HOST={}", double.authority_host()),
        format!("AZURE_TENANT_ID={}", double.tenant_id()),
        format!("AZURE_CLIENT_ID={}", double.client_id()),
        format!(
            "AZURE_FEDERATED_TOKEN_FILE={}",
            args.federated_token_file.display()
        ),
        format!("SSL_CERT_FILE={}", args.ca_file.display()),
    ];
    let mut stdout = std::io::stdout().lock();
    for line in lines {
        writeln!(stdout, "{line}").map_err(|e| e.to_string())?;
    }
    stdout.flush().map_err(|e| e.to_string())?;
    drop(stdout);

    shutdown_signal().await;
    tracing::info!("stopping");
    double.shutdown().await;
    Ok(())
}

/// Reads the expected federated token verbatim (the SDK sends the file as it is), or creates the
/// file with a random token, readable by its owner only.
fn load_or_create_token(path: &Path) -> Result<FederatedToken, String> {
    match std::fs::read_to_string(path) {
        Ok(token) if !token.is_empty() => return Ok(FederatedToken::new(token)),
        Ok(_) => return Err(format!("federated token file {} is empty", path.display())),
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => {
            return Err(format!("cannot read {}: {error}", path.display()));
        }
        Err(_) => {}
    }

    let token = FederatedToken::random();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options
        .open(path)
        .and_then(|mut file| file.write_all(token.expose().as_bytes()))
        .map_err(|error| format!("cannot create {}: {error}", path.display()))?;
    Ok(token)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
