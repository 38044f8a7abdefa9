//! The Azure Key Vault provider through the real SDK (`azure_identity` Workload Identity with a
//! federated token file, `azure_security_keyvault_keys`) against the Key Vault and Entra ID
//! double, behind the real crypto gRPC server on 127.0.0.1:0. Each test starts its own double
//! and passes its CA through the SDK's options, so the tests run in parallel.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::http::{ClientOptions, Transport};
use futures::StreamExt;
use keyvault_double::{DoubleConfig, DoubleHandle, DownMode, FederatedToken, Operation, Outcome};
use prost::Message;
use sharer_core::SecretId;
use sharer_core::proto::crypto::crypto_service_client::CryptoServiceClient;
use sharer_core::proto::crypto::{OpenRequest, SealRequest, SealedSecret};
use sharer_crypto::key_vault::calls::{VaultOperation, VaultOutcome};
use sharer_crypto::key_vault::{KeyVaultSettings, WorkloadIdentity};
use sharer_crypto::{AzureKeyVaultKek, KeyEncryptionKey};
use tokio::io::AsyncBufReadExt;
use tonic::Code;
use tonic::transport::Channel;

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const KEY: &str = "sharer-kek";
const CONTENT: &[u8] = b"correct horse battery staple";

/// A double holding one RSA key, and the federated token file it expects.
struct Fixture {
    double: DoubleHandle,
    token_file: PathBuf,
    dir: tempfile::TempDir,
}

async fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let token = FederatedToken::random();
    let token_file = dir.path().join("federated-token");
    std::fs::write(&token_file, token.expose()).expect("token file");
    let double = keyvault_double::start(DoubleConfig {
        federated_token: token,
        keys: vec![KEY.to_owned()],
        ca_pem_path: Some(dir.path().join("ca.pem")),
        ..DoubleConfig::default()
    })
    .await
    .expect("double");
    Fixture {
        double,
        token_file,
        dir,
    }
}

impl Fixture {
    /// The provider's settings for the double: vault by IP (so the challenge resource check is
    /// off, as documented for the double), a transport trusting the double's CA, a refresh the
    /// tests trigger themselves.
    fn settings(&self) -> KeyVaultSettings {
        let ca = reqwest::Certificate::from_pem(self.double.ca_pem().as_bytes()).expect("ca");
        let http = reqwest::Client::builder()
            .tls_certs_only([ca])
            .http1_only()
            .build()
            .expect("reqwest");
        let mut settings = KeyVaultSettings::new(self.double.vault_url(), KEY);
        settings.skip_challenge_resource_check = true;
        settings.identity = WorkloadIdentity {
            client_id: Some(self.double.client_id().to_owned()),
            tenant_id: Some(self.double.tenant_id().to_owned()),
            token_file: Some(self.token_file.clone()),
            authority_host: Some(self.double.authority_host()),
        };
        settings.client_options = Some(ClientOptions {
            transport: Some(Transport::new(Arc::new(http))),
            ..ClientOptions::default()
        });
        settings.refresh_interval = Duration::from_secs(3600);
        settings
    }

    async fn replica(&self) -> Replica {
        Replica::start(self.settings()).await
    }

    fn current_version(&self) -> String {
        self.double.key(KEY, "").expect("current version").version
    }
}

/// One crypto replica: the provider and the real gRPC server over it.
struct Replica {
    kek: Arc<AzureKeyVaultKek>,
    client: CryptoServiceClient<Channel>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Replica {
    async fn start(settings: KeyVaultSettings) -> Self {
        let kek = Arc::new(AzureKeyVaultKek::connect(settings).await.expect("connect"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let provider: Arc<dyn KeyEncryptionKey> = kek.clone();
        tokio::spawn(sharer_crypto::server::serve(
            listener,
            provider,
            sharer_mtls::server::ServerTls::MESH,
            async {
                stopped.await.ok();
            },
        ));
        let client = CryptoServiceClient::connect(format!("http://{addr}"))
            .await
            .expect("client");
        Self {
            kek,
            client,
            _stop: stop,
        }
    }

    async fn seal(&self, id: &SecretId, content: &[u8]) -> Result<Vec<u8>, tonic::Status> {
        let request = SealRequest {
            secret_id: id.as_str().to_owned(),
            plaintext: content.to_vec(),
        };
        let response = self.client.clone().seal(request).await?;
        Ok(response.into_inner().sealed_secret)
    }

    async fn open(&self, id: &SecretId, sealed: &[u8]) -> Result<Vec<u8>, tonic::Status> {
        let request = OpenRequest {
            secret_id: id.as_str().to_owned(),
            sealed_secret: sealed.to_vec(),
        };
        let response = self.client.clone().open(request).await?;
        Ok(response.into_inner().plaintext)
    }

    /// Seals `CONTENT` under a fresh id.
    async fn create(&self) -> (SecretId, Vec<u8>) {
        let id = SecretId::generate().expect("id");
        let sealed = self.seal(&id, CONTENT).await.expect("seal");
        (id, sealed)
    }
}

fn kek_id(sealed: &[u8]) -> String {
    SealedSecret::decode(sealed).expect("sealed secret").kek_id
}

fn key_vault_calls(double: &DoubleHandle) -> u64 {
    double.counters().key_vault_total()
}

#[tokio::test]
async fn a_secret_sealed_on_one_replica_opens_on_another_with_one_unwrap() -> TestResult {
    let fx = fixture().await;
    let first = fx.replica().await;
    let second = fx.replica().await;
    let version = fx.current_version();

    let (id, sealed) = first.create().await;
    let opened_here = first.open(&id, &sealed).await?;
    let opened_there = second.open(&id, &sealed).await?;
    let opened_again = second.open(&id, &sealed).await?;

    assert_eq!(opened_here, CONTENT);
    assert_eq!(opened_there, CONTENT);
    assert_eq!(opened_again, CONTENT);
    assert_eq!(
        kek_id(&sealed),
        format!("{}keys/{KEY}/{version}", fx.double.vault_url())
    );
    assert_eq!(first.kek.current_kek_id(), kek_id(&sealed));
    let counters = fx.double.counters();
    assert_eq!(counters.ok(Operation::Wrap), 0, "wrapping is local");
    assert_eq!(
        counters.ok(Operation::Unwrap),
        1,
        "one unwrap, by the other replica"
    );
    assert_eq!(
        counters.ok(Operation::GetKey),
        2,
        "one per replica at start"
    );
    assert_eq!(
        second
            .kek
            .calls()
            .get(VaultOperation::Unwrap, VaultOutcome::Ok),
        1
    );
    assert_eq!(first.kek.calls().total(VaultOperation::Unwrap), 0);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_secrets_cost_at_most_five_key_vault_calls() -> TestResult {
    const SECRETS: usize = 10_000;
    const CONCURRENCY: usize = 32;
    let fx = fixture().await;
    let replica = fx.replica().await;
    let replica = &replica;

    let started = Instant::now();
    let sealed: Vec<(SecretId, Vec<u8>)> = futures::stream::iter(0..SECRETS)
        .map(|_| replica.create())
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let sealed_in = started.elapsed();
    let started = Instant::now();
    let opened = futures::stream::iter(&sealed)
        .map(|(id, bytes)| replica.open(id, bytes))
        .buffer_unordered(CONCURRENCY)
        .filter(|result| std::future::ready(result.as_ref().is_ok_and(|c| c == CONTENT)))
        .count()
        .await;
    let opened_in = started.elapsed();
    let calls = key_vault_calls(&fx.double);
    println!(
        "{SECRETS} seals in {sealed_in:?}, {SECRETS} opens in {opened_in:?}: {calls} Key Vault \
         calls counted by the double ({}), provider: {}",
        fx.double.counters().to_json(),
        replica.kek.calls()
    );

    assert_eq!(opened, SECRETS);
    assert!(calls <= 5, "{calls} Key Vault calls");

    // A replica that never saw the intermediate opens them all with one unwrap, however many
    // reveals miss its cache at once.
    fx.double.set_latency(Duration::from_millis(20));
    let cold = fx.replica().await;
    let cold = &cold;
    let unwraps_before = fx.double.counters().total(Operation::Unwrap);
    let opened = futures::stream::iter(&sealed)
        .map(|(id, bytes)| cold.open(id, bytes))
        .buffer_unordered(CONCURRENCY)
        .filter(|result| std::future::ready(result.is_ok()))
        .count()
        .await;
    let unwraps = fx.double.counters().total(Operation::Unwrap) - unwraps_before;
    println!("a cold replica opened {opened} with {unwraps} Key Vault unwrap(s)");
    assert_eq!(opened, SECRETS);
    assert_eq!(unwraps, 1);
    Ok(())
}

#[tokio::test]
async fn a_new_key_version_seals_new_secrets_and_old_ones_still_open() -> TestResult {
    let fx = fixture().await;
    let mut settings = fx.settings();
    settings.refresh_interval = Duration::from_millis(200);
    let replica = Replica::start(settings).await;
    let old_version = fx.current_version();
    let (old_id, old_sealed) = replica.create().await;

    let new_version = fx.double.create_key_version(KEY).await?.version;
    let deadline = Instant::now() + Duration::from_secs(10);
    let (new_id, new_sealed) = loop {
        let (id, sealed) = replica.create().await;
        if kek_id(&sealed).ends_with(&new_version) {
            break (id, sealed);
        }
        assert!(
            Instant::now() < deadline,
            "the background refresh never picked up the new version"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let cold = fx.replica().await;

    assert!(kek_id(&old_sealed).ends_with(&old_version));
    assert_eq!(replica.open(&old_id, &old_sealed).await?, CONTENT);
    assert_eq!(replica.open(&new_id, &new_sealed).await?, CONTENT);
    assert_eq!(cold.open(&old_id, &old_sealed).await?, CONTENT);
    assert_eq!(cold.open(&new_id, &new_sealed).await?, CONTENT);
    assert_eq!(
        cold.kek
            .calls()
            .get(VaultOperation::Unwrap, VaultOutcome::Ok),
        2,
        "one unwrap per intermediate"
    );
    Ok(())
}

#[tokio::test]
async fn a_disabled_or_deleted_version_fails_precondition_and_the_service_keeps_serving()
-> TestResult {
    let fx = fixture().await;
    let replica = fx.replica().await;
    let old_version = fx.current_version();
    let (old_id, old_sealed) = replica.create().await;
    fx.double.create_key_version(KEY).await?;
    replica.kek.refresh_now().await;
    let (new_id, new_sealed) = replica.create().await;
    let cold = fx.replica().await;

    fx.double.set_enabled(KEY, &old_version, false)?;
    let refused = cold
        .open(&old_id, &old_sealed)
        .await
        .expect_err("disabled version");
    let refused_again = cold
        .open(&old_id, &old_sealed)
        .await
        .expect_err("still disabled");
    let other = cold.open(&new_id, &new_sealed).await?;

    assert_eq!(refused.code(), Code::FailedPrecondition);
    assert!(refused.message().contains("disabled"), "{refused:?}");
    assert_eq!(refused_again.code(), Code::FailedPrecondition);
    assert_eq!(other, CONTENT);
    assert_eq!(
        fx.double
            .counters()
            .get(Operation::Unwrap, Outcome::Forbidden),
        1,
        "the second refusal needed no Key Vault call"
    );

    // The replica that made the old intermediate drops it at its next refresh.
    assert_eq!(replica.open(&old_id, &old_sealed).await?, CONTENT);
    replica.kek.refresh_now().await;
    let shredded = replica
        .open(&old_id, &old_sealed)
        .await
        .expect_err("shredded");
    assert_eq!(shredded.code(), Code::FailedPrecondition);
    let (id, sealed) = replica.create().await;
    assert_eq!(replica.open(&id, &sealed).await?, CONTENT, "service alive");

    // Deleting the key shreds everything sealed under it, on a replica with nothing cached.
    let uncached = fx.replica().await;
    fx.double.delete_key(KEY)?;
    let deleted = uncached
        .open(&new_id, &new_sealed)
        .await
        .expect_err("deleted key");
    assert_eq!(deleted.code(), Code::FailedPrecondition);
    assert_eq!(
        fx.double
            .counters()
            .get(Operation::Unwrap, Outcome::NotFound),
        1
    );
    Ok(())
}

#[tokio::test]
async fn key_vault_down_creates_work_uncached_reveals_are_unavailable_then_open() -> TestResult {
    let fx = fixture().await;
    let mut settings = fx.settings();
    settings.timeout = Duration::from_millis(1500);
    let sealer = Replica::start(settings.clone()).await;
    let revealer = Replica::start(settings).await;
    let (first_id, first_sealed) = sealer.create().await;

    fx.double.go_down(DownMode::Refuse, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (second_id, second_sealed) = sealer.create().await;
    let started = Instant::now();
    let unavailable = revealer
        .open(&first_id, &first_sealed)
        .await
        .expect_err("key vault down");
    let waited = started.elapsed();
    let cached = sealer.open(&second_id, &second_sealed).await?;

    fx.double.come_up();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let first = revealer.open(&first_id, &first_sealed).await?;
    let second = revealer.open(&second_id, &second_sealed).await?;

    assert_eq!(unavailable.code(), Code::Unavailable);
    assert!(waited < Duration::from_secs(3), "gave up after {waited:?}");
    assert_eq!(cached, CONTENT, "cached intermediates need no Key Vault");
    assert_eq!((first, second), (CONTENT.to_vec(), CONTENT.to_vec()));
    let calls = revealer.kek.calls();
    assert!(
        calls.get(VaultOperation::Unwrap, VaultOutcome::Unavailable)
            + calls.get(VaultOperation::Unwrap, VaultOutcome::TimedOut)
            >= 1,
        "{calls}"
    );
    assert_eq!(calls.get(VaultOperation::Unwrap, VaultOutcome::Ok), 1);
    Ok(())
}

#[tokio::test]
async fn throttling_is_retried_after_retry_after_within_the_deadline() -> TestResult {
    let fx = fixture().await;
    let sealer = fx.replica().await;
    let mut settings = fx.settings();
    settings.timeout = Duration::from_secs(4);
    let revealer = Replica::start(settings).await;
    let (id, sealed) = sealer.create().await;
    let (other_id, other_sealed) = {
        // A second intermediate, so the exhausted case below misses the cache too.
        let mut settings = fx.settings();
        settings.rotation.max_uses = 1;
        let rotating = Replica::start(settings).await;
        rotating.create().await;
        rotating.create().await
    };

    fx.double.throttle_next(1, Duration::from_secs(2));
    let started = Instant::now();
    let opened = revealer.open(&id, &sealed).await?;
    let waited = started.elapsed();

    assert_eq!(opened, CONTENT);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    assert!(waited < Duration::from_secs(4), "retried after {waited:?}");
    let counters = fx.double.counters();
    assert_eq!(counters.get(Operation::Unwrap, Outcome::Throttled), 1);
    assert_eq!(counters.ok(Operation::Unwrap), 1);

    // Throttled past the deadline: UNAVAILABLE, and the secret opens once it passes.
    fx.double.throttle_next(100, Duration::from_secs(1));
    let started = Instant::now();
    let exhausted = revealer
        .open(&other_id, &other_sealed)
        .await
        .expect_err("throttled");
    let waited = started.elapsed();
    fx.double.clear_faults();
    let later = revealer.open(&other_id, &other_sealed).await?;

    assert_eq!(exhausted.code(), Code::Unavailable);
    assert!(waited < Duration::from_secs(5), "gave up after {waited:?}");
    assert_eq!(later, CONTENT);
    Ok(())
}

#[tokio::test]
async fn a_wrong_or_missing_federated_token_or_key_is_one_clear_start_up_error() -> TestResult {
    let fx = fixture().await;
    let wrong_token = fx.dir.path().join("wrong-token");
    std::fs::write(&wrong_token, FederatedToken::random().expose())?;

    let mut wrong = fx.settings();
    wrong.identity.token_file = Some(wrong_token);
    let mut missing = fx.settings();
    missing.identity.token_file = Some(fx.dir.path().join("no-such-token"));
    let mut unknown_key = fx.settings();
    unknown_key.key_name = "no-such-key".to_owned();

    let wrong = AzureKeyVaultKek::connect(wrong)
        .await
        .expect_err("wrong token");
    let missing = AzureKeyVaultKek::connect(missing)
        .await
        .expect_err("missing token");
    let unknown_key = AzureKeyVaultKek::connect(unknown_key)
        .await
        .expect_err("unknown key");

    for error in [&wrong, &missing, &unknown_key] {
        let line = error.to_string();
        println!("{line}");
        assert!(!line.contains('\n'), "one line: {line}");
        assert!(line.contains(&fx.double.vault_url()), "{line}");
        assert!(line.contains(fx.double.client_id()), "{line}");
    }
    assert!(wrong.to_string().contains(KEY));
    assert!(wrong.to_string().contains("AADSTS70021"), "{wrong}");
    assert!(
        missing.to_string().contains("workload identity"),
        "{missing}"
    );
    assert!(unknown_key.to_string().contains("no-such-key"));
    assert!(
        unknown_key.to_string().contains("does not exist"),
        "{unknown_key}"
    );
    Ok(())
}

/// The binary, configured only by environment variables as the README shows: it serves with
/// the right token, and exits non-zero with one error line with a wrong one.
#[tokio::test]
async fn the_binary_runs_against_the_double_from_environment_variables() -> TestResult {
    let fx = fixture().await;
    let ca_file = fx.dir.path().join("ca.pem");
    let environment = |token_file: &PathBuf| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_sharer-crypto"));
        command
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("RUST_LOG", "info")
            .env("SHARER_CRYPTO_LISTEN", "127.0.0.1:0")
            .env("SHARER_TLS_MODE", "mesh")
            .env("SHARER_KEK_PROVIDER", "azure-key-vault")
            .env("SHARER_KEY_VAULT_URL", fx.double.vault_url())
            .env("SHARER_KEY_VAULT_KEY_NAME", KEY)
            .env("SHARER_KEY_VAULT_SKIP_CHALLENGE_RESOURCE_CHECK", "true")
            .env("SSL_CERT_FILE", &ca_file)
            .env("AZURE_AUTHORITY_HOST", fx.double.authority_host())
            .env("AZURE_TENANT_ID", fx.double.tenant_id())
            .env("AZURE_CLIENT_ID", fx.double.client_id())
            .env("AZURE_FEDERATED_TOKEN_FILE", token_file)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    };

    let mut good = environment(&fx.token_file).spawn()?;
    let stdout = good.stdout.take().ok_or("stdout")?;
    let mut lines = tokio::io::BufReader::new(stdout).lines();
    let ready = tokio::time::timeout(Duration::from_secs(20), async {
        while let Some(line) = lines.next_line().await? {
            if line.contains("crypto service listening") {
                return Ok::<_, std::io::Error>(true);
            }
        }
        Ok(false)
    })
    .await??;
    good.start_kill()?;
    assert!(ready, "the service did not start");
    assert_eq!(fx.double.counters().ok(Operation::GetKey), 1);

    let wrong_token = fx.dir.path().join("wrong-token");
    std::fs::write(&wrong_token, FederatedToken::random().expose())?;
    let failed =
        tokio::time::timeout(Duration::from_secs(20), environment(&wrong_token).output()).await??;
    let stdout = String::from_utf8_lossy(&failed.stdout);
    let errors: Vec<&str> = stdout.lines().filter(|l| l.contains("ERROR")).collect();
    println!("{}", errors.join("\n"));

    assert!(!failed.status.success());
    assert_eq!(errors.len(), 1, "{stdout}");
    assert!(errors[0].contains("AADSTS70021"), "{stdout}");
    assert!(errors[0].contains(fx.double.client_id()), "{stdout}");
    assert!(!String::from_utf8_lossy(&failed.stderr).contains("panicked"));
    Ok(())
}
