//! The real Azure SDK for Rust against the double: `azure_identity` 1.0's
//! `WorkloadIdentityCredential` fetching tokens from the double's Entra ID endpoint with a
//! federated token file, and `azure_security_keyvault_keys` 1.0's `KeyClient` doing challenge
//! authentication, get, wrap, unwrap, create and update. Everything is passed through options
//! (transport trusting the double's CA, authority host), so tests run in parallel, each against
//! its own double.

use std::{
    path::PathBuf,
    sync::Arc,
    time::{Duration, Instant},
};

use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey, PublicKeyComponents,
};
use azure_core::{
    cloud::{CloudConfiguration, CustomConfiguration},
    error::ErrorKind,
    http::{ClientOptions, RetryOptions, StatusCode, Transport},
};
use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_keys::{
    KeyClient, KeyClientOptions, ResourceExt,
    models::{
        CreateKeyParameters, EncryptionAlgorithm, KeyAttributes, KeyClientGetKeyOptions,
        KeyClientUpdateKeyPropertiesOptions, KeyClientWrapKeyOptions, KeyOperationParameters,
        KeyType, UpdateKeyPropertiesParameters,
    },
};
use keyvault_double::{DoubleConfig, DoubleHandle, DownMode, FederatedToken, Operation, Outcome};

type TestResult = Result<(), Box<dyn std::error::Error + Send + Sync>>;

const KEY: &str = "sharer-kek";
const VAULT: &str = "sharer";

/// A double with one key, its CA and a federated token file holding the token it expects.
struct Fixture {
    double: DoubleHandle,
    token_file: PathBuf,
    _dir: tempfile::TempDir,
}

async fn fixture() -> Result<Fixture, Box<dyn std::error::Error + Send + Sync>> {
    let dir = tempfile::tempdir()?;
    let token = FederatedToken::random();
    let token_file = dir.path().join("federated-token");
    std::fs::write(&token_file, token.expose())?;
    let double = keyvault_double::start(DoubleConfig {
        federated_token: token,
        keys: vec![KEY.to_owned()],
        ca_pem_path: Some(dir.path().join("ca.pem")),
        ..DoubleConfig::default()
    })
    .await?;
    Ok(Fixture {
        double,
        token_file,
        _dir: dir,
    })
}

/// An HTTP/1.1 client trusting only the double's CA. The system resolver does not know
/// `*.vault.localhost`, so the client resolves the vault's host name to the double itself.
fn transport(double: &DoubleHandle) -> Transport {
    let ca = reqwest::Certificate::from_pem(double.ca_pem().as_bytes()).expect("ca pem");
    let client = reqwest::Client::builder()
        .tls_certs_only([ca])
        .http1_only()
        .redirect(reqwest::redirect::Policy::none())
        .resolve(&double.vault_host(VAULT), double.addr())
        .build()
        .expect("reqwest client");
    Transport::new(Arc::new(client))
}

fn client_options(double: &DoubleHandle, retry: RetryOptions) -> ClientOptions {
    let mut cloud = CustomConfiguration::default();
    cloud.authority_host = double.authority_host();
    ClientOptions {
        transport: Some(transport(double)),
        retry,
        cloud: Some(Arc::new(CloudConfiguration::from(cloud))),
        ..ClientOptions::default()
    }
}

fn credential(
    double: &DoubleHandle,
    token_file: PathBuf,
) -> azure_core::Result<Arc<WorkloadIdentityCredential>> {
    WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions {
            client_options: client_options(double, RetryOptions::none()),
        },
        client_id: Some(double.client_id().to_owned()),
        tenant_id: Some(double.tenant_id().to_owned()),
        token_file_path: Some(token_file),
    }))
}

/// A key client for `https://sharer.vault.localhost:{port}/`, with the SDK's default challenge
/// resource check on.
fn key_client(fx: &Fixture, retry: RetryOptions) -> KeyClient {
    let credential = credential(&fx.double, fx.token_file.clone()).expect("credential");
    KeyClient::new(
        &fx.double.named_vault_url(VAULT),
        credential,
        Some(KeyClientOptions {
            client_options: client_options(&fx.double, retry),
            ..KeyClientOptions::default()
        }),
    )
    .expect("key client")
}

fn oaep256(value: Vec<u8>) -> KeyOperationParameters {
    KeyOperationParameters {
        algorithm: Some(EncryptionAlgorithm::RsaOaep256),
        value: Some(value),
        ..KeyOperationParameters::default()
    }
}

async fn wrap(
    client: &KeyClient,
    version: Option<&str>,
    dek: &[u8],
) -> azure_core::Result<(String, Vec<u8>)> {
    let options = KeyClientWrapKeyOptions {
        key_version: version.map(str::to_owned),
        ..KeyClientWrapKeyOptions::default()
    };
    let result = client
        .wrap_key(KEY, oaep256(dek.to_vec()).try_into()?, Some(options))
        .await?
        .into_model()?;
    let version = result.resource_id()?.version.unwrap_or_default();
    Ok((version, result.result.unwrap_or_default()))
}

async fn unwrap(client: &KeyClient, version: &str, wrapped: &[u8]) -> azure_core::Result<Vec<u8>> {
    let result = client
        .unwrap_key(KEY, version, oaep256(wrapped.to_vec()).try_into()?, None)
        .await?
        .into_model()?;
    Ok(result.result.unwrap_or_default())
}

fn http_status(error: &azure_core::Error) -> Option<(StatusCode, Option<String>)> {
    match error.kind() {
        ErrorKind::HttpResponse {
            status, error_code, ..
        } => Some((*status, error_code.clone())),
        _ => None,
    }
}

#[tokio::test]
async fn get_wrap_and_unwrap_through_workload_identity() -> TestResult {
    let fx = fixture().await?;
    let client = key_client(&fx, RetryOptions::none());
    let current = fx.double.key(KEY, "")?;

    let key = client.get_key(KEY, None).await?.into_model()?;
    let jwk = key.key.as_ref().ok_or("no jwk")?;
    let id = key.resource_id()?;
    let (version, wrapped) = wrap(&client, None, &[42u8; 32]).await?;
    let unwrapped = unwrap(&client, &version, &wrapped).await?;

    assert_eq!(
        id.vault_url,
        fx.double.named_vault_url(VAULT).trim_end_matches('/')
    );
    assert_eq!(id.name, KEY);
    assert_eq!(id.version.as_deref(), Some(current.version.as_str()));
    assert_eq!(jwk.n.as_deref(), Some(current.n.as_slice()));
    assert_eq!(jwk.e.as_deref(), Some(&[1u8, 0, 1][..]));
    assert_eq!(key.attributes.as_ref().and_then(|a| a.enabled), Some(true));
    assert_eq!(version, current.version);
    assert_eq!(wrapped.len(), 256);
    assert_eq!(unwrapped, vec![42u8; 32]);

    let counters = fx.double.counters();
    assert_eq!(
        counters.ok(Operation::Token),
        1,
        "one token for the whole session"
    );
    assert_eq!(counters.get(Operation::GetKey, Outcome::Challenged), 1);
    assert_eq!(counters.ok(Operation::GetKey), 1);
    assert_eq!(counters.ok(Operation::Wrap), 1);
    assert_eq!(counters.ok(Operation::Unwrap), 1);
    assert_eq!(counters.key_vault_total(), 4);
    Ok(())
}

#[tokio::test]
async fn a_key_wrapped_locally_with_the_public_jwk_unwraps_at_the_vault() -> TestResult {
    let fx = fixture().await?;
    let client = key_client(&fx, RetryOptions::none());
    let key = client.get_key(KEY, None).await?.into_model()?;
    let jwk = key.key.clone().ok_or("no jwk")?;
    let version = key.resource_id()?.version.ok_or("no version")?;
    let dek = [9u8; 32];

    let public: PublicEncryptingKey = PublicKeyComponents {
        n: jwk.n.ok_or("no n")?,
        e: jwk.e.ok_or("no e")?,
    }
    .try_into()
    .map_err(|_| "bad public key")?;
    let public = OaepPublicEncryptingKey::new(public).map_err(|_| "bad public key")?;
    let mut wrapped = vec![0u8; public.ciphertext_size()];
    let wrapped = public
        .encrypt(&OAEP_SHA256_MGF1SHA256, &dek, &mut wrapped, None)
        .map_err(|_| "local wrap failed")?
        .to_vec();
    let unwrapped = unwrap(&client, &version, &wrapped).await?;

    assert_eq!(unwrapped, dek);
    assert_eq!(fx.double.counters().ok(Operation::Wrap), 0);
    Ok(())
}

#[tokio::test]
async fn a_new_version_becomes_current_and_the_old_one_still_unwraps() -> TestResult {
    let fx = fixture().await?;
    let client = key_client(&fx, RetryOptions::none());
    let first = fx.double.key(KEY, "")?.version;
    let (v1, wrapped_v1) = wrap(&client, Some(&first), b"old data key").await?;

    let create = CreateKeyParameters {
        kty: Some(KeyType::Rsa),
        key_size: Some(2048),
        ..CreateKeyParameters::default()
    };
    let created = client
        .create_key(KEY, create.try_into()?, None)
        .await?
        .into_model()?;
    let second = created.resource_id()?.version.ok_or("no version")?;
    let (v2, wrapped_v2) = wrap(&client, None, b"new data key").await?;

    assert_eq!(v1, first);
    assert_ne!(second, first);
    assert_eq!(
        v2, second,
        "an unversioned wrap uses the new current version"
    );
    assert_eq!(unwrap(&client, &first, &wrapped_v1).await?, b"old data key");
    assert_eq!(
        unwrap(&client, &second, &wrapped_v2).await?,
        b"new data key"
    );
    let wrong = unwrap(&client, &second, &wrapped_v1)
        .await
        .expect_err("wrong version");
    assert_eq!(
        http_status(&wrong).map(|s| s.0),
        Some(StatusCode::BadRequest)
    );
    assert_eq!(fx.double.counters().ok(Operation::CreateVersion), 1);
    Ok(())
}

#[tokio::test]
async fn a_disabled_version_is_refused_with_key_vaults_error() -> TestResult {
    let fx = fixture().await?;
    let client = key_client(&fx, RetryOptions::none());
    let first = fx.double.key(KEY, "")?.version;
    let (_, wrapped) = wrap(&client, Some(&first), &[1u8; 32]).await?;

    let disable = UpdateKeyPropertiesParameters {
        key_attributes: Some(KeyAttributes {
            enabled: Some(false),
            ..KeyAttributes::default()
        }),
        ..UpdateKeyPropertiesParameters::default()
    };
    let options = KeyClientUpdateKeyPropertiesOptions {
        key_version: Some(first.clone()),
        ..KeyClientUpdateKeyPropertiesOptions::default()
    };
    let updated = client
        .update_key_properties(KEY, disable.try_into()?, Some(options))
        .await?
        .into_model()?;
    let unwrap_error = unwrap(&client, &first, &wrapped)
        .await
        .expect_err("disabled");
    let get_options = KeyClientGetKeyOptions {
        key_version: Some(first.clone()),
        ..KeyClientGetKeyOptions::default()
    };
    let get_error = client
        .get_key(KEY, Some(get_options))
        .await
        .expect_err("disabled");

    assert_eq!(updated.attributes.and_then(|a| a.enabled), Some(false));
    let forbidden = Some((StatusCode::Forbidden, Some("Forbidden".to_owned())));
    assert_eq!(http_status(&unwrap_error), forbidden);
    assert_eq!(http_status(&get_error), forbidden);
    assert!(
        unwrap_error.to_string().contains("disabled key"),
        "message names the cause: {unwrap_error}"
    );
    assert_eq!(
        fx.double
            .counters()
            .get(Operation::Unwrap, Outcome::Forbidden),
        1
    );
    assert_eq!(fx.double.counters().ok(Operation::Update), 1);

    fx.double.delete_key(KEY)?;
    let deleted = unwrap(&client, &first, &wrapped)
        .await
        .expect_err("deleted");
    assert_eq!(
        http_status(&deleted),
        Some((StatusCode::NotFound, Some("KeyNotFound".to_owned())))
    );
    Ok(())
}

#[tokio::test]
async fn a_wrong_or_missing_federated_token_is_an_authentication_error() -> TestResult {
    let fx = fixture().await?;
    let wrong_file = fx._dir.path().join("wrong-token");
    std::fs::write(&wrong_file, FederatedToken::random().expose())?;
    let wrong = credential(&fx.double, wrong_file)?;
    let client = KeyClient::new(
        &fx.double.named_vault_url(VAULT),
        wrong,
        Some(KeyClientOptions {
            client_options: client_options(&fx.double, RetryOptions::none()),
            ..KeyClientOptions::default()
        }),
    )?;

    let error = client.get_key(KEY, None).await.expect_err("wrong token");
    let missing = credential(&fx.double, fx._dir.path().join("no-such-file"))
        .expect_err("missing token file");

    assert!(matches!(error.kind(), ErrorKind::Credential), "{error:?}");
    assert!(error.to_string().contains("AADSTS70021"), "{error}");
    assert!(
        matches!(missing.kind(), ErrorKind::Credential),
        "{missing:?}"
    );
    let counters = fx.double.counters();
    assert_eq!(counters.get(Operation::Token, Outcome::Unauthorized), 1);
    assert_eq!(counters.ok(Operation::GetKey), 0);
    Ok(())
}

#[tokio::test]
async fn throttling_with_retry_after_is_honoured_by_the_sdk() -> TestResult {
    let fx = fixture().await?;
    let client = key_client(&fx, RetryOptions::default());
    client.get_key(KEY, None).await?;
    fx.double.throttle_next(1, Duration::from_secs(2));

    let started = Instant::now();
    let (version, wrapped) = wrap(&client, None, &[5u8; 32]).await?;
    let waited = started.elapsed();

    assert!(!version.is_empty() && wrapped.len() == 256);
    assert!(waited >= Duration::from_secs(2), "retried after {waited:?}");
    assert!(waited < Duration::from_secs(10), "retried after {waited:?}");
    let counters = fx.double.counters();
    assert_eq!(counters.get(Operation::Wrap, Outcome::Throttled), 1);
    assert_eq!(counters.ok(Operation::Wrap), 1);

    let no_retry = key_client(&fx, RetryOptions::none());
    no_retry.get_key(KEY, None).await?;
    fx.double.throttle_next(1, Duration::from_secs(7));
    let error = no_retry.get_key(KEY, None).await.expect_err("throttled");
    let (status, code) = http_status(&error).ok_or("not an http error")?;
    assert_eq!(
        (status, code.as_deref()),
        (StatusCode::TooManyRequests, Some("Throttled"))
    );
    Ok(())
}

#[tokio::test]
async fn injected_failures_are_retried_or_surface_without_retries() -> TestResult {
    let fx = fixture().await?;
    let client = key_client(&fx, RetryOptions::default());
    let no_retry = key_client(&fx, RetryOptions::none());
    client.get_key(KEY, None).await?;
    no_retry.get_key(KEY, None).await?;

    fx.double.fail_next(2, 503);
    let (version, _) = wrap(&client, None, &[3u8; 16]).await?;
    fx.double.fail_next(1, 500);
    let error = wrap(&no_retry, None, &[3u8; 16])
        .await
        .expect_err("injected 500");

    assert!(!version.is_empty());
    assert_eq!(
        http_status(&error).map(|s| s.0),
        Some(StatusCode::InternalServerError)
    );
    let counters = fx.double.counters();
    assert_eq!(counters.get(Operation::Wrap, Outcome::InjectedError), 3);
    assert_eq!(counters.ok(Operation::Wrap), 1);
    Ok(())
}

#[tokio::test]
async fn down_refuses_connections_or_answers_503_until_it_comes_back() -> TestResult {
    let fx = fixture().await?;
    let client = key_client(&fx, RetryOptions::none());
    client.get_key(KEY, None).await?;

    fx.double.go_down(DownMode::Refuse, None);
    tokio::time::sleep(Duration::from_millis(100)).await;
    let refused = client.get_key(KEY, None).await.expect_err("refused");
    fx.double.come_up();
    tokio::time::sleep(Duration::from_millis(100)).await;
    client.get_key(KEY, None).await?;

    fx.double
        .go_down(DownMode::Unavailable, Some(Duration::from_millis(300)));
    let unavailable = client.get_key(KEY, None).await.expect_err("unavailable");
    tokio::time::sleep(Duration::from_millis(500)).await;
    client.get_key(KEY, None).await?;

    assert!(
        matches!(refused.kind(), ErrorKind::Io | ErrorKind::Connection),
        "{refused:?}"
    );
    assert_eq!(
        http_status(&unavailable).map(|s| s.0),
        Some(StatusCode::ServiceUnavailable)
    );
    let counters = fx.double.counters();
    assert_eq!(counters.get(Operation::GetKey, Outcome::Unavailable), 1);
    assert_eq!(counters.ok(Operation::GetKey), 3);
    Ok(())
}

#[tokio::test]
async fn an_ip_vault_url_needs_the_challenge_resource_check_off() -> TestResult {
    let fx = fixture().await?;
    let make = |verify: Option<bool>| -> azure_core::Result<KeyClient> {
        KeyClient::new(
            &fx.double.vault_url(),
            credential(&fx.double, fx.token_file.clone())?,
            Some(KeyClientOptions {
                client_options: client_options(&fx.double, RetryOptions::none()),
                verify_challenge_resource: verify,
                ..KeyClientOptions::default()
            }),
        )
    };

    let checked = make(None)?
        .get_key(KEY, None)
        .await
        .expect_err("host check");
    let key = make(Some(false))?.get_key(KEY, None).await?.into_model()?;

    assert!(
        checked.to_string().contains("challenge resource"),
        "{checked}"
    );
    let id = key.resource_id()?;
    assert_eq!(id.vault_url, fx.double.vault_url().trim_end_matches('/'));
    Ok(())
}

#[tokio::test]
async fn latency_faults_and_counters_are_reachable_over_http() -> TestResult {
    let fx = fixture().await?;
    let admin = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(
            fx.double.ca_pem().as_bytes(),
        )?])
        .build()?;
    let base = format!("{}_double", fx.double.vault_url());
    let client = key_client(&fx, RetryOptions::none());
    client.get_key(KEY, None).await?;

    let set = admin
        .post(format!("{base}/faults"))
        .body(r#"{"latency_ms":300}"#)
        .send()
        .await?;
    let started = Instant::now();
    client.get_key(KEY, None).await?;
    let slow = started.elapsed();
    let created = admin
        .post(format!("{base}/keys/{KEY}/versions"))
        .send()
        .await?;
    let created: serde_json::Value = serde_json::from_slice(&created.bytes().await?)?;
    let disabled = admin
        .patch(format!("{base}/keys/{KEY}/current"))
        .body(r#"{"enabled":false}"#)
        .send()
        .await?;
    let cleared = admin.delete(format!("{base}/faults")).send().await?;
    let refused = client
        .get_key(KEY, None)
        .await
        .expect_err("current version disabled");
    let counters: serde_json::Value = serde_json::from_slice(
        &admin
            .get(format!("{base}/counters"))
            .send()
            .await?
            .bytes()
            .await?,
    )?;

    assert_eq!(set.status(), 200);
    assert!(slow >= Duration::from_millis(300), "latency {slow:?}");
    assert_eq!(created["enabled"], true);
    assert_eq!(disabled.status(), 200);
    assert_eq!(cleared.status(), 200);
    assert_eq!(
        http_status(&refused).map(|s| s.0),
        Some(StatusCode::Forbidden)
    );
    assert_eq!(counters["operations"]["get_key"]["ok"], 2);
    assert_eq!(counters["operations"]["get_key"]["forbidden"], 1);
    assert_eq!(counters["operations"]["token"]["ok"], 1);
    assert_eq!(fx.double.key(KEY, "")?.version, created["version"]);
    Ok(())
}
