//! Listeners, connections and the per-request pipeline: route, apply faults, serve, count.

use std::{
    convert::Infallible,
    net::SocketAddr,
    sync::{
        Arc, Mutex, MutexGuard, PoisonError,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use http::{Request, StatusCode};
use http_body_util::{BodyExt, Limited};
use hyper::{body::Incoming, server::conn::http1, service::service_fn};
use hyper_util::rt::TokioIo;
use rustls::ServerConfig;
use tokio::{net::TcpListener, sync::watch};
use tokio_rustls::TlsAcceptor;

use crate::{
    Counters, DoubleConfig, DoubleError, DownMode, FaultState, LOCAL_VAULT_DOMAIN, Operation,
    Outcome,
    entra::{self, Refusal, Settings, TokenBook},
    faults::Verdict,
    keys::{KeyInfo, KeyStore, KeyVersion, Missing, valid_key_name},
    reply::{self, Reply},
    vault::{self, Route},
};

/// Largest request body read; Key Vault's own limit is far above what the keys API needs.
const MAX_BODY: usize = 1 << 20;
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the main listener accepts connections, and whether the double is stopping.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct ServeState {
    refusing: bool,
    shutdown: bool,
}

/// State shared by every connection and the handle.
pub(crate) struct Shared {
    pub(crate) settings: Settings,
    /// Challenge resource for hosts outside [`LOCAL_VAULT_DOMAIN`].
    pub(crate) resource: String,
    pub(crate) addr: SocketAddr,
    runtime: tokio::runtime::Handle,
    keys: Mutex<KeyStore>,
    tokens: Mutex<TokenBook>,
    faults: Mutex<FaultState>,
    counters: Mutex<Counters>,
    state: watch::Sender<ServeState>,
    /// Bumped by every up or down, so a timed come-back does not undo a later change.
    down_epoch: AtomicU64,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Shared")
            .field("addr", &self.addr)
            .field("tenant_id", &self.settings.tenant_id)
            .finish_non_exhaustive()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Shared {
    pub(crate) fn new(config: &DoubleConfig, addr: SocketAddr) -> Arc<Self> {
        let local_resource = format!("https://{LOCAL_VAULT_DOMAIN}");
        let mut resources = vec![config.resource.clone()];
        if config.resource != local_resource {
            resources.push(local_resource);
        }
        Arc::new(Self {
            settings: Settings {
                tenant_id: config.tenant_id.clone(),
                client_id: config.client_id.clone(),
                federated_token: config.federated_token.clone(),
                token_lifetime: config.token_lifetime,
                resources,
            },
            resource: config.resource.clone(),
            addr,
            runtime: tokio::runtime::Handle::current(),
            keys: Mutex::default(),
            tokens: Mutex::default(),
            faults: Mutex::default(),
            counters: Mutex::default(),
            state: watch::Sender::new(ServeState::default()),
            down_epoch: AtomicU64::new(0),
        })
    }

    pub(crate) fn keys(&self) -> MutexGuard<'_, KeyStore> {
        lock(&self.keys)
    }

    pub(crate) fn faults(&self) -> MutexGuard<'_, FaultState> {
        lock(&self.faults)
    }

    pub(crate) fn check_token(&self, token: &str, resource: &str) -> Result<(), Refusal> {
        lock(&self.tokens).check(token, resource)
    }

    pub(crate) fn counters(&self) -> Counters {
        lock(&self.counters).clone()
    }

    pub(crate) fn reset_counters(&self) {
        *lock(&self.counters) = Counters::default();
    }

    fn record(&self, operation: Operation, outcome: Outcome) {
        lock(&self.counters).record(operation, outcome);
    }

    pub(crate) fn go_down(self: &Arc<Self>, mode: DownMode, duration: Option<Duration>) {
        self.faults().down = Some(mode);
        let epoch = self.down_epoch.fetch_add(1, Ordering::SeqCst) + 1;
        self.state
            .send_modify(|s| s.refusing = mode == DownMode::Refuse);
        tracing::info!(?mode, ?duration, "keyvault double down");

        if let Some(duration) = duration {
            let shared = Arc::clone(self);
            self.runtime.spawn(async move {
                tokio::time::sleep(duration).await;
                if shared.down_epoch.load(Ordering::SeqCst) == epoch {
                    shared.come_up();
                }
            });
        }
    }

    pub(crate) fn come_up(&self) {
        self.faults().down = None;
        self.down_epoch.fetch_add(1, Ordering::SeqCst);
        self.state.send_modify(|s| s.refusing = false);
        tracing::info!("keyvault double up");
    }

    pub(crate) fn clear_faults(&self) {
        *self.faults() = FaultState::default();
        self.come_up();
    }

    pub(crate) fn shut_down(&self) {
        self.state.send_modify(|s| s.shutdown = true);
    }

    pub(crate) async fn create_key_version(&self, name: &str) -> Result<KeyInfo, DoubleError> {
        if !valid_key_name(name) {
            return Err(DoubleError::InvalidKeyName(name.to_owned()));
        }
        let owned = name.to_owned();
        let version = tokio::task::spawn_blocking(move || {
            KeyVersion::generate(&owned, aws_lc_rs::rsa::KeySize::Rsa2048)
        })
        .await
        .map_err(|_| DoubleError::KeyGeneration)??;
        Ok(self.keys().add(version))
    }

    fn missing(name: &str, version: &str, why: Missing) -> DoubleError {
        match why {
            Missing::Key => DoubleError::KeyNotFound(name.to_owned()),
            Missing::Version => DoubleError::VersionNotFound {
                name: name.to_owned(),
                version: version.to_owned(),
            },
        }
    }

    pub(crate) fn set_enabled(
        &self,
        name: &str,
        version: &str,
        enabled: bool,
    ) -> Result<KeyInfo, DoubleError> {
        let mut keys = self.keys();
        let found = keys
            .find_mut(name, version)
            .map_err(|why| Self::missing(name, version, why))?;
        found.info_mut().enabled = enabled;
        Ok(found.info().clone())
    }

    pub(crate) fn delete_key(&self, name: &str) -> Result<(), DoubleError> {
        self.keys()
            .delete(name)
            .map(|_| ())
            .ok_or_else(|| DoubleError::KeyNotFound(name.to_owned()))
    }

    pub(crate) fn key_info(&self, name: &str, version: &str) -> Result<KeyInfo, DoubleError> {
        self.keys()
            .find(name, version)
            .map(|v| v.info().clone())
            .map_err(|why| Self::missing(name, version, why))
    }
}

pub(crate) async fn bind(addr: SocketAddr) -> Result<TcpListener, DoubleError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| DoubleError::Bind { addr, source })
}

/// Accepts on the main listener; closes it while down in [`DownMode::Refuse`] and binds the
/// same address again when the double comes back.
pub(crate) async fn serve_main(shared: Arc<Shared>, listener: TcpListener, tls: Arc<ServerConfig>) {
    let acceptor = TlsAcceptor::from(tls);
    let mut state = shared.state.subscribe();
    let mut listener = Some(listener);

    loop {
        let current = *state.borrow_and_update();
        if current.shutdown {
            return;
        }
        if current.refusing {
            drop(listener.take());
            if state.changed().await.is_err() {
                return;
            }
            continue;
        }

        let active = match listener.take() {
            Some(active) => active,
            None => match bind(shared.addr).await {
                Ok(active) => active,
                Err(error) => {
                    tracing::warn!(%error, "cannot listen again; retrying");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        loop {
            tokio::select! {
                accepted = active.accept() => match accepted {
                    Ok((stream, _)) => spawn_connection(&shared, &acceptor, stream, false),
                    Err(error) => {
                        tracing::debug!(%error, "accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                },
                changed = state.changed() => {
                    if changed.is_err() {
                        return;
                    }
                    break;
                }
            }
        }
        listener = Some(active);
    }
}

/// Accepts on the admin-only listener until shutdown.
pub(crate) async fn serve_admin(
    shared: Arc<Shared>,
    listener: TcpListener,
    tls: Arc<ServerConfig>,
) {
    let acceptor = TlsAcceptor::from(tls);
    let mut state = shared.state.subscribe();
    loop {
        if state.borrow_and_update().shutdown {
            return;
        }
        tokio::select! {
            accepted = listener.accept() => {
                if let Ok((stream, _)) = accepted {
                    spawn_connection(&shared, &acceptor, stream, true);
                }
            }
            changed = state.changed() => {
                if changed.is_err() {
                    return;
                }
            }
        }
    }
}

/// Serves one TLS connection with HTTP/1.1; finishes the request in flight and closes when the
/// double goes down (main listener only) or stops.
fn spawn_connection(
    shared: &Arc<Shared>,
    acceptor: &TlsAcceptor,
    stream: tokio::net::TcpStream,
    admin_only: bool,
) {
    let shared = Arc::clone(shared);
    let acceptor = acceptor.clone();
    tokio::spawn(async move {
        let mut state = shared.state.subscribe();
        let tls = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
            Ok(Ok(tls)) => tls,
            Ok(Err(error)) => {
                tracing::debug!(%error, "tls handshake failed");
                return;
            }
            Err(_) => return,
        };

        let service = service_fn(move |request| {
            let shared = Arc::clone(&shared);
            async move { Ok::<_, Infallible>(handle(&shared, request, admin_only).await) }
        });
        let connection = http1::Builder::new().serve_connection(TokioIo::new(tls), service);
        tokio::pin!(connection);

        let mut closing = false;
        loop {
            tokio::select! {
                _ = connection.as_mut() => return,
                changed = state.changed(), if !closing => {
                    let now = *state.borrow_and_update();
                    if changed.is_err() || now.shutdown || (now.refusing && !admin_only) {
                        connection.as_mut().graceful_shutdown();
                        closing = true;
                    }
                }
            }
        }
    });
}

async fn handle(shared: &Arc<Shared>, request: Request<Incoming>, admin_only: bool) -> Reply {
    let (parts, body) = request.into_parts();
    let Ok(body) = Limited::new(body, MAX_BODY)
        .collect()
        .await
        .map(|b| b.to_bytes())
    else {
        return reply::vault_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            "RequestTooLarge",
            "The request body is too large or was cut off.",
            None,
        );
    };

    let path = parts.uri.path();
    if path == "/_double" || path.starts_with("/_double/") {
        return crate::admin::handle(shared, &parts, &body).await;
    }
    if admin_only {
        return reply::empty(StatusCode::NOT_FOUND);
    }

    let route = Route::parse(&parts.method, path);
    let operation = route.operation();
    let (latency, verdict) = shared.faults().decide(operation);
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let entra = operation == Operation::Token;
    let (outcome, reply) = match verdict {
        Verdict::Serve => serve(shared, route, &parts, &body).await,
        Verdict::Throttle { retry_after_secs } => (
            Outcome::Throttled,
            reply::throttled(retry_after_secs, entra),
        ),
        Verdict::Fail { status } => (Outcome::InjectedError, reply::injected(status, entra)),
        Verdict::Unavailable => (Outcome::Unavailable, reply::unavailable(entra)),
    };

    shared.record(operation, outcome);
    tracing::debug!(
        ?operation,
        ?outcome,
        status = reply.status().as_u16(),
        "served"
    );
    reply
}

async fn serve(
    shared: &Shared,
    route: Route,
    parts: &http::request::Parts,
    body: &[u8],
) -> (Outcome, Reply) {
    match route {
        Route::Token { tenant } => {
            let authority = format!("https://{}", shared.addr);
            let (granted, reply) =
                entra::token(&shared.settings, &shared.tokens, &tenant, body, &authority);
            let outcome = match (granted, reply.status()) {
                (true, _) => Outcome::Ok,
                (false, StatusCode::UNAUTHORIZED) => Outcome::Unauthorized,
                (false, _) => Outcome::BadRequest,
            };
            (outcome, reply)
        }
        Route::Unknown => (
            Outcome::NotFound,
            reply::vault_error(
                StatusCode::NOT_FOUND,
                "NotFound",
                "No such path or method.",
                None,
            ),
        ),
        route => vault::serve(shared, route, parts, body).await,
    }
}
