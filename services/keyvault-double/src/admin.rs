//! `/_double/…`: faults, counters and key administration over HTTP, for tests that run the double
//! as a separate process. Never subject to faults, never counted, no authentication.

use std::{sync::Arc, time::Duration};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{Method, StatusCode, request::Parts};
use serde::Deserialize;

use crate::{
    DoubleError, DownMode,
    faults::FaultPatch,
    keys::KeyInfo,
    reply::{self, Reply},
    server::Shared,
};

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct DownRequest {
    mode: DownMode,
    for_ms: Option<u64>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnableRequest {
    enabled: bool,
}

pub(crate) async fn handle(shared: &Arc<Shared>, parts: &Parts, body: &[u8]) -> Reply {
    let path = parts.uri.path().trim_start_matches("/_double");
    let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();

    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["health"]) => ok(&serde_json::json!({ "status": "ok" })),
        (&Method::GET, ["faults"]) => faults(shared),
        (&Method::POST, ["faults"]) => match serde_json::from_slice::<FaultPatch>(body) {
            Ok(patch) => {
                patch.apply(&mut shared.faults());
                faults(shared)
            }
            Err(error) => bad_request(&error.to_string()),
        },
        (&Method::DELETE, ["faults"]) => {
            shared.clear_faults();
            faults(shared)
        }
        (&Method::POST, ["down"]) => match serde_json::from_slice::<DownRequest>(body) {
            Ok(down) => {
                shared.go_down(down.mode, down.for_ms.map(Duration::from_millis));
                faults(shared)
            }
            Err(error) => bad_request(&error.to_string()),
        },
        (&Method::POST, ["up"]) => {
            shared.come_up();
            faults(shared)
        }
        (&Method::GET, ["counters"]) => ok(&shared.counters().to_json()),
        (&Method::DELETE, ["counters"]) => {
            shared.reset_counters();
            ok(&shared.counters().to_json())
        }
        (&Method::POST, ["keys", name, "versions"]) => {
            key_result(shared.create_key_version(name).await)
        }
        (&Method::GET, ["keys", name, version]) => {
            key_result(shared.key_info(name, current(version)))
        }
        (&Method::PATCH, ["keys", name, version]) => {
            match serde_json::from_slice::<EnableRequest>(body) {
                Ok(request) => {
                    key_result(shared.set_enabled(name, current(version), request.enabled))
                }
                Err(error) => bad_request(&error.to_string()),
            }
        }
        (&Method::DELETE, ["keys", name]) => match shared.delete_key(name) {
            Ok(()) => reply::empty(StatusCode::NO_CONTENT),
            Err(error) => error_reply(&error),
        },
        _ => reply::json(
            StatusCode::NOT_FOUND,
            &serde_json::json!({ "error": "no such admin path or method" }),
        ),
    }
}

/// `current` stands for the newest version in admin paths.
fn current(version: &str) -> &str {
    if version == "current" { "" } else { version }
}

fn ok(body: &serde_json::Value) -> Reply {
    reply::json(StatusCode::OK, body)
}

fn bad_request(message: &str) -> Reply {
    reply::json(
        StatusCode::BAD_REQUEST,
        &serde_json::json!({ "error": message }),
    )
}

fn faults(shared: &Shared) -> Reply {
    let state = shared.faults().clone();
    ok(&serde_json::to_value(state).unwrap_or_default())
}

fn error_reply(error: &DoubleError) -> Reply {
    let status = match error {
        DoubleError::KeyNotFound(_) | DoubleError::VersionNotFound { .. } => StatusCode::NOT_FOUND,
        DoubleError::InvalidKeyName(_) => StatusCode::BAD_REQUEST,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    reply::json(status, &serde_json::json!({ "error": error.to_string() }))
}

fn key_result(result: Result<KeyInfo, DoubleError>) -> Reply {
    match result {
        Ok(info) => ok(&serde_json::json!({
            "name": info.name,
            "version": info.version,
            "enabled": info.enabled,
            "key_ops": info.key_ops,
            "n": URL_SAFE_NO_PAD.encode(&info.n),
            "e": URL_SAFE_NO_PAD.encode(&info.e),
            "created": info.created,
            "updated": info.updated,
        })),
        Err(error) => error_reply(&error),
    }
}
