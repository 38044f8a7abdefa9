//! Calls served, by operation and outcome.

use std::collections::BTreeMap;

use serde::Serialize;

/// What a request asked for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    /// Entra ID token request.
    Token,
    GetKey,
    Wrap,
    Unwrap,
    CreateVersion,
    Update,
    Delete,
    /// Any other path or method.
    Other,
}

impl Operation {
    pub const ALL: [Operation; 8] = [
        Operation::Token,
        Operation::GetKey,
        Operation::Wrap,
        Operation::Unwrap,
        Operation::CreateVersion,
        Operation::Update,
        Operation::Delete,
        Operation::Other,
    ];

    /// Whether this is a Key Vault operation (as opposed to Entra ID or an unknown path).
    pub fn is_key_vault(self) -> bool {
        !matches!(self, Operation::Token | Operation::Other)
    }
}

/// How the double answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    /// 401 with a challenge to a request that carried no token (the SDK's first request).
    Challenged,
    /// 401 to a request with an unknown, expired or misdirected token, or an Entra ID refusal.
    Unauthorized,
    /// 403, for example a disabled key version.
    Forbidden,
    NotFound,
    BadRequest,
    /// Injected 429.
    Throttled,
    /// Injected 5xx.
    InjectedError,
    /// 503 while down in [`crate::DownMode::Unavailable`].
    Unavailable,
    /// 500 from the double itself (key generation failed).
    ServerError,
}

/// A snapshot of the counters.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counters {
    counts: BTreeMap<(Operation, Outcome), u64>,
}

impl Counters {
    pub(crate) fn record(&mut self, operation: Operation, outcome: Outcome) {
        *self.counts.entry((operation, outcome)).or_default() += 1;
    }

    pub fn get(&self, operation: Operation, outcome: Outcome) -> u64 {
        self.counts
            .get(&(operation, outcome))
            .copied()
            .unwrap_or_default()
    }

    /// Every call of one operation, whatever the outcome.
    pub fn total(&self, operation: Operation) -> u64 {
        self.counts
            .iter()
            .filter(|((op, _), _)| *op == operation)
            .map(|(_, n)| n)
            .sum()
    }

    /// Successful calls of one operation.
    pub fn ok(&self, operation: Operation) -> u64 {
        self.get(operation, Outcome::Ok)
    }

    /// Every Key Vault request, challenges and failures included.
    pub fn key_vault_total(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((op, _), _)| op.is_key_vault())
            .map(|(_, n)| n)
            .sum()
    }

    /// Key Vault requests that succeeded.
    pub fn key_vault_ok(&self) -> u64 {
        self.counts
            .iter()
            .filter(|((op, outcome), _)| op.is_key_vault() && *outcome == Outcome::Ok)
            .map(|(_, n)| n)
            .sum()
    }

    /// `{"get_key": {"ok": 2, "challenged": 1}, ...}` plus totals.
    pub fn to_json(&self) -> serde_json::Value {
        let mut by_operation = serde_json::Map::new();
        for ((operation, outcome), count) in &self.counts {
            let op = serde_json::to_value(operation).unwrap_or_default();
            let outcome = serde_json::to_value(outcome).unwrap_or_default();
            let (Some(op), Some(outcome)) = (op.as_str(), outcome.as_str()) else {
                continue;
            };
            let entry = by_operation
                .entry(op.to_owned())
                .or_insert_with(|| serde_json::Value::Object(serde_json::Map::new()));
            if let Some(map) = entry.as_object_mut() {
                map.insert(outcome.to_owned(), (*count).into());
            }
        }
        serde_json::json!({
            "operations": by_operation,
            "key_vault_total": self.key_vault_total(),
            "key_vault_ok": self.key_vault_ok(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_split_key_vault_from_token_calls() {
        let mut counters = Counters::default();
        counters.record(Operation::Token, Outcome::Ok);
        counters.record(Operation::Wrap, Outcome::Challenged);
        counters.record(Operation::Wrap, Outcome::Ok);
        counters.record(Operation::Unwrap, Outcome::Throttled);

        assert_eq!(counters.total(Operation::Wrap), 2);
        assert_eq!(counters.ok(Operation::Wrap), 1);
        assert_eq!(counters.key_vault_total(), 3);
        assert_eq!(counters.key_vault_ok(), 1);
        let json = counters.to_json();
        assert_eq!(json["operations"]["wrap"]["challenged"], 1);
        assert_eq!(json["operations"]["token"]["ok"], 1);
    }
}
