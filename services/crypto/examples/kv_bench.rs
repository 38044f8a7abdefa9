//! Create and reveal throughput through the crypto gRPC server with the Azure Key Vault provider,
//! with 0 ms and 20 ms of latency added to every Key Vault call (by the local double), next to
//! the local development key for reference.
//!
//! ```sh
//! cargo run --release -p sharer-crypto --example kv_bench -- [secrets] [concurrency] [rounds]
//! ```
//!
//! "reveal, warm" opens on the replica that sealed (its own intermediate is in memory);
//! "reveal, cold" opens on a replica started fresh for the round, which must have Key Vault
//! unwrap the intermediate once. Each figure is the median of the rounds.

use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::http::{ClientOptions, Transport};
use futures::StreamExt;
use keyvault_double::{DoubleConfig, DoubleHandle, FederatedToken};
use sharer_core::SecretId;
use sharer_core::proto::crypto::crypto_service_client::CryptoServiceClient;
use sharer_core::proto::crypto::{OpenRequest, SealRequest};
use sharer_crypto::key_vault::KeyVaultSettings;
use sharer_crypto::key_vault::WorkloadIdentity;
use sharer_crypto::{AzureKeyVaultKek, KeyEncryptionKey, LocalKek};
use tonic::transport::Channel;

type BenchResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

const KEY: &str = "sharer-kek";
const CONTENT: &[u8] = b"a secret of a typical size: a password, a token, an API key..";

#[tokio::main]
async fn main() -> BenchResult<()> {
    let mut args = std::env::args().skip(1).map(|a| a.parse::<usize>());
    let secrets = args.next().transpose()?.unwrap_or(20_000);
    let concurrency = args.next().transpose()?.unwrap_or(64);
    let rounds = args.next().transpose()?.unwrap_or(3);

    let dir = tempfile::tempdir()?;
    let token = FederatedToken::random();
    let token_file = dir.path().join("federated-token");
    std::fs::write(&token_file, token.expose())?;
    let double = keyvault_double::start(DoubleConfig {
        federated_token: token,
        keys: vec![KEY.to_owned()],
        ..DoubleConfig::default()
    })
    .await?;
    let local_key = dir.path().join("dev-kek.key");

    let setups = [
        Setup::Local,
        Setup::KeyVault(Duration::ZERO),
        Setup::KeyVault(Duration::from_millis(20)),
    ];
    let mut results: Vec<Vec<Round>> = vec![Vec::new(); setups.len()];
    for _ in 0..rounds {
        for (setup, rounds) in setups.iter().zip(&mut results) {
            let provider = || setup.provider(&double, &token_file, &local_key);
            rounds.push(round(&double, provider, secrets, concurrency).await?);
        }
    }

    println!(
        "\n{secrets} secrets of {} bytes, {concurrency} calls in flight, median of {rounds} \
         round(s), one process (client, crypto server and Key Vault double share the cores)\n",
        CONTENT.len()
    );
    println!(
        "| provider | create/s | reveal/s, warm | reveal/s, cold replica | Key Vault calls per round |"
    );
    println!("|---|---:|---:|---:|---:|");
    for (setup, rounds) in setups.iter().zip(&results) {
        let median = |f: fn(&Round) -> f64| {
            let mut values: Vec<f64> = rounds.iter().map(f).collect();
            values.sort_by(f64::total_cmp);
            values.get(values.len() / 2).copied().unwrap_or_default()
        };
        let calls = rounds.iter().map(|r| r.key_vault_calls).max().unwrap_or(0);
        println!(
            "| {} | {:.0} | {:.0} | {:.0} | ≤ {calls} |",
            setup.label(),
            median(|r| r.create),
            median(|r| r.reveal_warm),
            median(|r| r.reveal_cold),
        );
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Setup {
    Local,
    KeyVault(Duration),
}

impl Setup {
    fn label(&self) -> String {
        match self {
            Self::Local => "local development key (no Key Vault)".to_owned(),
            Self::KeyVault(latency) => {
                format!("Azure Key Vault, {} ms added latency", latency.as_millis())
            }
        }
    }

    async fn provider(
        &self,
        double: &DoubleHandle,
        token_file: &std::path::Path,
        local_key: &std::path::Path,
    ) -> BenchResult<Arc<dyn KeyEncryptionKey>> {
        match self {
            Self::Local => Ok(Arc::new(LocalKek::load_or_create(local_key)?)),
            Self::KeyVault(latency) => {
                double.set_latency(*latency);
                let ca = reqwest::Certificate::from_pem(double.ca_pem().as_bytes())?;
                let http = reqwest::Client::builder()
                    .tls_certs_only([ca])
                    .http1_only()
                    .build()?;
                let mut settings = KeyVaultSettings::new(double.vault_url(), KEY);
                settings.skip_challenge_resource_check = true;
                settings.identity = WorkloadIdentity {
                    client_id: Some(double.client_id().to_owned()),
                    tenant_id: Some(double.tenant_id().to_owned()),
                    token_file: Some(token_file.to_owned()),
                    authority_host: Some(double.authority_host()),
                };
                settings.client_options = Some(ClientOptions {
                    transport: Some(Transport::new(Arc::new(http))),
                    ..ClientOptions::default()
                });
                Ok(Arc::new(AzureKeyVaultKek::connect(settings).await?))
            }
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Round {
    create: f64,
    reveal_warm: f64,
    reveal_cold: f64,
    key_vault_calls: u64,
}

/// Seals `secrets` on one replica, opens them there, then on a fresh replica.
async fn round<F, Fut>(
    double: &DoubleHandle,
    provider: F,
    secrets: usize,
    concurrency: usize,
) -> BenchResult<Round>
where
    F: Fn() -> Fut,
    Fut: Future<Output = BenchResult<Arc<dyn KeyEncryptionKey>>>,
{
    let sealer = Replica::start(provider().await?).await?;
    let cold = Replica::start(provider().await?).await?;
    let calls_before = double.counters().key_vault_total();

    let started = Instant::now();
    let sealed: Vec<(SecretId, Vec<u8>)> = futures::stream::iter(0..secrets)
        .map(|_| sealer.create())
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<BenchResult<_>>()?;
    let create = per_second(secrets, started);

    let started = Instant::now();
    open_all(&sealer, &sealed, concurrency).await?;
    let reveal_warm = per_second(secrets, started);

    let started = Instant::now();
    open_all(&cold, &sealed, concurrency).await?;
    let reveal_cold = per_second(secrets, started);

    Ok(Round {
        create,
        reveal_warm,
        reveal_cold,
        key_vault_calls: double.counters().key_vault_total() - calls_before,
    })
}

async fn open_all(
    replica: &Replica,
    sealed: &[(SecretId, Vec<u8>)],
    concurrency: usize,
) -> BenchResult<()> {
    let results: Vec<BenchResult<()>> = futures::stream::iter(sealed)
        .map(|(id, bytes)| replica.open(id, bytes))
        .buffer_unordered(concurrency)
        .collect()
        .await;
    results.into_iter().collect()
}

fn per_second(count: usize, started: Instant) -> f64 {
    count as f64 / started.elapsed().as_secs_f64()
}

/// A crypto gRPC server on 127.0.0.1:0 over one provider, and a client.
struct Replica {
    client: CryptoServiceClient<Channel>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Replica {
    async fn start(kek: Arc<dyn KeyEncryptionKey>) -> BenchResult<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(sharer_crypto::server::serve(
            listener,
            kek,
            sharer_mtls::server::ServerTls::MESH,
            async {
                stopped.await.ok();
            },
        ));
        let client = CryptoServiceClient::connect(format!("http://{addr}")).await?;
        Ok(Self {
            client,
            _stop: stop,
        })
    }

    async fn create(&self) -> BenchResult<(SecretId, Vec<u8>)> {
        let id = SecretId::generate()?;
        let request = SealRequest {
            secret_id: id.as_str().to_owned(),
            plaintext: CONTENT.to_vec(),
        };
        let sealed = self.client.clone().seal(request).await?.into_inner();
        Ok((id, sealed.sealed_secret))
    }

    async fn open(&self, id: &SecretId, sealed: &[u8]) -> BenchResult<()> {
        let request = OpenRequest {
            secret_id: id.as_str().to_owned(),
            sealed_secret: sealed.to_vec(),
        };
        let opened = self.client.clone().open(request).await?.into_inner();
        if opened.plaintext != CONTENT {
            return Err("opened content differs".into());
        }
        Ok(())
    }
}
