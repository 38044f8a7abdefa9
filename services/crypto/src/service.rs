//! The `sharer.crypto.v1.CryptoService` gRPC handlers: parse, seal or open, respond.

use std::sync::Arc;

use sharer_core::SecretId;
use sharer_core::proto::crypto::crypto_service_server::CryptoService;
use sharer_core::proto::crypto::{OpenRequest, OpenResponse, SealRequest, SealResponse};
use tonic::{Request, Response, Status};
use zeroize::Zeroizing;

use crate::{KeyEncryptionKey, envelope};

/// Seals and opens secrets with one key-encryption key provider.
#[derive(Debug, Clone)]
pub struct CryptoApi {
    kek: Arc<dyn KeyEncryptionKey>,
}

impl CryptoApi {
    pub fn new(kek: Arc<dyn KeyEncryptionKey>) -> Self {
        Self { kek }
    }
}

#[tonic::async_trait]
impl CryptoService for CryptoApi {
    async fn seal(&self, request: Request<SealRequest>) -> Result<Response<SealResponse>, Status> {
        let SealRequest {
            secret_id,
            plaintext,
        } = request.into_inner();
        let plaintext = Zeroizing::new(plaintext);
        let secret_id = SecretId::parse(&secret_id).map_err(crate::CryptoError::from)?;

        let sealed_secret = envelope::seal(&secret_id, &plaintext, self.kek.as_ref()).await?;

        tracing::debug!(?secret_id, len = plaintext.len(), "sealed");
        Ok(Response::new(SealResponse { sealed_secret }))
    }

    async fn open(&self, request: Request<OpenRequest>) -> Result<Response<OpenResponse>, Status> {
        let OpenRequest {
            secret_id,
            sealed_secret,
        } = request.into_inner();
        let secret_id = SecretId::parse(&secret_id).map_err(crate::CryptoError::from)?;

        let mut plaintext = envelope::open(&secret_id, &sealed_secret, self.kek.as_ref())
            .await
            .inspect_err(|error| tracing::info!(?secret_id, %error, "open refused"))?;

        tracing::debug!(?secret_id, len = plaintext.len(), "opened");
        // Known shortcoming: the plaintext handed to tonic (moved, not copied) is encoded into
        // its own buffers and freed without zeroizing; only copies we keep are wiped.
        Ok(Response::new(OpenResponse {
            plaintext: std::mem::take(&mut *plaintext),
        }))
    }
}
