//! Injected faults: latency, failures, throttling and being down.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::Operation;

/// Which requests latency, failures and throttling apply to. Being down applies to all but
/// `/_double/`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTarget {
    /// Key Vault requests only (the default).
    #[default]
    KeyVault,
    /// Entra ID token requests only.
    Token,
    /// Both.
    All,
}

/// How the double is down.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DownMode {
    /// The main listener is closed: new connections are refused and open ones are dropped.
    Refuse,
    /// Connections are accepted and every request gets 503.
    Unavailable,
}

/// The fault settings in force. Also the JSON of `GET /_double/faults`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FaultState {
    pub latency_ms: u64,
    /// Requests still to fail with `fail_status`.
    pub fail_next: u32,
    pub fail_status: u16,
    /// Requests still to answer with 429.
    pub throttle_next: u32,
    pub retry_after_secs: u64,
    pub target: FaultTarget,
    pub down: Option<DownMode>,
}

impl Default for FaultState {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            fail_next: 0,
            fail_status: 500,
            throttle_next: 0,
            retry_after_secs: 1,
            target: FaultTarget::KeyVault,
            down: None,
        }
    }
}

/// What to do with one request, decided when it arrives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    Serve,
    Throttle { retry_after_secs: u64 },
    Fail { status: u16 },
    Unavailable,
}

impl FaultState {
    fn covers(&self, operation: Operation) -> bool {
        match self.target {
            FaultTarget::All => true,
            FaultTarget::KeyVault => operation != Operation::Token,
            FaultTarget::Token => operation == Operation::Token,
        }
    }

    /// Decides the fate of one request and uses up one pending failure or throttle.
    pub(crate) fn decide(&mut self, operation: Operation) -> (Duration, Verdict) {
        if self.down.is_some() {
            return (Duration::ZERO, Verdict::Unavailable);
        }
        if !self.covers(operation) {
            return (Duration::ZERO, Verdict::Serve);
        }

        let latency = Duration::from_millis(self.latency_ms);
        if self.throttle_next > 0 {
            self.throttle_next -= 1;
            let retry_after_secs = self.retry_after_secs;
            return (latency, Verdict::Throttle { retry_after_secs });
        }
        if self.fail_next > 0 {
            self.fail_next -= 1;
            let status = if (500..600).contains(&self.fail_status) {
                self.fail_status
            } else {
                500
            };
            return (latency, Verdict::Fail { status });
        }
        (latency, Verdict::Serve)
    }
}

/// A partial update, as `POST /_double/faults` takes it: fields left out keep their value.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct FaultPatch {
    latency_ms: Option<u64>,
    fail_next: Option<u32>,
    fail_status: Option<u16>,
    throttle_next: Option<u32>,
    retry_after_secs: Option<u64>,
    target: Option<FaultTarget>,
}

impl FaultPatch {
    pub(crate) fn apply(self, state: &mut FaultState) {
        if let Some(v) = self.latency_ms {
            state.latency_ms = v;
        }
        if let Some(v) = self.fail_next {
            state.fail_next = v;
        }
        if let Some(v) = self.fail_status {
            state.fail_status = v;
        }
        if let Some(v) = self.throttle_next {
            state.throttle_next = v;
        }
        if let Some(v) = self.retry_after_secs {
            state.retry_after_secs = v;
        }
        if let Some(v) = self.target {
            state.target = v;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_comes_before_failures_and_runs_out() {
        let mut state = FaultState {
            fail_next: 1,
            fail_status: 503,
            throttle_next: 1,
            retry_after_secs: 2,
            latency_ms: 5,
            ..FaultState::default()
        };

        let first = state.decide(Operation::Unwrap);
        let second = state.decide(Operation::Unwrap);
        let third = state.decide(Operation::Unwrap);

        assert_eq!(
            first,
            (
                Duration::from_millis(5),
                Verdict::Throttle {
                    retry_after_secs: 2
                }
            )
        );
        assert_eq!(second.1, Verdict::Fail { status: 503 });
        assert_eq!(third.1, Verdict::Serve);
    }

    #[test]
    fn token_requests_are_spared_by_default() {
        let mut state = FaultState {
            fail_next: 1,
            latency_ms: 20,
            ..FaultState::default()
        };

        assert_eq!(
            state.decide(Operation::Token),
            (Duration::ZERO, Verdict::Serve)
        );
        assert_eq!(
            state.decide(Operation::Wrap).1,
            Verdict::Fail { status: 500 }
        );
    }
}
