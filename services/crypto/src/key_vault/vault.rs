//! The Key Vault calls the provider makes, through the official SDK with Workload Identity:
//! get a key version's public half, and unwrap an intermediate key. Each call has a deadline
//! (the SDK's own retries, honouring `Retry-After`, happen inside it), is counted by outcome, and
//! its failure is sorted into what the caller can act on.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use azure_core::error::ErrorKind;
use azure_core::http::{
    ClientOptions, ExponentialRetryOptions, RetryOptions, StatusCode, Transport,
};
use azure_identity::{
    ClientAssertionCredentialOptions, WorkloadIdentityCredential, WorkloadIdentityCredentialOptions,
};
use azure_security_keyvault_keys::models::{
    EncryptionAlgorithm, KeyClientGetKeyOptions, KeyOperationParameters, KeyType,
};
use azure_security_keyvault_keys::{KeyClient, KeyClientOptions, ResourceExt};
use zeroize::Zeroizing;

use super::calls::{CallCounters, VaultOperation, VaultOutcome};
use super::intermediate::VaultKeyVersion;
use super::settings::KeyVaultSettings;

/// The SDK's retry policy: a few exponential retries inside the operation's deadline.
const INITIAL_RETRY_DELAY_MS: i64 = 200;
const MAX_RETRIES: u32 = 4;
const MAX_RETRY_DELAY_SECS: i64 = 2;

/// Why a Key Vault operation failed, sorted by what can be done about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum VaultError {
    /// The key version is disabled or deleted: secrets under it are shredded.
    Disabled(String),
    /// No token (bad federated token, unknown client) or no permission.
    Denied(String),
    /// Still throttled once the retries and `Retry-After` waits ran out.
    Throttled(String),
    /// Unreachable or failing.
    Unavailable(String),
    /// The deadline passed.
    TimedOut(Duration),
    /// Key Vault refused the request itself, or answered something unusable.
    Rejected(String),
}

impl VaultError {
    pub fn outcome(&self) -> VaultOutcome {
        match self {
            Self::Disabled(_) => VaultOutcome::Disabled,
            Self::Denied(_) => VaultOutcome::Denied,
            Self::Throttled(_) => VaultOutcome::Throttled,
            Self::Unavailable(_) => VaultOutcome::Unavailable,
            Self::TimedOut(_) => VaultOutcome::TimedOut,
            Self::Rejected(_) => VaultOutcome::Rejected,
        }
    }
}

impl fmt::Display for VaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Disabled(reason) => write!(f, "key version disabled or deleted: {reason}"),
            Self::Denied(reason) => write!(f, "access denied: {reason}"),
            Self::Throttled(reason) => write!(f, "throttled: {reason}"),
            Self::Unavailable(reason) => write!(f, "unavailable: {reason}"),
            Self::TimedOut(after) => write!(f, "no answer within {} ms", after.as_millis()),
            Self::Rejected(reason) => write!(f, "request refused: {reason}"),
        }
    }
}

/// A key client for one vault key, with its deadline and counters.
pub struct Vault {
    client: KeyClient,
    key_name: String,
    timeout: Duration,
    calls: Arc<CallCounters>,
}

impl Vault {
    /// Builds the Workload Identity credential and the key client; makes no call yet.
    pub fn new(settings: &KeyVaultSettings, calls: Arc<CallCounters>) -> Result<Self, String> {
        let url = azure_core::http::Url::parse(&settings.vault_url)
            .map_err(|e| format!("the vault URL is invalid: {e}"))?;
        if url.scheme() != "https" {
            return Err("the vault URL must use https".to_owned());
        }
        if settings.key_name.is_empty() {
            return Err("the key name is empty".to_owned());
        }

        let mut options = settings.client_options.clone().unwrap_or_default();
        options.retry = retry_options(settings.timeout);
        if options.transport.is_none() {
            options.transport = Some(default_transport(settings.timeout)?);
        }
        let credential = credential(settings, options.clone())?;
        let client = KeyClient::new(
            &settings.vault_url,
            credential,
            Some(KeyClientOptions {
                client_options: options,
                verify_challenge_resource: Some(!settings.skip_challenge_resource_check),
                ..KeyClientOptions::default()
            }),
        )
        .map_err(|e| describe(&e))?;

        Ok(Self {
            client,
            key_name: settings.key_name.clone(),
            timeout: settings.timeout,
            calls,
        })
    }

    /// The public half of the current version (`None`) or of one version.
    pub async fn get_key(&self, version: Option<&str>) -> Result<VaultKeyVersion, VaultError> {
        let options = KeyClientGetKeyOptions {
            key_version: version.map(str::to_owned),
            ..KeyClientGetKeyOptions::default()
        };
        let call = async {
            let key = self
                .client
                .get_key(&self.key_name, Some(options))
                .await
                .map_err(|e| classify(&e))?
                .into_model()
                .map_err(|e| VaultError::Rejected(describe(&e)))?;
            parse_key(&key)
        };
        self.timed(VaultOperation::GetKey, version.unwrap_or("current"), call)
            .await
    }

    /// Has Key Vault unwrap (RSA-OAEP-256) what `version` wrapped.
    pub async fn unwrap(
        &self,
        version: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, VaultError> {
        let parameters = KeyOperationParameters {
            algorithm: Some(EncryptionAlgorithm::RsaOaep256),
            value: Some(wrapped.to_vec()),
            ..KeyOperationParameters::default()
        };
        let call = async {
            let body = parameters
                .try_into()
                .map_err(|e: azure_core::Error| VaultError::Rejected(e.to_string()))?;
            let result = self
                .client
                .unwrap_key(&self.key_name, version, body, None)
                .await
                .map_err(|e| classify(&e))?
                .into_model()
                .map_err(|e| VaultError::Rejected(describe(&e)))?;
            result
                .result
                .map(Zeroizing::new)
                .ok_or_else(|| VaultError::Rejected("the answer held no key".to_owned()))
        };
        self.timed(VaultOperation::Unwrap, version, call).await
    }

    async fn timed<T>(
        &self,
        operation: VaultOperation,
        version: &str,
        call: impl Future<Output = Result<T, VaultError>>,
    ) -> Result<T, VaultError> {
        let started = Instant::now();
        let result = tokio::time::timeout(self.timeout, call)
            .await
            .unwrap_or(Err(VaultError::TimedOut(self.timeout)));
        let elapsed_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);

        let outcome = result
            .as_ref()
            .map_or_else(VaultError::outcome, |_| VaultOutcome::Ok);
        self.calls.record(operation, outcome);
        match &result {
            Ok(_) => tracing::debug!(
                operation = operation.as_str(),
                outcome = outcome.as_str(),
                key_version = version,
                elapsed_ms,
                "key vault call"
            ),
            Err(error) => tracing::warn!(
                operation = operation.as_str(),
                outcome = outcome.as_str(),
                key_version = version,
                elapsed_ms,
                %error,
                "key vault call failed"
            ),
        }
        result
    }
}

impl fmt::Debug for Vault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Vault")
            .field("endpoint", &self.client.endpoint().as_str())
            .field("key_name", &self.key_name)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Retries stop being started after half the deadline, so that the SDK usually gives up first
/// and reports the last cause (refused, 503, 429) rather than our bare timeout.
fn retry_options(deadline: Duration) -> RetryOptions {
    let retry_window = azure_core::time::Duration::try_from(deadline / 2)
        .unwrap_or(azure_core::time::Duration::seconds(2));
    RetryOptions::exponential(ExponentialRetryOptions {
        initial_delay: azure_core::time::Duration::milliseconds(INITIAL_RETRY_DELAY_MS),
        max_retries: MAX_RETRIES,
        max_total_elapsed: retry_window,
        max_delay: azure_core::time::Duration::seconds(MAX_RETRY_DELAY_SECS),
    })
}

/// The SDK's usual HTTPS client (system roots, or `SSL_CERT_FILE`; no redirects), built here so
/// that a CA file it cannot use is a start-up error rather than a panic inside the SDK.
fn default_transport(connect_timeout: Duration) -> Result<Transport, String> {
    let client = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|error| {
            let mut reason = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                reason = format!("{reason}: {cause}");
                source = cause.source();
            }
            format!(
                "cannot build the HTTPS client (check SSL_CERT_FILE): {}",
                one_line(&reason)
            )
        })?;
    Ok(Transport::new(Arc::new(client)))
}

fn credential(
    settings: &KeyVaultSettings,
    mut client_options: ClientOptions,
) -> Result<Arc<WorkloadIdentityCredential>, String> {
    let identity = &settings.identity;
    if let Some(authority_host) = &identity.authority_host {
        let mut cloud = azure_core::cloud::CustomConfiguration::default();
        cloud.authority_host = authority_host.clone();
        client_options.cloud = Some(Arc::new(cloud.into()));
    }
    WorkloadIdentityCredential::new(Some(WorkloadIdentityCredentialOptions {
        credential_options: ClientAssertionCredentialOptions { client_options },
        client_id: identity.client_id.clone(),
        tenant_id: identity.tenant_id.clone(),
        token_file_path: identity.token_file.clone(),
    }))
    .map_err(|e| format!("workload identity: {}", describe(&e)))
}

/// Checks that the key is an RSA key with a version and public half, and keeps that half.
fn parse_key(
    key: &azure_security_keyvault_keys::models::Key,
) -> Result<VaultKeyVersion, VaultError> {
    let rejected = |reason: &str| Err(VaultError::Rejected(reason.to_owned()));
    let Some(jwk) = &key.key else {
        return rejected("the answer held no key");
    };
    let id = key
        .resource_id()
        .map_err(|e| VaultError::Rejected(format!("the key id is unusable: {e}")))?;
    let Some(version) = id.version.filter(|v| super::format::is_version_text(v)) else {
        return rejected("the key id names no usable version");
    };
    match &jwk.kty {
        Some(KeyType::Rsa | KeyType::RsaHsm) => {}
        Some(KeyType::OctHsm) => {
            return rejected(
                "the key is a Managed HSM AES key; only RSA keys (RSA-OAEP-256) are supported",
            );
        }
        _ => return rejected("the key is not an RSA key"),
    }
    if let Some(ops) = &jwk.key_ops
        && !ops.iter().any(|op| op == "unwrapKey")
    {
        return rejected("the key does not permit unwrapKey");
    }
    let (Some(n), Some(e)) = (&jwk.n, &jwk.e) else {
        return rejected("the key has no RSA public half");
    };
    let enabled = key
        .attributes
        .as_ref()
        .and_then(|a| a.enabled)
        .unwrap_or(true);
    let kid = format!("{}/keys/{}/{version}", id.vault_url, id.name);

    VaultKeyVersion::new(kid, version, enabled, n, e).map_err(VaultError::Rejected)
}

/// Sorts an SDK error by what the caller can do about it.
fn classify(error: &azure_core::Error) -> VaultError {
    let reason = describe(error);
    match error.kind() {
        ErrorKind::HttpResponse {
            status,
            raw_response,
            ..
        } => {
            let inner_code = raw_response
                .as_ref()
                .and_then(|response| inner_error_code(response.body().as_ref()));
            match *status {
                StatusCode::Forbidden
                    if inner_code.as_deref() == Some("KeyDisabled")
                        || reason.contains("disabled") =>
                {
                    VaultError::Disabled(reason)
                }
                StatusCode::NotFound => VaultError::Disabled(reason),
                StatusCode::Unauthorized | StatusCode::Forbidden => VaultError::Denied(reason),
                StatusCode::TooManyRequests => VaultError::Throttled(reason),
                status if u16::from(status) >= 500 || status == StatusCode::RequestTimeout => {
                    VaultError::Unavailable(reason)
                }
                _ => VaultError::Rejected(reason),
            }
        }
        // Entra ID answered and refused (AADSTS codes); anything else is a transport problem.
        ErrorKind::Credential if reason.contains("AADSTS") => VaultError::Denied(reason),
        ErrorKind::Credential | ErrorKind::Io | ErrorKind::Connection => {
            VaultError::Unavailable(reason)
        }
        _ => VaultError::Rejected(reason),
    }
}

/// The messages of an SDK error and of the errors it wraps, on one line, each once. The retry
/// policy's own wrapper message says nothing about the cause and is left out.
fn describe(error: &azure_core::Error) -> String {
    let mut messages: Vec<String> = Vec::new();
    let mut next: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(current) = next {
        let message = current.to_string();
        let noise = message.starts_with("non-transport error occurred");
        let repeated = messages.iter().any(|seen| seen.contains(message.trim()));
        if !noise && !repeated {
            messages.push(message);
        }
        next = current.source();
    }
    one_line(&messages.join(": "))
}

/// `error.innererror.code` of a Key Vault error body, such as `KeyDisabled`.
fn inner_error_code(body: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    value
        .pointer("/error/innererror/code")
        .and_then(serde_json::Value::as_str)
        .map(str::to_owned)
}

/// Folds an SDK message onto one line and bounds its length, for one clear log line.
pub fn one_line(message: &str) -> String {
    const LIMIT: usize = 400;
    let folded = message.split_whitespace().collect::<Vec<_>>().join(" ");
    match folded.char_indices().nth(LIMIT) {
        Some((end, _)) => format!("{}…", &folded[..end]),
        None => folded,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inner_error_codes_and_long_messages() {
        let body =
            br#"{"error":{"code":"Forbidden","message":"m","innererror":{"code":"KeyDisabled"}}}"#;
        assert_eq!(inner_error_code(body).as_deref(), Some("KeyDisabled"));
        assert_eq!(inner_error_code(b"not json"), None);

        assert_eq!(one_line("a\n  b\tc\n"), "a b c");
        assert_eq!(one_line(&"x".repeat(1000)).chars().count(), 401);
    }
}
