//! HTTP answers in the shapes Key Vault and Entra ID use.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::Full;

pub(crate) type Reply = Response<Full<Bytes>>;

pub(crate) fn json(status: StatusCode, body: &serde_json::Value) -> Reply {
    let bytes = serde_json::to_vec(body).unwrap_or_default();
    let mut response = Response::new(Full::new(Bytes::from(bytes)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json; charset=utf-8"),
    );
    response
}

pub(crate) fn empty(status: StatusCode) -> Reply {
    let mut response = Response::new(Full::new(Bytes::new()));
    *response.status_mut() = status;
    response
}

/// Key Vault's error body: `{"error":{"code":…,"message":…,"innererror":{"code":…}}}`.
pub(crate) fn vault_error(
    status: StatusCode,
    code: &str,
    message: &str,
    inner_code: Option<&str>,
) -> Reply {
    let mut error = serde_json::json!({ "code": code, "message": message });
    if let Some(inner) = inner_code {
        error["innererror"] = serde_json::json!({ "code": inner });
    }
    json(status, &serde_json::json!({ "error": error }))
}

/// 404 for a key name Key Vault does not know (or no longer knows).
pub(crate) fn key_not_found(name: &str) -> Reply {
    vault_error(
        StatusCode::NOT_FOUND,
        "KeyNotFound",
        &format!("A key with (name/id) {name} was not found in this key vault."),
        None,
    )
}

/// 404 for an unknown version of a known key.
pub(crate) fn version_not_found(name: &str, version: &str) -> Reply {
    vault_error(
        StatusCode::NOT_FOUND,
        "KeyNotFound",
        &format!("A key with (name/id) {name}/{version} was not found in this key vault."),
        None,
    )
}

/// 403 for any operation on a disabled version, as Key Vault answers.
pub(crate) fn key_disabled(operation: &str) -> Reply {
    vault_error(
        StatusCode::FORBIDDEN,
        "Forbidden",
        &format!("Operation {operation} is not allowed on a disabled key."),
        Some("KeyDisabled"),
    )
}

pub(crate) fn bad_parameter(message: &str) -> Reply {
    vault_error(StatusCode::BAD_REQUEST, "BadParameter", message, None)
}

/// 401 with the bearer challenge the SDK parses for its token scope.
pub(crate) fn challenge(authority: &str, resource: &str, message: &str) -> Reply {
    let mut response = vault_error(StatusCode::UNAUTHORIZED, "Unauthorized", message, None);
    let value = format!(r#"Bearer authorization="{authority}", resource="{resource}""#);
    if let Ok(value) = HeaderValue::from_str(&value) {
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, value);
    }
    response
}

pub(crate) fn throttled(retry_after_secs: u64, entra: bool) -> Reply {
    let message = "Request was not processed because too many requests were received.";
    let mut response = if entra {
        entra_error(
            StatusCode::TOO_MANY_REQUESTS,
            "temporarily_unavailable",
            50196,
            message,
            "",
        )
    } else {
        vault_error(StatusCode::TOO_MANY_REQUESTS, "Throttled", message, None)
    };
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    response
}

pub(crate) fn injected(status: u16, entra: bool) -> Reply {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let message = "The service is temporarily unable to process the request (injected fault).";
    if entra {
        return entra_error(status, "temporarily_unavailable", 50196, message, "");
    }
    let code = if status == StatusCode::SERVICE_UNAVAILABLE {
        "ServiceUnavailable"
    } else {
        "InternalServerError"
    };
    vault_error(status, code, message, None)
}

/// 503 while the double is down in [`crate::DownMode::Unavailable`].
pub(crate) fn unavailable(entra: bool) -> Reply {
    let status = StatusCode::SERVICE_UNAVAILABLE;
    let message = "The service is unavailable (the double is down).";
    if entra {
        return entra_error(status, "temporarily_unavailable", 50196, message, "");
    }
    vault_error(status, "ServiceUnavailable", message, None)
}

/// Entra ID's OAuth error body, with `AADSTS{code}` leading the description.
pub(crate) fn entra_error(
    status: StatusCode,
    error: &str,
    code: u32,
    message: &str,
    authority: &str,
) -> Reply {
    let trace_id = crate::keys::random_hex(16);
    let correlation_id = crate::keys::random_hex(16);
    let timestamp = crate::keys::unix_now();
    let mut body = serde_json::json!({
        "error": error,
        "error_description": format!(
            "AADSTS{code}: {message} Trace ID: {trace_id} Correlation ID: {correlation_id}"
        ),
        "error_codes": [code],
        "timestamp": timestamp.to_string(),
        "trace_id": trace_id,
        "correlation_id": correlation_id,
    });
    if !authority.is_empty() {
        body["error_uri"] = format!("{authority}/error?code={code}").into();
    }
    json(status, &body)
}
