//! The gateway's clients of crypto and storage: one long-lived HTTP/2 channel each, shared by
//! every call, and a deadline on every call.

use std::time::{Duration, SystemTime};

use sharer_core::SecretId;
use sharer_core::proto::crypto::crypto_service_client::CryptoServiceClient;
use sharer_core::proto::crypto::{OpenRequest, SealRequest};
use sharer_core::proto::storage::storage_service_client::StorageServiceClient;
use sharer_core::proto::storage::{ConsumeSecretRequest, FetchSecretRequest, PutSecretRequest};
use sharer_mtls::client::ClientTls;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request};
use zeroize::Zeroizing;

use crate::GatewayError;

const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(30);

/// Clients of both internal services. Cheap to clone: clones share the channels.
#[derive(Debug, Clone)]
pub struct Backends {
    crypto: CryptoServiceClient<Channel>,
    storage: StorageServiceClient<Channel>,
    call_timeout: Duration,
}

impl Backends {
    /// Prepares channels that connect on first use and reconnect on their own, so the gateway
    /// can start before its backends. With `tls`, every connection is mutual TLS and the
    /// server must prove the identity expected of it; without, calls are plaintext for a mesh
    /// proxy to secure.
    pub fn connect_lazy(
        crypto: &Backend,
        storage: &Backend,
        tls: Option<&ClientTls>,
        call_timeout: Duration,
    ) -> Result<Self, String> {
        let crypto = CryptoServiceClient::new(channel(crypto, tls)?);
        let storage = StorageServiceClient::new(channel(storage, tls)?);
        Ok(Self {
            crypto,
            storage,
            call_timeout,
        })
    }

    pub async fn seal(&self, id: &SecretId, plaintext: Vec<u8>) -> Result<Vec<u8>, GatewayError> {
        let request = SealRequest {
            secret_id: id.to_string(),
            plaintext,
        };
        let response = self.crypto.clone().seal(self.deadline(request)).await;
        Ok(response
            .map_err(GatewayError::crypto_seal)?
            .into_inner()
            .sealed_secret)
    }

    pub async fn open(
        &self,
        id: &SecretId,
        sealed_secret: Vec<u8>,
    ) -> Result<Zeroizing<Vec<u8>>, GatewayError> {
        let request = OpenRequest {
            secret_id: id.to_string(),
            sealed_secret,
        };
        let response = self.crypto.clone().open(self.deadline(request)).await;
        Ok(Zeroizing::new(
            response
                .map_err(GatewayError::crypto_open)?
                .into_inner()
                .plaintext,
        ))
    }

    pub async fn put(
        &self,
        id: &SecretId,
        sealed_secret: Vec<u8>,
        expires_at: SystemTime,
    ) -> Result<(), GatewayError> {
        let request = PutSecretRequest {
            id: id.to_string(),
            sealed_secret,
            expires_at: Some(expires_at.into()),
        };
        self.storage
            .clone()
            .put_secret(self.deadline(request))
            .await
            .map_err(GatewayError::storage)?;
        Ok(())
    }

    /// The sealed secret, or `None` when storage has no live secret under `id`.
    pub async fn fetch(&self, id: &SecretId) -> Result<Option<Vec<u8>>, GatewayError> {
        let request = FetchSecretRequest { id: id.to_string() };
        match self
            .storage
            .clone()
            .fetch_secret(self.deadline(request))
            .await
        {
            Ok(response) => Ok(Some(response.into_inner().sealed_secret)),
            Err(status) if status.code() == Code::NotFound => Ok(None),
            Err(status) => Err(GatewayError::storage(status)),
        }
    }

    /// True only for the one caller whose delete consumed the secret.
    pub async fn consume(&self, id: &SecretId) -> Result<bool, GatewayError> {
        let request = ConsumeSecretRequest { id: id.to_string() };
        let response = self
            .storage
            .clone()
            .consume_secret(self.deadline(request))
            .await;
        Ok(response
            .map_err(GatewayError::storage)?
            .into_inner()
            .consumed)
    }

    fn deadline<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request.set_timeout(self.call_timeout);
        request
    }
}

/// Where one backend is and which identity it must prove.
#[derive(Debug, Clone)]
pub struct Backend {
    pub url: String,
    pub identity: String,
}

fn channel(backend: &Backend, tls: Option<&ClientTls>) -> Result<Channel, String> {
    let endpoint = endpoint(&backend.url)?;
    match tls {
        None => Ok(endpoint.connect_lazy()),
        Some(tls) => {
            let connector = tls
                .connector(&backend.identity)
                .map_err(|error| error.to_string())?;
            Ok(endpoint.connect_with_connector_lazy(connector))
        }
    }
}

/// The endpoint for `host:port`; the scheme is always `http` here because TLS, when used, is
/// added by our own connector.
fn endpoint(url: &str) -> Result<Endpoint, String> {
    let authority = url
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let endpoint = Endpoint::from_shared(format!("http://{authority}"))
        .map_err(|error| format!("invalid backend URL {url:?}: {error}"))?;
    Ok(endpoint
        .connect_timeout(CONNECT_TIMEOUT)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_while_idle(true))
}
