//! Everything that can go wrong in the gateway, and the one place that turns it into the status
//! a public caller sees. Backend details are logged here and never sent to callers.

use tonic::{Code, Status};

/// The message for an id that is unknown, expired or already revealed: one and the same, so
/// a caller cannot tell which.
pub const SECRET_GONE: &str =
    "secret not found: it does not exist, has expired, or has already been revealed";

/// The gateway's one error type.
#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    InvalidArgument(String),
    #[error("secret not found")]
    SecretGone,
    #[error("{backend} call failed: {status:?}")]
    Backend { backend: Backend, status: Status },
    #[error("the operating system's random generator failed")]
    RandomUnavailable,
}

/// Which internal service a call went to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    CryptoSeal,
    CryptoOpen,
    Storage,
}

impl std::fmt::Display for Backend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Backend::CryptoSeal => "crypto seal",
            Backend::CryptoOpen => "crypto open",
            Backend::Storage => "storage",
        })
    }
}

impl GatewayError {
    pub fn crypto_seal(status: Status) -> Self {
        Self::Backend {
            backend: Backend::CryptoSeal,
            status,
        }
    }

    pub fn crypto_open(status: Status) -> Self {
        Self::Backend {
            backend: Backend::CryptoOpen,
            status,
        }
    }

    pub fn storage(status: Status) -> Self {
        Self::Backend {
            backend: Backend::Storage,
            status,
        }
    }
}

impl From<GatewayError> for Status {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::InvalidArgument(message) => Status::invalid_argument(message),
            GatewayError::SecretGone => Status::not_found(SECRET_GONE),
            GatewayError::RandomUnavailable => {
                tracing::error!("random generator failed");
                Status::internal("the gateway failed; try again later")
            }
            GatewayError::Backend { backend, status } => backend_status(backend, &status),
        }
    }
}

/// What a public caller sees when crypto or storage answered with `status`.
fn backend_status(backend: Backend, status: &Status) -> Status {
    let code = status.code();
    match code {
        // Unknown is what a failed connection (a refused TLS handshake, say) looks like here.
        Code::Unavailable
        | Code::Unknown
        | Code::DeadlineExceeded
        | Code::Cancelled
        | Code::ResourceExhausted
        | Code::Aborted
        | Code::PermissionDenied
        | Code::Unauthenticated => {
            tracing::warn!(%backend, ?code, detail = status.message(), "backend unavailable");
            Status::unavailable("the service is temporarily unavailable; try again shortly")
        }
        Code::FailedPrecondition if backend == Backend::CryptoSeal => {
            tracing::error!(%backend, ?code, detail = status.message(), "cannot seal: operator action needed");
            Status::unavailable("secrets cannot be created right now; try again later")
        }
        Code::FailedPrecondition if backend == Backend::CryptoOpen => {
            tracing::warn!(%backend, ?code, detail = status.message(), "secret cannot be opened");
            Status::failed_precondition(
                "this secret can no longer be opened: the key that protected it was retired",
            )
        }
        Code::DataLoss => {
            tracing::error!(%backend, ?code, detail = status.message(), "stored secret damaged");
            Status::data_loss("the stored secret is damaged and cannot be opened")
        }
        _ => {
            tracing::error!(%backend, ?code, detail = status.message(), "backend call failed");
            Status::internal("the service failed; try again later")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backend_outages_become_unavailable_without_details() {
        for code in [
            Code::Unavailable,
            Code::DeadlineExceeded,
            Code::PermissionDenied,
        ] {
            let status: Status =
                GatewayError::storage(Status::new(code, "connection refused to 10.0.0.7")).into();
            assert_eq!(status.code(), Code::Unavailable);
            assert!(!status.message().contains("10.0.0.7"));
        }
    }

    #[test]
    fn unexpected_backend_errors_hide_their_details() {
        let status: Status =
            GatewayError::storage(Status::internal("relation \"secrets\" does not exist")).into();
        assert_eq!(status.code(), Code::Internal);
        assert!(!status.message().contains("relation"));
    }

    #[test]
    fn a_retired_key_reads_differently_for_creates_and_reveals() {
        let disabled = || Status::failed_precondition("key-encryption key v2 is disabled");

        let create: Status = GatewayError::crypto_seal(disabled()).into();
        assert_eq!(create.code(), Code::Unavailable);
        let reveal: Status = GatewayError::crypto_open(disabled()).into();
        assert_eq!(reveal.code(), Code::FailedPrecondition);
        assert!(reveal.message().contains("can no longer be opened"));
        assert!(!reveal.message().contains("v2"));
    }

    #[test]
    fn gone_secrets_share_one_message() {
        let status: Status = GatewayError::SecretGone.into();
        assert_eq!(status.code(), Code::NotFound);
        assert_eq!(status.message(), SECRET_GONE);
    }
}
