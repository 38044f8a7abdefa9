//! The Entra ID token endpoint for the workload-identity grant
//! (`client_credentials` with a federated client assertion), and the access tokens it issued.

use std::{
    collections::HashMap,
    time::{Duration, Instant},
};

use http::StatusCode;

use crate::{
    FederatedToken,
    reply::{self, Reply},
};

const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// What the token endpoint checks requests against.
#[derive(Debug)]
pub(crate) struct Settings {
    pub(crate) tenant_id: String,
    pub(crate) client_id: String,
    pub(crate) federated_token: FederatedToken,
    pub(crate) token_lifetime: Duration,
    /// Resources a token may be asked for (`{resource}/.default`).
    pub(crate) resources: Vec<String>,
}

/// Access tokens issued and not yet expired, with the resource each is for.
#[derive(Debug, Default)]
pub(crate) struct TokenBook {
    issued: HashMap<String, (String, Instant)>,
}

/// Why a bearer token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    Unknown,
    Expired,
    WrongAudience,
}

impl TokenBook {
    fn issue(&mut self, resource: &str, lifetime: Duration) -> String {
        let now = Instant::now();
        self.issued.retain(|_, (_, expiry)| *expiry > now);
        let token = format!("kvd.{}", crate::keys::random_b64(32));
        self.issued
            .insert(token.clone(), (resource.to_owned(), now + lifetime));
        token
    }

    pub(crate) fn check(&self, token: &str, resource: &str) -> Result<(), Refusal> {
        let (audience, expiry) = self.issued.get(token).ok_or(Refusal::Unknown)?;
        if *expiry <= Instant::now() {
            return Err(Refusal::Expired);
        }
        if audience != resource {
            return Err(Refusal::WrongAudience);
        }
        Ok(())
    }
}

/// Answers `POST /{tenant}/oauth2/v2.0/token`. Returns whether a token was issued.
pub(crate) fn token(
    settings: &Settings,
    book: &std::sync::Mutex<TokenBook>,
    tenant: &str,
    form_body: &[u8],
    authority: &str,
) -> (bool, Reply) {
    let refuse = |status, error, code, message: &str| {
        (
            false,
            reply::entra_error(status, error, code, message, authority),
        )
    };
    let form: HashMap<String, String> = form_urlencoded::parse(form_body).into_owned().collect();
    let field = |name: &str| form.get(name).map(String::as_str).unwrap_or_default();

    if tenant != settings.tenant_id {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            90002,
            &format!("Tenant '{tenant}' not found."),
        );
    }
    if field("grant_type") != "client_credentials" {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            70003,
            "The app requested an unsupported grant type.",
        );
    }
    for name in [
        "client_id",
        "client_assertion",
        "client_assertion_type",
        "scope",
    ] {
        if field(name).is_empty() {
            return refuse(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                900144,
                &format!("The request body must contain the following parameter: '{name}'."),
            );
        }
    }
    if field("client_id") != settings.client_id {
        return refuse(
            StatusCode::BAD_REQUEST,
            "unauthorized_client",
            700016,
            &format!(
                "Application with identifier '{}' was not found in the directory '{tenant}'.",
                field("client_id")
            ),
        );
    }
    if field("client_assertion_type") != ASSERTION_TYPE {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_request",
            50027,
            "The client assertion type is not supported.",
        );
    }
    let presented = field("client_assertion").as_bytes();
    let expected = settings.federated_token.expose().as_bytes();
    if aws_lc_rs::constant_time::verify_slices_are_equal(presented, expected).is_err() {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            70021,
            "No matching federated identity record found for presented assertion.",
        );
    }
    let scope = field("scope");
    let Some(resource) = settings
        .resources
        .iter()
        .find(|r| scope == format!("{r}/.default"))
    else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            70011,
            &format!("The provided value for the input parameter 'scope' is not valid: {scope}."),
        );
    };

    let lifetime = settings.token_lifetime;
    let access_token = match book.lock() {
        Ok(mut book) => book.issue(resource, lifetime),
        Err(poisoned) => poisoned.into_inner().issue(resource, lifetime),
    };
    let body = serde_json::json!({
        "token_type": "Bearer",
        "expires_in": lifetime.as_secs(),
        "ext_expires_in": lifetime.as_secs(),
        "access_token": access_token,
    });
    (true, reply::json(StatusCode::OK, &body))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> Settings {
        Settings {
            tenant_id: "tenant".into(),
            client_id: "client".into(),
            federated_token: FederatedToken::new("expected"),
            token_lifetime: Duration::from_secs(3600),
            resources: vec!["https://vault.azure.net".into()],
        }
    }

    fn form(assertion: &str, scope: &str) -> Vec<u8> {
        form_urlencoded::Serializer::new(String::new())
            .append_pair("client_assertion", assertion)
            .append_pair("client_assertion_type", ASSERTION_TYPE)
            .append_pair("client_id", "client")
            .append_pair("grant_type", "client_credentials")
            .append_pair("scope", scope)
            .finish()
            .into_bytes()
    }

    #[test]
    fn issues_a_token_for_the_expected_assertion_only() {
        let book = std::sync::Mutex::new(TokenBook::default());
        let scope = "https://vault.azure.net/.default";

        let (granted, ok) = token(&settings(), &book, "tenant", &form("expected", scope), "");
        let (denied, wrong) = token(&settings(), &book, "tenant", &form("other", scope), "");
        let (_, bad_tenant) = token(&settings(), &book, "t2", &form("expected", scope), "");
        let (_, bad_scope) = token(&settings(), &book, "tenant", &form("expected", "x"), "");

        assert!(granted);
        assert_eq!(ok.status(), StatusCode::OK);
        assert!(!denied);
        assert_eq!(wrong.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(bad_tenant.status(), StatusCode::BAD_REQUEST);
        assert_eq!(bad_scope.status(), StatusCode::BAD_REQUEST);
    }

    #[test]
    fn tokens_are_bound_to_their_resource_and_lifetime() {
        let mut book = TokenBook::default();
        let live = book.issue("https://vault.azure.net", Duration::from_secs(60));
        let dead = book.issue("https://vault.azure.net", Duration::ZERO);

        assert_eq!(book.check(&live, "https://vault.azure.net"), Ok(()));
        assert_eq!(
            book.check(&live, "https://vault.localhost"),
            Err(Refusal::WrongAudience)
        );
        assert_eq!(
            book.check(&dead, "https://vault.azure.net"),
            Err(Refusal::Expired)
        );
        assert_eq!(
            book.check("kvd.nope", "https://vault.azure.net"),
            Err(Refusal::Unknown)
        );
    }
}
