//! A test double of the two Azure services Secret Sharer's crypto service talks to: the Key Vault
//! keys REST API (get key, wrapkey, unwrapkey, create version, update, delete) and the Entra ID
//! token endpoint for the workload-identity client-assertion grant.
//!
//! It serves HTTPS on loopback with a throwaway certificate authority it generates at start, so
//! the real Azure SDK for Rust can be pointed at it. It can add latency, fail or throttle
//! requests, and go down; it counts the calls it served by operation and outcome. All of that is
//! reachable from Rust through [`DoubleHandle`] and over HTTP under `/_double/`.
//!
//! It never stands in for Key Vault outside tests: keys live in memory only and the admin paths
//! have no authentication.

#![forbid(unsafe_code)]

mod admin;
mod counters;
mod entra;
mod error;
mod faults;
mod keys;
mod reply;
mod server;
mod tls;
mod vault;

use std::{
    net::{IpAddr, Ipv4Addr, SocketAddr},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::task::JoinHandle;

pub use counters::{Counters, Operation, Outcome};
pub use error::DoubleError;
pub use faults::{DownMode, FaultState, FaultTarget};
pub use keys::KeyInfo;

use server::Shared;

/// The domain under which vault host names resolve to the double (`{vault}.vault.localhost`).
/// Challenges for such hosts name `https://vault.localhost` as their resource, so the SDK's
/// check that the vault host ends with the challenge resource's host passes.
pub const LOCAL_VAULT_DOMAIN: &str = "vault.localhost";

/// The resource named in challenges for any other host, as public-cloud Key Vault does.
pub const AZURE_VAULT_RESOURCE: &str = "https://vault.azure.net";

/// The federated token the double expects as the client assertion. Its `Debug` prints no bytes.
#[derive(Clone)]
pub struct FederatedToken(zeroize::Zeroizing<String>);

impl FederatedToken {
    pub fn new(token: impl Into<String>) -> Self {
        Self(zeroize::Zeroizing::new(token.into()))
    }

    /// A fresh random token shaped like a JWT (three base64url parts), as a projected
    /// Kubernetes service-account token is.
    pub fn random() -> Self {
        Self::new(keys::random_jwt_like())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for FederatedToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FederatedToken")
            .field("len", &self.0.len())
            .finish()
    }
}

/// How to start the double.
#[derive(Clone, Debug)]
pub struct DoubleConfig {
    /// Address of the HTTPS listener serving Entra ID, Key Vault and `/_double/`.
    pub listen: SocketAddr,
    /// Optional second HTTPS listener serving only `/_double/`; it stays up when the main
    /// listener is taken down with [`DownMode::Refuse`].
    pub admin_listen: Option<SocketAddr>,
    pub tenant_id: String,
    pub client_id: String,
    pub federated_token: FederatedToken,
    /// Where to write the CA certificate as PEM, if anywhere.
    pub ca_pem_path: Option<PathBuf>,
    /// Extra DNS names for the server certificate, besides `localhost`, `*.localhost`,
    /// `vault.localhost`, `*.vault.localhost`, `127.0.0.1` and `::1`.
    pub extra_dns_names: Vec<String>,
    /// Keys created at start, each with one enabled RSA-2048 version.
    pub keys: Vec<String>,
    /// `expires_in` of issued access tokens.
    pub token_lifetime: Duration,
    /// Resource named in challenges for hosts outside [`LOCAL_VAULT_DOMAIN`].
    pub resource: String,
}

impl Default for DoubleConfig {
    fn default() -> Self {
        Self {
            listen: SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0),
            admin_listen: None,
            tenant_id: "00000000-0000-0000-0000-000000000001".to_owned(),
            client_id: "00000000-0000-0000-0000-000000000002".to_owned(),
            federated_token: FederatedToken::random(),
            ca_pem_path: None,
            extra_dns_names: Vec::new(),
            keys: Vec::new(),
            token_lifetime: Duration::from_secs(3600),
            resource: AZURE_VAULT_RESOURCE.to_owned(),
        }
    }
}

/// Starts the double and returns once its listeners are bound.
pub async fn start(config: DoubleConfig) -> Result<DoubleHandle, DoubleError> {
    let identity = tls::TestPki::generate(&config.extra_dns_names)?;
    if let Some(path) = &config.ca_pem_path {
        std::fs::write(path, identity.ca_pem()).map_err(|source| DoubleError::WriteFile {
            path: path.clone(),
            source,
        })?;
    }
    let tls_config = identity.server_config()?;

    let listener = server::bind(config.listen).await?;
    let addr = listener.local_addr().map_err(|source| DoubleError::Bind {
        addr: config.listen,
        source,
    })?;
    let admin_listener = match config.admin_listen {
        Some(admin) => Some(server::bind(admin).await?),
        None => None,
    };
    let admin_addr = match (&admin_listener, config.admin_listen) {
        (Some(l), Some(asked)) => Some(l.local_addr().map_err(|source| DoubleError::Bind {
            addr: asked,
            source,
        })?),
        _ => None,
    };

    let shared = Shared::new(&config, addr);
    for name in &config.keys {
        shared.create_key_version(name).await?;
    }

    let mut tasks = vec![tokio::spawn(server::serve_main(
        shared.clone(),
        listener,
        tls_config.clone(),
    ))];
    if let Some(l) = admin_listener {
        tasks.push(tokio::spawn(server::serve_admin(
            shared.clone(),
            l,
            tls_config,
        )));
    }
    tracing::info!(%addr, ?admin_addr, "keyvault double listening");

    Ok(DoubleHandle {
        shared,
        addr,
        admin_addr,
        ca_pem: identity.ca_pem().to_owned(),
        ca_pem_path: config.ca_pem_path,
        tasks,
    })
}

/// A running double. Dropping it stops the listeners.
#[derive(Debug)]
pub struct DoubleHandle {
    shared: Arc<Shared>,
    addr: SocketAddr,
    admin_addr: Option<SocketAddr>,
    ca_pem: String,
    ca_pem_path: Option<PathBuf>,
    tasks: Vec<JoinHandle<()>>,
}

impl DoubleHandle {
    /// Bound address of the main listener.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bound address of the admin-only listener, if one was asked for.
    pub fn admin_addr(&self) -> Option<SocketAddr> {
        self.admin_addr
    }

    /// Base URL of the double's Entra ID endpoint, for `AZURE_AUTHORITY_HOST` or the SDK's
    /// custom cloud configuration.
    pub fn authority_host(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Vault URL by IP address. The SDK rejects its challenges unless the client is built with
    /// `verify_challenge_resource: Some(false)`.
    pub fn vault_url(&self) -> String {
        format!("https://{}/", self.addr)
    }

    /// Host name of a vault under [`LOCAL_VAULT_DOMAIN`]; the client must resolve it to
    /// [`Self::addr`] itself (the system resolver usually does not).
    pub fn vault_host(&self, vault: &str) -> String {
        format!("{vault}.{LOCAL_VAULT_DOMAIN}")
    }

    /// Vault URL under [`LOCAL_VAULT_DOMAIN`]; passes the SDK's default challenge check.
    pub fn named_vault_url(&self, vault: &str) -> String {
        format!("https://{}:{}/", self.vault_host(vault), self.addr.port())
    }

    pub fn tenant_id(&self) -> &str {
        &self.shared.settings.tenant_id
    }

    pub fn client_id(&self) -> &str {
        &self.shared.settings.client_id
    }

    /// The CA certificate clients must trust, as PEM.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_pem_path(&self) -> Option<&Path> {
        self.ca_pem_path.as_deref()
    }

    /// Adds this much latency to every request the fault target covers.
    pub fn set_latency(&self, latency: Duration) {
        self.shared.faults().latency_ms = duration_ms(latency);
    }

    /// Answers the next `count` targeted requests with `status` (a 5xx code).
    pub fn fail_next(&self, count: u32, status: u16) {
        let mut faults = self.shared.faults();
        faults.fail_next = count;
        faults.fail_status = status;
    }

    /// Answers the next `count` targeted requests with 429 and `Retry-After: {retry_after}`
    /// (whole seconds).
    pub fn throttle_next(&self, count: u32, retry_after: Duration) {
        let mut faults = self.shared.faults();
        faults.throttle_next = count;
        faults.retry_after_secs = retry_after.as_secs();
    }

    /// Chooses which requests latency, failures and throttling apply to.
    pub fn set_fault_target(&self, target: FaultTarget) {
        self.shared.faults().target = target;
    }

    /// Takes the double down until [`Self::come_up`], or for `duration` if given.
    pub fn go_down(&self, mode: DownMode, duration: Option<Duration>) {
        self.shared.go_down(mode, duration);
    }

    pub fn come_up(&self) {
        self.shared.come_up();
    }

    /// Removes latency, pending failures and throttling, and brings the double up.
    pub fn clear_faults(&self) {
        self.shared.clear_faults();
    }

    pub fn faults_snapshot(&self) -> FaultState {
        self.shared.faults().clone()
    }

    /// Calls served so far, by operation and outcome.
    pub fn counters(&self) -> Counters {
        self.shared.counters()
    }

    pub fn reset_counters(&self) {
        self.shared.reset_counters();
    }

    /// Creates a key, or a new current version of an existing one, as `POST /keys/{name}/create`
    /// would, without counting a call.
    pub async fn create_key_version(&self, name: &str) -> Result<KeyInfo, DoubleError> {
        self.shared.create_key_version(name).await
    }

    /// Enables or disables one version (an empty version means the current one).
    pub fn set_enabled(
        &self,
        name: &str,
        version: &str,
        enabled: bool,
    ) -> Result<KeyInfo, DoubleError> {
        self.shared.set_enabled(name, version, enabled)
    }

    /// Deletes a key with all its versions.
    pub fn delete_key(&self, name: &str) -> Result<(), DoubleError> {
        self.shared.delete_key(name)
    }

    /// Public view of one version (an empty version means the current one).
    pub fn key(&self, name: &str, version: &str) -> Result<KeyInfo, DoubleError> {
        self.shared.key_info(name, version)
    }

    /// Stops the listeners and closes open connections.
    pub async fn shutdown(mut self) {
        self.shared.shut_down();
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
    }
}

impl Drop for DoubleHandle {
    fn drop(&mut self) {
        self.shared.shut_down();
    }
}

fn duration_ms(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}
