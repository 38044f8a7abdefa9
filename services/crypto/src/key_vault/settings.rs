//! Settings of the Azure Key Vault provider: the flags and variables `main` parses, and the typed
//! settings the provider starts from.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use azure_core::http::ClientOptions;

/// The Key Vault provider's flags, flattened into the service's `Config`. The Workload Identity
/// settings are the standard variables the AKS webhook injects into the pod.
#[derive(Debug, Clone, clap::Args)]
pub struct KeyVaultArgs {
    /// Vault URL, such as `https://my-vault.vault.azure.net/`; `azure-key-vault` provider only.
    #[arg(long, env = "SHARER_KEY_VAULT_URL")]
    pub key_vault_url: Option<String>,

    /// Name of the vault's RSA key that wraps intermediate keys (RSA-OAEP-256).
    #[arg(long, env = "SHARER_KEY_VAULT_KEY_NAME")]
    pub key_vault_key_name: Option<String>,

    /// TEST ONLY: accept authentication challenges whose resource does not match the vault
    /// host, as the local Key Vault double at `https://127.0.0.1:<port>/` needs. Never set
    /// this against Azure.
    #[arg(
        long,
        env = "SHARER_KEY_VAULT_SKIP_CHALLENGE_RESOURCE_CHECK",
        default_value_t = false
    )]
    pub key_vault_skip_challenge_resource_check: bool,

    /// Milliseconds one Key Vault operation may take, retries and `Retry-After` waits included.
    /// Keep it under the gateway's backend timeout.
    #[arg(long, env = "SHARER_KEY_VAULT_TIMEOUT_MS", default_value_t = 4000)]
    pub key_vault_timeout_ms: u64,

    /// Seconds between background checks of the key's current version and of the versions
    /// cached intermediates depend on (how soon a disabled version stops opening secrets).
    #[arg(long, env = "SHARER_KEY_VAULT_REFRESH_SECS", default_value_t = 60)]
    pub key_vault_refresh_secs: u64,

    /// Seconds an intermediate key seals new data keys before a fresh one replaces it.
    #[arg(
        long,
        env = "SHARER_INTERMEDIATE_KEY_MAX_AGE_SECS",
        default_value_t = 3600
    )]
    pub intermediate_key_max_age_secs: u64,

    /// Data keys an intermediate key seals before a fresh one replaces it.
    #[arg(
        long,
        env = "SHARER_INTERMEDIATE_KEY_MAX_USES",
        default_value_t = 100_000
    )]
    pub intermediate_key_max_uses: u64,

    /// Unwrapped intermediate keys held in memory at most; the oldest go first.
    #[arg(
        long,
        env = "SHARER_INTERMEDIATE_CACHE_MAX_KEYS",
        default_value_t = 10_000
    )]
    pub intermediate_cache_max_keys: usize,

    /// Seconds an unwrapped intermediate key stays in memory after Key Vault unwrapped it.
    #[arg(
        long,
        env = "SHARER_INTERMEDIATE_CACHE_LIFETIME_SECS",
        default_value_t = 3600
    )]
    pub intermediate_cache_lifetime_secs: u64,

    /// Workload Identity: the client id of the managed identity or app registration.
    #[arg(long, env = "AZURE_CLIENT_ID")]
    pub azure_client_id: Option<String>,

    /// Workload Identity: the Entra ID tenant.
    #[arg(long, env = "AZURE_TENANT_ID")]
    pub azure_tenant_id: Option<String>,

    /// Workload Identity: the projected service-account token file (re-read as it rotates).
    #[arg(long, env = "AZURE_FEDERATED_TOKEN_FILE")]
    pub azure_federated_token_file: Option<PathBuf>,

    /// Workload Identity: the Entra ID authority; the public cloud's if unset.
    #[arg(long, env = "AZURE_AUTHORITY_HOST")]
    pub azure_authority_host: Option<String>,
}

impl KeyVaultArgs {
    /// The typed settings, or a sentence naming the missing option.
    pub fn to_settings(&self) -> Result<KeyVaultSettings, String> {
        let vault_url = self
            .key_vault_url
            .clone()
            .ok_or("the azure-key-vault provider needs SHARER_KEY_VAULT_URL")?;
        let key_name = self
            .key_vault_key_name
            .clone()
            .ok_or("the azure-key-vault provider needs SHARER_KEY_VAULT_KEY_NAME")?;

        Ok(KeyVaultSettings {
            vault_url,
            key_name,
            identity: WorkloadIdentity {
                client_id: self.azure_client_id.clone(),
                tenant_id: self.azure_tenant_id.clone(),
                token_file: self.azure_federated_token_file.clone(),
                authority_host: self.azure_authority_host.clone(),
            },
            skip_challenge_resource_check: self.key_vault_skip_challenge_resource_check,
            timeout: Duration::from_millis(self.key_vault_timeout_ms.max(1)),
            refresh_interval: Duration::from_secs(self.key_vault_refresh_secs.max(1)),
            rotation: Rotation {
                max_age: Duration::from_secs(self.intermediate_key_max_age_secs.max(1)),
                max_uses: self.intermediate_key_max_uses.max(1),
            },
            cache: CacheBounds {
                max_keys: self.intermediate_cache_max_keys.max(1),
                lifetime: Duration::from_secs(self.intermediate_cache_lifetime_secs.max(1)),
            },
            client_options: None,
        })
    }
}

/// Everything the provider starts from.
#[derive(Clone)]
pub struct KeyVaultSettings {
    pub vault_url: String,
    pub key_name: String,
    pub identity: WorkloadIdentity,
    /// Test only: see [`KeyVaultArgs::key_vault_skip_challenge_resource_check`].
    pub skip_challenge_resource_check: bool,
    /// Deadline of one Key Vault operation, retries included.
    pub timeout: Duration,
    pub refresh_interval: Duration,
    pub rotation: Rotation,
    pub cache: CacheBounds,
    /// HTTP options for both the credential and the key client (a transport trusting a test
    /// CA, a custom cloud). `None` uses the SDK's defaults; retries are always set here.
    pub client_options: Option<ClientOptions>,
}

impl KeyVaultSettings {
    /// Settings with the defaults of [`KeyVaultArgs`] for one vault key.
    pub fn new(vault_url: impl Into<String>, key_name: impl Into<String>) -> Self {
        Self {
            vault_url: vault_url.into(),
            key_name: key_name.into(),
            identity: WorkloadIdentity::default(),
            skip_challenge_resource_check: false,
            timeout: Duration::from_secs(4),
            refresh_interval: Duration::from_secs(60),
            rotation: Rotation::default(),
            cache: CacheBounds::default(),
            client_options: None,
        }
    }
}

impl fmt::Debug for KeyVaultSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyVaultSettings")
            .field("vault_url", &self.vault_url)
            .field("key_name", &self.key_name)
            .field("identity", &self.identity)
            .field(
                "skip_challenge_resource_check",
                &self.skip_challenge_resource_check,
            )
            .field("timeout", &self.timeout)
            .field("refresh_interval", &self.refresh_interval)
            .field("rotation", &self.rotation)
            .field("cache", &self.cache)
            .field("custom_client_options", &self.client_options.is_some())
            .finish()
    }
}

/// The Workload Identity settings; `None` falls back to the standard `AZURE_*` variable.
#[derive(Clone, Debug, Default)]
pub struct WorkloadIdentity {
    pub client_id: Option<String>,
    pub tenant_id: Option<String>,
    pub token_file: Option<PathBuf>,
    pub authority_host: Option<String>,
}

/// When the intermediate key that seals new data keys is replaced.
#[derive(Clone, Copy, Debug)]
pub struct Rotation {
    pub max_age: Duration,
    pub max_uses: u64,
}

impl Default for Rotation {
    fn default() -> Self {
        Self {
            max_age: Duration::from_secs(3600),
            max_uses: 100_000,
        }
    }
}

/// Bounds of the cache of unwrapped intermediate keys.
#[derive(Clone, Copy, Debug)]
pub struct CacheBounds {
    pub max_keys: usize,
    pub lifetime: Duration,
}

impl Default for CacheBounds {
    fn default() -> Self {
        Self {
            max_keys: 10_000,
            lifetime: Duration::from_secs(3600),
        }
    }
}
