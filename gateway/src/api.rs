//! The public `sharer.v1.SecretService`: validate, then seal and store, or fetch, open and
//! consume.

use std::time::{Duration, SystemTime};

use sharer_core::SecretId;
use sharer_core::proto::public::secret_service_server::SecretService;
use sharer_core::proto::public::{
    CreateSecretRequest, CreateSecretResponse, RevealSecretRequest, RevealSecretResponse,
};
use tonic::{Request, Response, Status};

use crate::GatewayError;
use crate::backends::Backends;

/// The largest content a secret may hold.
pub const MAX_CONTENT_LEN: usize = 64 * 1024;
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 60 * 60);
pub const MIN_TTL: Duration = Duration::from_secs(60);
pub const MAX_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The public API over the internal services.
#[derive(Debug, Clone)]
pub struct SecretApi {
    backends: Backends,
}

impl SecretApi {
    pub fn new(backends: Backends) -> Self {
        Self { backends }
    }

    async fn create(
        &self,
        request: CreateSecretRequest,
    ) -> Result<CreateSecretResponse, GatewayError> {
        let CreateSecretRequest { content, ttl } = request;
        check_content(&content)?;
        let len = content.len();
        let ttl = ttl_from(ttl)?;
        let id = SecretId::generate().map_err(|_| GatewayError::RandomUnavailable)?;
        let expires_at = SystemTime::now() + ttl;

        // The content moves into the call to crypto: no copy of the plaintext is made here.
        let sealed_secret = self.backends.seal(&id, content).await?;
        self.backends.put(&id, sealed_secret, expires_at).await?;

        tracing::debug!(secret_id = ?id, len, ttl_s = ttl.as_secs(), "created");
        Ok(CreateSecretResponse {
            id: id.to_string(),
            expires_at: Some(expires_at.into()),
        })
    }

    /// Fetch, open, then consume: only the caller whose consume wins receives the plaintext,
    /// and a failure before the consume leaves the secret revealable.
    async fn reveal(
        &self,
        request: RevealSecretRequest,
    ) -> Result<RevealSecretResponse, GatewayError> {
        let id = SecretId::parse(&request.id)
            .map_err(|error| GatewayError::InvalidArgument(format!("invalid id: {error}")))?;

        let sealed_secret = self
            .backends
            .fetch(&id)
            .await?
            .ok_or(GatewayError::SecretGone)?;
        let mut plaintext = self.backends.open(&id, sealed_secret).await?;
        if !self.backends.consume(&id).await? {
            return Err(GatewayError::SecretGone);
        }

        tracing::debug!(secret_id = ?id, len = plaintext.len(), "revealed");
        Ok(RevealSecretResponse {
            content: std::mem::take(&mut *plaintext),
        })
    }
}

#[tonic::async_trait]
impl SecretService for SecretApi {
    async fn create_secret(
        &self,
        request: Request<CreateSecretRequest>,
    ) -> Result<Response<CreateSecretResponse>, Status> {
        Ok(Response::new(self.create(request.into_inner()).await?))
    }

    async fn reveal_secret(
        &self,
        request: Request<RevealSecretRequest>,
    ) -> Result<Response<RevealSecretResponse>, Status> {
        Ok(Response::new(self.reveal(request.into_inner()).await?))
    }
}

fn check_content(content: &[u8]) -> Result<(), GatewayError> {
    if content.is_empty() {
        return Err(GatewayError::InvalidArgument(
            "content must not be empty".into(),
        ));
    }
    if content.len() > MAX_CONTENT_LEN {
        return Err(GatewayError::InvalidArgument(format!(
            "content is {} bytes; the limit is {MAX_CONTENT_LEN} bytes (64 KiB)",
            content.len()
        )));
    }
    Ok(())
}

fn ttl_from(ttl: Option<prost_types::Duration>) -> Result<Duration, GatewayError> {
    let Some(ttl) = ttl else {
        return Ok(DEFAULT_TTL);
    };
    let out_of_range = || {
        GatewayError::InvalidArgument(format!(
            "ttl must be between {} seconds (1 minute) and {} seconds (7 days)",
            MIN_TTL.as_secs(),
            MAX_TTL.as_secs()
        ))
    };
    if !(0..1_000_000_000).contains(&ttl.nanos) {
        return Err(GatewayError::InvalidArgument(
            "ttl is not a valid duration: nanos must be 0 to 999,999,999".into(),
        ));
    }
    let ttl = Duration::try_from(ttl).map_err(|_| out_of_range())?;
    if ttl < MIN_TTL || ttl > MAX_TTL {
        return Err(out_of_range());
    }
    Ok(ttl)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seconds(seconds: i64) -> Option<prost_types::Duration> {
        Some(prost_types::Duration { seconds, nanos: 0 })
    }

    #[test]
    fn ttl_defaults_to_a_day_and_keeps_its_bounds() {
        assert_eq!(ttl_from(None).expect("default"), DEFAULT_TTL);
        assert_eq!(ttl_from(seconds(60)).expect("minimum"), MIN_TTL);
        assert_eq!(ttl_from(seconds(7 * 24 * 3600)).expect("maximum"), MAX_TTL);
        assert!(ttl_from(seconds(59)).is_err());
        assert!(ttl_from(seconds(7 * 24 * 3600 + 1)).is_err());
        assert!(ttl_from(seconds(-3600)).is_err());
        assert!(
            ttl_from(Some(prost_types::Duration {
                seconds: 3600,
                nanos: -5
            }))
            .is_err()
        );
    }

    #[test]
    fn content_must_be_one_byte_to_64_kib() {
        assert!(check_content(b"").is_err());
        assert!(check_content(b"x").is_ok());
        assert!(check_content(&vec![0; MAX_CONTENT_LEN]).is_ok());
        let error = check_content(&vec![0; MAX_CONTENT_LEN + 1]).expect_err("too large");
        assert!(error.to_string().contains("65537 bytes"), "{error}");
    }
}
