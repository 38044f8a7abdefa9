//! The `sharer.storage.v1.StorageService` gRPC handlers over any [`SecretStore`].

use std::sync::Arc;
use std::time::SystemTime;

use sharer_core::SecretId;
use sharer_core::proto::storage::storage_service_server::StorageService;
use sharer_core::proto::storage::{
    ConsumeSecretRequest, ConsumeSecretResponse, FetchSecretRequest, FetchSecretResponse,
    PutSecretRequest, PutSecretResponse,
};
use tonic::{Request, Response, Status};

use crate::StorageError;
use crate::store::{NewSecret, SecretStore};

/// The largest sealed secret accepted: 64 KiB of content plus its envelope.
pub const MAX_SEALED_SECRET_LEN: usize = 80 * 1024;

/// Serves one store over gRPC.
#[derive(Debug)]
pub struct StorageApi<S> {
    store: Arc<S>,
}

impl<S> StorageApi<S> {
    pub fn new(store: Arc<S>) -> Self {
        Self { store }
    }
}

#[tonic::async_trait]
impl<S: SecretStore> StorageService for StorageApi<S> {
    async fn put_secret(
        &self,
        request: Request<PutSecretRequest>,
    ) -> Result<Response<PutSecretResponse>, Status> {
        let PutSecretRequest {
            id,
            sealed_secret,
            expires_at,
        } = request.into_inner();
        let id = SecretId::parse(&id).map_err(StorageError::from)?;
        if sealed_secret.is_empty() || sealed_secret.len() > MAX_SEALED_SECRET_LEN {
            return Err(
                StorageError::InvalidArgument("sealed_secret must be 1 byte to 80 KiB").into(),
            );
        }
        let expires_at = expires_at
            .and_then(|timestamp| SystemTime::try_from(timestamp).ok())
            .filter(|expires_at| *expires_at > SystemTime::now())
            .ok_or(StorageError::InvalidArgument(
                "expires_at must be a time in the future",
            ))?;

        let len = sealed_secret.len();
        self.store
            .put(NewSecret {
                id: id.clone(),
                sealed_secret,
                expires_at,
            })
            .await?;

        tracing::debug!(secret_id = ?id, len, "stored");
        Ok(Response::new(PutSecretResponse {}))
    }

    async fn fetch_secret(
        &self,
        request: Request<FetchSecretRequest>,
    ) -> Result<Response<FetchSecretResponse>, Status> {
        let id = SecretId::parse(&request.into_inner().id).map_err(StorageError::from)?;

        match self.store.fetch(&id, SystemTime::now()).await? {
            Some(sealed_secret) => Ok(Response::new(FetchSecretResponse { sealed_secret })),
            None => Err(Status::not_found("secret not found")),
        }
    }

    async fn consume_secret(
        &self,
        request: Request<ConsumeSecretRequest>,
    ) -> Result<Response<ConsumeSecretResponse>, Status> {
        let id = SecretId::parse(&request.into_inner().id).map_err(StorageError::from)?;

        let consumed = self.store.consume(&id, SystemTime::now()).await?;

        tracing::debug!(secret_id = ?id, consumed, "consume");
        Ok(Response::new(ConsumeSecretResponse { consumed }))
    }
}
