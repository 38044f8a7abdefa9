//! The Key Vault keys API: routing, challenge authentication and the key operations.

use std::collections::BTreeMap;

use aws_lc_rs::rsa::KeySize;
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use http::{Method, StatusCode, request::Parts};
use serde::Deserialize;

use crate::{
    LOCAL_VAULT_DOMAIN, Operation, Outcome,
    entra::Refusal,
    keys::{CryptoFailure, KeyInfo, KeyVersion, Missing, WrapAlgorithm, valid_key_name},
    reply::{self, Reply},
    server::Shared,
};

/// API versions of the keys API the double accepts (the SDK 1.0 sends `2025-07-01`).
const API_VERSIONS: [&str; 9] = [
    "7.0",
    "7.1",
    "7.2",
    "7.3",
    "7.4",
    "7.5",
    "7.6",
    "2025-06-01-preview",
    "2025-07-01",
];

/// A request, by what it asks for.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Route {
    Token { tenant: String },
    GetKey { name: String, version: String },
    Update { name: String, version: String },
    Create { name: String },
    Wrap { name: String, version: String },
    Unwrap { name: String, version: String },
    Delete { name: String },
    Unknown,
}

impl Route {
    /// Maps method and path to a route. An empty version segment (`/keys/k//wrapkey`, or
    /// `/keys/k/` for a get) means the current version, as the SDK sends it.
    pub(crate) fn parse(method: &Method, path: &str) -> Self {
        let segments: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let s = |x: &str| x.to_owned();
        match (method, segments.as_slice()) {
            (&Method::POST, [tenant, "oauth2", "v2.0", "token"]) => {
                Route::Token { tenant: s(tenant) }
            }
            (&Method::POST, ["keys", name, "create"]) => Route::Create { name: s(name) },
            (&Method::POST, ["keys", name, version, "wrapkey"]) => Route::Wrap {
                name: s(name),
                version: s(version),
            },
            (&Method::POST, ["keys", name, version, "unwrapkey"]) => Route::Unwrap {
                name: s(name),
                version: s(version),
            },
            (&Method::GET, ["keys", name] | ["keys", name, ""]) => Route::GetKey {
                name: s(name),
                version: String::new(),
            },
            (&Method::GET, ["keys", name, version]) => Route::GetKey {
                name: s(name),
                version: s(version),
            },
            (&Method::PATCH, ["keys", name] | ["keys", name, ""]) => Route::Update {
                name: s(name),
                version: String::new(),
            },
            (&Method::PATCH, ["keys", name, version]) => Route::Update {
                name: s(name),
                version: s(version),
            },
            (&Method::DELETE, ["keys", name]) => Route::Delete { name: s(name) },
            _ => Route::Unknown,
        }
    }

    pub(crate) fn operation(&self) -> Operation {
        match self {
            Route::Token { .. } => Operation::Token,
            Route::GetKey { .. } => Operation::GetKey,
            Route::Update { .. } => Operation::Update,
            Route::Create { .. } => Operation::CreateVersion,
            Route::Wrap { .. } => Operation::Wrap,
            Route::Unwrap { .. } => Operation::Unwrap,
            Route::Delete { .. } => Operation::Delete,
            Route::Unknown => Operation::Other,
        }
    }
}

/// A finished answer that ends a request early (boxed: a response is large).
type Refused = Box<(Outcome, Reply)>;

/// Where a request was sent: the vault base URL (for `kid`s) and the challenge resource.
struct Origin {
    vault: String,
    resource: String,
}

impl Origin {
    fn of(shared: &Shared, parts: &Parts) -> Self {
        let host = parts
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b".-:[]".contains(&b))
            })
            .map(str::to_owned)
            .unwrap_or_else(|| shared.addr.to_string());
        let hostname = match host.rsplit_once(':') {
            Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
            _ => host.as_str(),
        };
        let resource = if hostname
            .to_ascii_lowercase()
            .ends_with(&format!(".{LOCAL_VAULT_DOMAIN}"))
        {
            format!("https://{LOCAL_VAULT_DOMAIN}")
        } else {
            shared.resource.clone()
        };
        Self {
            vault: format!("https://{host}"),
            resource,
        }
    }
}

/// Serves one Key Vault request after faults were decided.
pub(crate) async fn serve(
    shared: &Shared,
    route: Route,
    parts: &Parts,
    body: &[u8],
) -> (Outcome, Reply) {
    let origin = Origin::of(shared, parts);

    if let Err(refused) = authorize(shared, parts, &origin) {
        return *refused;
    }

    let api_version = parts
        .uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()))
        .and_then(|mut pairs| pairs.find(|(k, _)| k == "api-version"))
        .map(|(_, v)| v.into_owned());
    match api_version {
        Some(v) if API_VERSIONS.contains(&v.as_str()) => {}
        Some(v) => {
            return (
                Outcome::BadRequest,
                reply::bad_parameter(&format!("The specified version ({v}) is not recognized.")),
            );
        }
        None => {
            return (
                Outcome::BadRequest,
                reply::bad_parameter("The api-version query parameter is missing."),
            );
        }
    }

    match route {
        Route::GetKey { name, version } => get_key(shared, &origin, &name, &version),
        Route::Update { name, version } => update(shared, &origin, &name, &version, body),
        Route::Create { name } => create(shared, &origin, &name, body).await,
        Route::Wrap { name, version } => wrap(shared, &origin, &name, &version, body),
        Route::Unwrap { name, version } => unwrap(shared, &origin, &name, &version, body),
        Route::Delete { name } => delete(shared, &origin, &name),
        Route::Token { .. } | Route::Unknown => (
            Outcome::NotFound,
            reply::vault_error(StatusCode::NOT_FOUND, "NotFound", "Not found.", None),
        ),
    }
}

/// Checks the bearer token; without one, answers the challenge the SDK waits for.
fn authorize(shared: &Shared, parts: &Parts, origin: &Origin) -> Result<(), Refused> {
    let authority = format!("https://{}/{}", shared.addr, shared.settings.tenant_id);
    let bearer = parts
        .headers
        .get(http::header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Bearer "));
    let Some(token) = bearer else {
        let message = "AKV10000: Request is missing a Bearer or PoP token.";
        return Err(Box::new((
            Outcome::Challenged,
            reply::challenge(&authority, &origin.resource, message),
        )));
    };

    match shared.check_token(token, &origin.resource) {
        Ok(()) => Ok(()),
        Err(refusal) => {
            let message = match refusal {
                Refusal::Unknown => "AKV10032: Invalid issuer or token.",
                Refusal::Expired => "AKV10022: Token is expired.",
                Refusal::WrongAudience => "AKV10022: Invalid audience.",
            };
            Err(Box::new((
                Outcome::Unauthorized,
                reply::challenge(&authority, &origin.resource, message),
            )))
        }
    }
}

fn key_bundle(vault: &str, info: &KeyInfo) -> serde_json::Value {
    serde_json::json!({
        "key": {
            "kid": format!("{vault}/keys/{}/{}", info.name, info.version),
            "kty": "RSA",
            "key_ops": info.key_ops,
            "n": URL_SAFE_NO_PAD.encode(&info.n),
            "e": URL_SAFE_NO_PAD.encode(&info.e),
        },
        "attributes": {
            "enabled": info.enabled,
            "created": info.created,
            "updated": info.updated,
            "recoveryLevel": "Recoverable+Purgeable",
            "recoverableDays": 90,
            "exportable": false,
        },
        "tags": info.tags,
    })
}

fn missing(name: &str, version: &str, why: Missing) -> (Outcome, Reply) {
    let reply = match why {
        Missing::Key => reply::key_not_found(name),
        Missing::Version => reply::version_not_found(name, version),
    };
    (Outcome::NotFound, reply)
}

fn get_key(shared: &Shared, origin: &Origin, name: &str, version: &str) -> (Outcome, Reply) {
    let keys = shared.keys();
    let found = match keys.find(name, version) {
        Ok(found) => found.info(),
        Err(why) => return missing(name, version, why),
    };
    if !found.enabled {
        return (Outcome::Forbidden, reply::key_disabled("get"));
    }
    (
        Outcome::Ok,
        reply::json(StatusCode::OK, &key_bundle(&origin.vault, found)),
    )
}

#[derive(Debug, Default, Deserialize)]
struct AttributesBody {
    enabled: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
struct UpdateBody {
    attributes: Option<AttributesBody>,
    key_ops: Option<Vec<String>>,
    tags: Option<BTreeMap<String, String>>,
}

fn update(
    shared: &Shared,
    origin: &Origin,
    name: &str,
    version: &str,
    body: &[u8],
) -> (Outcome, Reply) {
    let Ok(patch) = serde_json::from_slice::<UpdateBody>(body) else {
        return (
            Outcome::BadRequest,
            reply::bad_parameter("The request body is not valid JSON."),
        );
    };

    let mut keys = shared.keys();
    let found = match keys.find_mut(name, version) {
        Ok(found) => found.info_mut(),
        Err(why) => return missing(name, version, why),
    };
    if let Some(enabled) = patch.attributes.and_then(|a| a.enabled) {
        found.enabled = enabled;
    }
    if let Some(ops) = patch.key_ops {
        found.key_ops = ops;
    }
    if let Some(tags) = patch.tags {
        found.tags = tags;
    }
    (
        Outcome::Ok,
        reply::json(StatusCode::OK, &key_bundle(&origin.vault, found)),
    )
}

#[derive(Debug, Default, Deserialize)]
struct CreateBody {
    kty: Option<String>,
    key_size: Option<u32>,
    key_ops: Option<Vec<String>>,
    tags: Option<BTreeMap<String, String>>,
    attributes: Option<AttributesBody>,
}

async fn create(shared: &Shared, origin: &Origin, name: &str, body: &[u8]) -> (Outcome, Reply) {
    let Ok(request) = serde_json::from_slice::<CreateBody>(body) else {
        return (
            Outcome::BadRequest,
            reply::bad_parameter("The request body is not valid JSON."),
        );
    };
    if !valid_key_name(name) {
        return (
            Outcome::BadRequest,
            reply::bad_parameter(&format!("The key name {name} is not valid.")),
        );
    }
    if !matches!(request.kty.as_deref(), Some("RSA" | "RSA-HSM")) {
        return (
            Outcome::BadRequest,
            reply::bad_parameter("This double creates RSA keys only (kty RSA or RSA-HSM)."),
        );
    }
    let size = match request.key_size.unwrap_or(2048) {
        2048 => KeySize::Rsa2048,
        3072 => KeySize::Rsa3072,
        4096 => KeySize::Rsa4096,
        other => {
            return (
                Outcome::BadRequest,
                reply::bad_parameter(&format!("The key size {other} is not supported.")),
            );
        }
    };

    let owned = name.to_owned();
    let generated = tokio::task::spawn_blocking(move || KeyVersion::generate(&owned, size)).await;
    let Ok(Ok(mut version)) = generated else {
        return (
            Outcome::ServerError,
            reply::vault_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalServerError",
                "Key generation failed.",
                None,
            ),
        );
    };
    {
        let info = version.info_mut();
        if let Some(ops) = request.key_ops {
            info.key_ops = ops;
        }
        if let Some(tags) = request.tags {
            info.tags = tags;
        }
        if let Some(enabled) = request.attributes.and_then(|a| a.enabled) {
            info.enabled = enabled;
        }
    }
    let info = shared.keys().add(version);
    (
        Outcome::Ok,
        reply::json(StatusCode::OK, &key_bundle(&origin.vault, &info)),
    )
}

#[derive(Debug, Default, Deserialize)]
struct OperationBody {
    alg: Option<String>,
    value: Option<String>,
}

/// Checks the body and finds the version for a wrap or unwrap.
fn key_operation<'k>(
    keys: &'k crate::keys::KeyStore,
    name: &str,
    version: &str,
    body: &[u8],
    op: &str,
) -> Result<(&'k KeyVersion, WrapAlgorithm, Vec<u8>), Refused> {
    let Ok(request) = serde_json::from_slice::<OperationBody>(body) else {
        return Err(Box::new((
            Outcome::BadRequest,
            reply::bad_parameter("The request body is not valid JSON."),
        )));
    };
    let Some(alg) = request.alg.as_deref().and_then(WrapAlgorithm::parse) else {
        return Err(Box::new((
            Outcome::BadRequest,
            reply::bad_parameter("The algorithm is not supported: use RSA-OAEP-256 or RSA-OAEP."),
        )));
    };
    let value = request
        .value
        .as_deref()
        .map(|v| v.trim_end_matches('='))
        .and_then(|v| URL_SAFE_NO_PAD.decode(v).ok());
    let Some(value) = value else {
        return Err(Box::new((
            Outcome::BadRequest,
            reply::bad_parameter("The value must be base64url-encoded bytes."),
        )));
    };

    let found = keys
        .find(name, version)
        .map_err(|why| Box::new(missing(name, version, why)))?;
    if !found.info().enabled {
        return Err(Box::new((Outcome::Forbidden, reply::key_disabled(op))));
    }
    if !found.permits(op) {
        return Err(Box::new((
            Outcome::Forbidden,
            reply::vault_error(
                StatusCode::FORBIDDEN,
                "Forbidden",
                &format!("Operation {op} is not permitted on this key."),
                Some("KeyOperationForbidden"),
            ),
        )));
    }
    Ok((found, alg, value))
}

fn operation_result(vault: &str, info: &KeyInfo, value: &[u8]) -> Reply {
    let body = serde_json::json!({
        "kid": format!("{vault}/keys/{}/{}", info.name, info.version),
        "value": URL_SAFE_NO_PAD.encode(value),
    });
    reply::json(StatusCode::OK, &body)
}

fn wrap(
    shared: &Shared,
    origin: &Origin,
    name: &str,
    version: &str,
    body: &[u8],
) -> (Outcome, Reply) {
    let keys = shared.keys();
    let (found, alg, plaintext) = match key_operation(&keys, name, version, body, "wrapKey") {
        Ok(parts) => parts,
        Err(refused) => return *refused,
    };
    match found.wrap(alg, &plaintext) {
        Ok(wrapped) => (
            Outcome::Ok,
            operation_result(&origin.vault, found.info(), &wrapped),
        ),
        Err(_) => (
            Outcome::BadRequest,
            reply::bad_parameter("The value is too long for this key and algorithm."),
        ),
    }
}

fn unwrap(
    shared: &Shared,
    origin: &Origin,
    name: &str,
    version: &str,
    body: &[u8],
) -> (Outcome, Reply) {
    let keys = shared.keys();
    let (found, alg, ciphertext) = match key_operation(&keys, name, version, body, "unwrapKey") {
        Ok(parts) => parts,
        Err(refused) => return *refused,
    };
    match found.unwrap(alg, &ciphertext) {
        Ok(plaintext) => (
            Outcome::Ok,
            operation_result(&origin.vault, found.info(), &plaintext),
        ),
        Err(CryptoFailure::Undecryptable | CryptoFailure::TooLong) => (
            Outcome::BadRequest,
            reply::bad_parameter("The value could not be unwrapped with this key version."),
        ),
    }
}

fn delete(shared: &Shared, origin: &Origin, name: &str) -> (Outcome, Reply) {
    let Some(info) = shared.keys().delete(name) else {
        return (Outcome::NotFound, reply::key_not_found(name));
    };
    let now = crate::keys::unix_now();
    let mut body = key_bundle(&origin.vault, &info);
    body["recoveryId"] = format!("{}/deletedkeys/{name}", origin.vault).into();
    body["deletedDate"] = now.into();
    body["scheduledPurgeDate"] = (now + 90 * 24 * 3600).into();
    (Outcome::Ok, reply::json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(method: Method, path: &str) -> Route {
        Route::parse(&method, path)
    }

    #[test]
    fn empty_version_segments_mean_the_current_version() {
        assert_eq!(
            route(Method::POST, "/keys/kek//wrapkey"),
            Route::Wrap {
                name: "kek".into(),
                version: String::new()
            }
        );
        assert_eq!(
            route(Method::GET, "/keys/kek/"),
            Route::GetKey {
                name: "kek".into(),
                version: String::new()
            }
        );
        assert_eq!(
            route(Method::POST, "/keys/kek/abc/unwrapkey"),
            Route::Unwrap {
                name: "kek".into(),
                version: "abc".into()
            }
        );
    }

    #[test]
    fn token_create_update_and_unknown_paths() {
        assert_eq!(
            route(Method::POST, "/tenant-1/oauth2/v2.0/token"),
            Route::Token {
                tenant: "tenant-1".into()
            }
        );
        assert_eq!(
            route(Method::POST, "/keys/kek/create"),
            Route::Create { name: "kek".into() }
        );
        assert_eq!(
            route(Method::PATCH, "/keys/kek/v1"),
            Route::Update {
                name: "kek".into(),
                version: "v1".into()
            }
        );
        assert_eq!(
            route(Method::DELETE, "/keys/kek"),
            Route::Delete { name: "kek".into() }
        );
        assert_eq!(route(Method::PUT, "/keys/kek"), Route::Unknown);
        assert_eq!(route(Method::GET, "/secrets/x"), Route::Unknown);
    }
}
