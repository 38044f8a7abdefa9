//! The production key-encryption key: an RSA key in Azure Key Vault that never leaves it,
//! reached with Workload Identity, behind a key hierarchy that keeps Key Vault off the hot path.
//!
//! ```text
//! Key Vault RSA key version ──wraps (RSA-OAEP-256, locally with the cached public key)──┐
//!                                                                                        ▼
//!                               intermediate key (256 bits, in memory, rotates by age/uses)
//!                                                                                        │
//!                                           seals (XChaCha20-Poly1305, locally) ◄────────┘
//!                                                                                        ▼
//!                                                    per-secret data key (as for any provider)
//! ```
//!
//! Sealing makes no Key Vault call: the intermediate is wrapped with the public key fetched at
//! start and refreshed in the background. Opening makes at most one Key Vault unwrap per
//! intermediate per replica; unwrapped intermediates are cached, bounded in count and lifetime.
//! The wrapped intermediate and the key version travel in every sealed secret (see [`format`]),
//! so any replica can open any secret and crypto stays stateless. See `docs/key-hierarchy.md`.

mod cache;
pub mod calls;
pub mod format;
mod intermediate;
pub mod settings;
mod vault;

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, RwLock, Weak};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use tokio::task::JoinHandle;

use self::cache::IntermediateCache;
use self::calls::{CallCounters, VaultCalls};
use self::format::IntermediateId;
use self::intermediate::{IntermediateKey, SealingKey, VaultKeyVersion};
pub use self::settings::{CacheBounds, KeyVaultArgs, KeyVaultSettings, Rotation, WorkloadIdentity};
use self::vault::{Vault, VaultError};
use crate::{CryptoError, DataKey, KeyEncryptionKey, WrappedDataKey};

/// Starting the provider failed: the one line `main` prints before exiting.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot use key {key_name:?} in Azure Key Vault {vault_url} as workload identity client \
     {client_id}: {reason}"
)]
pub struct StartError {
    pub vault_url: String,
    pub key_name: String,
    pub client_id: String,
    pub reason: String,
}

/// Data keys wrapped under intermediates wrapped by an Azure Key Vault RSA key.
pub struct AzureKeyVaultKek {
    inner: Arc<Inner>,
    refresher: JoinHandle<()>,
}

struct Inner {
    vault: Vault,
    /// `{vault}/keys/{name}/`: every `kek_id` this provider wrote starts with it.
    kid_prefix: String,
    rotation: Rotation,
    refresh_interval: Duration,
    current: RwLock<Arc<VaultKeyVersion>>,
    sealing: RwLock<Option<Arc<SealingKey>>>,
    rotating: Mutex<()>,
    cache: Arc<IntermediateCache>,
    /// Versions Key Vault called disabled or deleted, and when; forgotten after one refresh
    /// interval so a re-enabled version works again.
    disabled: Mutex<HashMap<String, Instant>>,
    calls: Arc<CallCounters>,
    logged_calls: Mutex<VaultCalls>,
}

impl AzureKeyVaultKek {
    /// Builds the credential and client, fetches the key's current version (one Key Vault
    /// call) and starts the background refresh. Fails with one line naming vault, key and
    /// identity.
    pub async fn connect(settings: KeyVaultSettings) -> Result<Self, StartError> {
        let start_error = |reason: String| StartError {
            vault_url: settings.vault_url.clone(),
            key_name: settings.key_name.clone(),
            client_id: settings
                .identity
                .client_id
                .clone()
                .or_else(|| std::env::var("AZURE_CLIENT_ID").ok())
                .unwrap_or_else(|| "(AZURE_CLIENT_ID unset)".to_owned()),
            reason,
        };

        let calls = Arc::new(CallCounters::default());
        let vault = Vault::new(&settings, Arc::clone(&calls)).map_err(start_error)?;
        let current = vault.get_key(None).await.map_err(|error| {
            start_error(match error {
                VaultError::Disabled(reason) => {
                    format!("the key does not exist, or its current version is disabled: {reason}")
                }
                other => other.to_string(),
            })
        })?;
        if !current.enabled {
            return Err(start_error(format!(
                "its current version {} is disabled",
                current.version
            )));
        }
        let kid_prefix = current
            .kid
            .strip_suffix(&current.version)
            .unwrap_or(&current.kid)
            .to_owned();

        let inner = Arc::new(Inner {
            vault,
            kid_prefix,
            rotation: settings.rotation,
            refresh_interval: settings.refresh_interval,
            current: RwLock::new(Arc::new(current)),
            sealing: RwLock::new(None),
            rotating: Mutex::new(()),
            cache: Arc::new(IntermediateCache::new(settings.cache)),
            disabled: Mutex::new(HashMap::new()),
            calls,
            logged_calls: Mutex::new(VaultCalls::default()),
        });
        let refresher = tokio::spawn(refresh_loop(
            Arc::downgrade(&inner),
            settings.refresh_interval,
        ));

        tracing::info!(
            kek_id = %inner.current_version().kid,
            refresh_secs = settings.refresh_interval.as_secs(),
            intermediate_max_age_secs = settings.rotation.max_age.as_secs(),
            intermediate_max_uses = settings.rotation.max_uses,
            "azure key vault key-encryption key ready"
        );
        Ok(Self { inner, refresher })
    }

    /// The `kek_id` new secrets record: `{vault}/keys/{name}/{current version}`.
    pub fn current_kek_id(&self) -> String {
        self.inner.current_version().kid.clone()
    }

    /// Key Vault calls this replica made, by operation and outcome.
    pub fn calls(&self) -> VaultCalls {
        self.inner.calls.snapshot()
    }

    /// Unwrapped intermediate keys held now.
    pub fn cached_intermediates(&self) -> usize {
        self.inner.cache.len()
    }

    /// Runs one background refresh now: picks up a new current version, drops cached
    /// intermediates of disabled or deleted versions, expires old ones.
    pub async fn refresh_now(&self) {
        self.inner.refresh().await;
    }
}

impl Drop for AzureKeyVaultKek {
    fn drop(&mut self) {
        self.refresher.abort();
    }
}

impl fmt::Debug for AzureKeyVaultKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AzureKeyVaultKek")
            .field("vault", &self.inner.vault)
            .field("current", &self.inner.current_version())
            .field("cache", &self.inner.cache)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl KeyEncryptionKey for AzureKeyVaultKek {
    async fn wrap(&self, data_key: &DataKey) -> Result<WrappedDataKey, CryptoError> {
        let sealing = self.inner.sealing_key()?;
        let bytes = sealing
            .key
            .seal_data_key(&sealing.encoded_header, data_key)?;
        Ok(WrappedDataKey {
            kek_id: sealing.kid.clone(),
            bytes,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedDataKey) -> Result<DataKey, CryptoError> {
        let version = wrapped
            .kek_id
            .strip_prefix(&self.inner.kid_prefix)
            .filter(|version| format::is_version_text(version))
            .ok_or_else(|| CryptoError::UnknownKek {
                kek_id: wrapped.kek_id.clone(),
            })?;
        let parsed = format::parse(&wrapped.bytes)?;
        if parsed.header.key_version != version {
            return Err(CryptoError::MalformedSealedSecret);
        }

        let id = format::intermediate_id(parsed.encoded_header);
        let key = Arc::clone(&self.inner)
            .intermediate(id, parsed.header, &wrapped.kek_id)
            .await?;
        key.open_data_key(parsed.encoded_header, parsed.nonce, parsed.sealed_data_key)
    }
}

impl Inner {
    fn current_version(&self) -> Arc<VaultKeyVersion> {
        Arc::clone(&self.current.read().unwrap_or_else(PoisonError::into_inner))
    }

    fn current_sealing(&self) -> Option<Arc<SealingKey>> {
        self.sealing
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The intermediate that seals new data keys, replaced when too old, too used, or wrapped
    /// by a version that is no longer current. Makes no Key Vault call.
    fn sealing_key(&self) -> Result<Arc<SealingKey>, CryptoError> {
        let current = self.current_version();
        if !current.enabled {
            return Err(CryptoError::KekDisabled {
                kek_id: current.kid.clone(),
            });
        }
        let usable = |sealing: &SealingKey| {
            sealing.take_use(
                self.rotation.max_age,
                self.rotation.max_uses,
                &current.version,
            )
        };
        if let Some(sealing) = self.current_sealing().filter(|s| usable(s)) {
            return Ok(sealing);
        }

        let _rotating = lock(&self.rotating);
        if let Some(sealing) = self.current_sealing().filter(|s| usable(s)) {
            return Ok(sealing);
        }
        let fresh = Arc::new(SealingKey::create(&current)?);
        usable(&fresh);
        self.cache
            .insert(fresh.id, &fresh.version, Arc::clone(&fresh.key));
        let previous = self
            .sealing
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .replace(Arc::clone(&fresh));

        tracing::info!(
            kek_id = %fresh.kid,
            previous_uses = previous.as_ref().map_or(0, |p| p.uses()),
            "new intermediate key"
        );
        Ok(fresh)
    }

    /// The unwrapped intermediate named by `header`: ours, cached, or unwrapped by Key Vault
    /// once however many callers ask at the same time.
    async fn intermediate(
        self: Arc<Self>,
        id: IntermediateId,
        header: format::Header,
        kek_id: &str,
    ) -> Result<Arc<IntermediateKey>, CryptoError> {
        if let Some(sealing) = self.current_sealing().filter(|s| s.id == id) {
            return Ok(Arc::clone(&sealing.key));
        }
        if let Some(key) = self.cache.get(&id) {
            return Ok(key);
        }
        if self.known_disabled(&header.key_version) {
            return Err(CryptoError::KekDisabled {
                kek_id: kek_id.to_owned(),
            });
        }

        let version = header.key_version.clone();
        let this = Arc::clone(&self);
        let load = async move {
            let raw = this
                .vault
                .unwrap(&header.key_version, &header.wrapped_intermediate)
                .await?;
            IntermediateKey::from_unwrapped(&raw)
                .map(Arc::new)
                .ok_or_else(|| {
                    VaultError::Rejected("the unwrapped key has the wrong length".into())
                })
        };
        match self.cache.get_or_load(id, &version, load).await {
            Ok(key) => Ok(key),
            Err(VaultError::Disabled(_)) => {
                self.mark_disabled(&version);
                Err(CryptoError::KekDisabled {
                    kek_id: kek_id.to_owned(),
                })
            }
            Err(VaultError::Rejected(reason)) => {
                tracing::info!(kek_id, %reason, "key vault refused to unwrap an intermediate key");
                Err(CryptoError::AuthenticationFailed)
            }
            Err(error) => Err(CryptoError::KekUnavailable {
                reason: error.to_string(),
            }),
        }
    }

    fn known_disabled(&self, version: &str) -> bool {
        let mut disabled = lock(&self.disabled);
        match disabled.get(version) {
            Some(since) if since.elapsed() < self.refresh_interval => true,
            Some(_) => {
                disabled.remove(version);
                false
            }
            None => false,
        }
    }

    /// Remembers a disabled or deleted version and wipes the intermediates it wrapped.
    fn mark_disabled(&self, version: &str) {
        lock(&self.disabled).insert(version.to_owned(), Instant::now());
        let evicted = self.cache.evict_version(version);
        let mut sealing = self.sealing.write().unwrap_or_else(PoisonError::into_inner);
        if sealing.as_ref().is_some_and(|s| s.version == version) {
            *sealing = None;
        }
        drop(sealing);
        tracing::warn!(
            key_version = version,
            evicted,
            "key vault key version is disabled or deleted: its secrets can no longer be opened"
        );
    }

    /// Picks up the key's current version, checks the versions cached intermediates depend on,
    /// expires old intermediates and logs the Key Vault call counters if they moved.
    async fn refresh(&self) {
        let previous = self.current_version();
        match self.vault.get_key(None).await {
            Ok(latest) if latest.kid.starts_with(&self.kid_prefix) => {
                if latest.version != previous.version || latest.enabled != previous.enabled {
                    tracing::info!(
                        kek_id = %latest.kid,
                        enabled = latest.enabled,
                        previous = %previous.kid,
                        "key vault key version changed"
                    );
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                        Arc::new(latest);
                }
            }
            Ok(latest) => {
                tracing::warn!(kek_id = %latest.kid, "key vault returned a key of another vault or name");
            }
            Err(VaultError::Disabled(_)) => {
                if previous.enabled {
                    tracing::error!(
                        kek_id = %previous.kid,
                        "the key's current version is disabled or deleted: new secrets cannot be \
                         sealed until a new enabled version exists"
                    );
                    *self.current.write().unwrap_or_else(PoisonError::into_inner) =
                        Arc::new(previous.with_enabled(false));
                }
                self.mark_disabled(&previous.version);
            }
            // Already logged and counted; keep sealing under the version we know.
            Err(_) => {}
        }

        let current = self.current_version();
        for version in self.cache.key_versions() {
            if version == current.version && current.enabled {
                continue;
            }
            match self.vault.get_key(Some(&version)).await {
                Ok(key) if key.enabled => {
                    lock(&self.disabled).remove(&version);
                }
                Ok(_) | Err(VaultError::Disabled(_)) => self.mark_disabled(&version),
                Err(_) => {}
            }
        }

        let expired = self.cache.sweep();
        if expired > 0 {
            tracing::debug!(expired, "expired cached intermediate keys");
        }
        let calls = self.calls.snapshot();
        let mut logged = lock(&self.logged_calls);
        if *logged != calls {
            calls.log();
            *logged = calls;
        }
    }
}

async fn refresh_loop(inner: Weak<Inner>, interval: Duration) {
    loop {
        tokio::time::sleep(interval).await;
        let Some(inner) = inner.upgrade() else {
            return;
        };
        inner.refresh().await;
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
