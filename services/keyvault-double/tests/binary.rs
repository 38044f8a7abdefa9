//! The standalone binary: it prints the settings a client needs, creates the federated token
//! file, serves the real SDK with nothing but those settings, and keeps its admin listener up
//! while the main one refuses connections.

use std::{
    collections::HashMap,
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::Arc,
    time::Duration,
};

use azure_core::{
    cloud::{CloudConfiguration, CustomConfiguration},
    http::{ClientOptions, RetryOptions, Transport},
};
use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_keys::{
    KeyClient, KeyClientOptions, ResourceExt,
    models::{EncryptionAlgorithm, KeyOperationParameters},
};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

/// Kills the child when the test ends, whatever happens.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn the_binary_serves_the_sdk_from_its_printed_settings() -> TestResult {
    let dir = tempfile::tempdir()?;
    let token_file = dir.path().join("token");
    let ca_file = dir.path().join("ca.pem");
    let mut child = Running(
        Command::new(env!("CARGO_BIN_EXE_keyvault-double"))
            .env("KVDOUBLE_FEDERATED_TOKEN_FILE", &token_file)
            .env("KVDOUBLE_CA_FILE", &ca_file)
            .env("KVDOUBLE_ADMIN_LISTEN", "127.0.0.1:0")
            .env("KVDOUBLE_KEYS", "kek-a,kek-b")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().ok_or("no stdout")?;
    let settings = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            .take(9)
            .filter_map(|l| l.split_once('=').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect::<HashMap<_, _>>()
    })
    .await?;
    let get = |name: &str| {
        settings
            .get(name)
            .cloned()
            .ok_or(format!("{name} not printed"))
    };

    let ca = reqwest::Certificate::from_pem(&std::fs::read(get("SSL_CERT_FILE")?)?)?;
    let http = reqwest::Client::builder()
        .tls_certs_only([ca])
        .http1_only()
        .build()?;
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = get("AZURE_AUTHORITY_HOST")?;
    let options = ClientOptions {
        transport: Some(Transport::new(Arc::new(http.clone()))),
        retry: RetryOptions::none(),
        cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
        ..ClientOptions::default()
    };
    let credential = WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: options.clone(),
        },
        client_id: Some(get("AZURE_CLIENT_ID")?),
        tenant_id: Some(get("AZURE_TENANT_ID")?),
        token_file_path: Some(get("AZURE_FEDERATED_TOKEN_FILE")?.into()),
    }))?;
    let client = KeyClient::new(
        &get("KVDOUBLE_VAULT_URL")?,
        credential,
        Some(KeyClientOptions {
            client_options: options,
            verify_challenge_resource: Some(false),
            ..KeyClientOptions::default()
        }),
    )?;

    let params = KeyOperationParameters {
        algorithm: Some(EncryptionAlgorithm::RsaOaep256),
        value: Some(vec![8u8; 32]),
        ..KeyOperationParameters::default()
    };
    let wrapped = client
        .wrap_key("kek-b", params.clone().try_into()?, None)
        .await?
        .into_model()?;
    let version = wrapped.resource_id()?.version.unwrap_or_default();
    let unwrapped = client
        .unwrap_key(
            "kek-b",
            &version,
            KeyOperationParameters {
                value: wrapped.result,
                ..params
            }
            .try_into()?,
            None,
        )
        .await?
        .into_model()?;

    let admin = get("KVDOUBLE_ADMIN_URL")?;
    let down = http
        .post(format!("{admin}down"))
        .body(r#"{"mode":"refuse"}"#)
        .send()
        .await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = client.get_key("kek-a", None).await;
    let health = http.get(format!("{admin}health")).send().await?;
    let up = http.post(format!("{admin}up")).send().await?;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let back = client.get_key("kek-a", None).await;

    assert_eq!(unwrapped.result, Some(vec![8u8; 32]));
    assert!(!std::fs::read_to_string(&token_file)?.is_empty());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&token_file)?.permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    assert_eq!(down.status(), 200);
    assert!(refused.is_err(), "main listener refuses while down");
    assert_eq!(health.status(), 200, "admin listener stays up");
    assert_eq!(up.status(), 200);
    assert!(back.is_ok(), "back up: {:?}", back.err());
    Ok(())
}
