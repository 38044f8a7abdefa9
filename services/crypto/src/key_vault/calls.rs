//! Counters of the Key Vault operations this replica made, by operation and outcome. One SDK
//! call counts once, whatever retries it made inside.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};

/// A Key Vault operation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VaultOperation {
    GetKey,
    Unwrap,
}

impl VaultOperation {
    pub const ALL: [Self; 2] = [Self::GetKey, Self::Unwrap];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::GetKey => "get_key",
            Self::Unwrap => "unwrap",
        }
    }
}

/// How a Key Vault operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VaultOutcome {
    Ok,
    /// The key version is disabled or deleted.
    Disabled,
    /// The identity could not get a token, or lacks the permission.
    Denied,
    /// Still 429 after the retries.
    Throttled,
    /// Unreachable or 5xx after the retries.
    Unavailable,
    /// The operation's deadline passed.
    TimedOut,
    /// Key Vault refused the request itself (for example a ciphertext it cannot unwrap).
    Rejected,
}

impl VaultOutcome {
    pub const ALL: [Self; 7] = [
        Self::Ok,
        Self::Disabled,
        Self::Denied,
        Self::Throttled,
        Self::Unavailable,
        Self::TimedOut,
        Self::Rejected,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Disabled => "disabled",
            Self::Denied => "denied",
            Self::Throttled => "throttled",
            Self::Unavailable => "unavailable",
            Self::TimedOut => "timed_out",
            Self::Rejected => "rejected",
        }
    }
}

const OPERATIONS: usize = VaultOperation::ALL.len();
const OUTCOMES: usize = VaultOutcome::ALL.len();

/// Live counters, shared by the provider's tasks.
#[derive(Default)]
pub struct CallCounters {
    counts: [[AtomicU64; OUTCOMES]; OPERATIONS],
}

impl CallCounters {
    pub fn record(&self, operation: VaultOperation, outcome: VaultOutcome) {
        self.counts[operation as usize][outcome as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> VaultCalls {
        let mut counts = [[0; OUTCOMES]; OPERATIONS];
        for (row, live) in counts.iter_mut().zip(&self.counts) {
            for (count, value) in row.iter_mut().zip(live) {
                *count = value.load(Ordering::Relaxed);
            }
        }
        VaultCalls { counts }
    }
}

impl fmt::Debug for CallCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.snapshot().fmt(f)
    }
}

/// A snapshot of the counters.
#[derive(Clone, Copy, Default, PartialEq, Eq)]
pub struct VaultCalls {
    counts: [[u64; OUTCOMES]; OPERATIONS],
}

impl VaultCalls {
    pub fn get(&self, operation: VaultOperation, outcome: VaultOutcome) -> u64 {
        self.counts[operation as usize][outcome as usize]
    }

    /// Every call of one operation, whatever the outcome.
    pub fn total(&self, operation: VaultOperation) -> u64 {
        self.counts[operation as usize].iter().sum()
    }

    /// Every Key Vault call.
    pub fn all(&self) -> u64 {
        VaultOperation::ALL.iter().map(|op| self.total(*op)).sum()
    }

    /// Logs the non-zero counters as one structured line, `get_key.ok=1 unwrap.ok=3`.
    pub fn log(&self) {
        tracing::info!(
            get_key_ok = self.get(VaultOperation::GetKey, VaultOutcome::Ok),
            get_key_failed = self.total(VaultOperation::GetKey)
                - self.get(VaultOperation::GetKey, VaultOutcome::Ok),
            unwrap_ok = self.get(VaultOperation::Unwrap, VaultOutcome::Ok),
            unwrap_failed = self.total(VaultOperation::Unwrap)
                - self.get(VaultOperation::Unwrap, VaultOutcome::Ok),
            detail = %self,
            "key vault calls so far"
        );
    }
}

impl fmt::Display for VaultCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for operation in VaultOperation::ALL {
            for outcome in VaultOutcome::ALL {
                let count = self.get(operation, outcome);
                if count == 0 {
                    continue;
                }
                if !first {
                    f.write_str(" ")?;
                }
                first = false;
                write!(f, "{}.{}={count}", operation.as_str(), outcome.as_str())?;
            }
        }
        if first {
            f.write_str("none")?;
        }
        Ok(())
    }
}

impl fmt::Debug for VaultCalls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VaultCalls({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_by_operation_and_outcome() {
        let counters = CallCounters::default();
        counters.record(VaultOperation::GetKey, VaultOutcome::Ok);
        counters.record(VaultOperation::Unwrap, VaultOutcome::Ok);
        counters.record(VaultOperation::Unwrap, VaultOutcome::Throttled);
        counters.record(VaultOperation::Unwrap, VaultOutcome::Throttled);

        let calls = counters.snapshot();
        assert_eq!(
            calls.get(VaultOperation::Unwrap, VaultOutcome::Throttled),
            2
        );
        assert_eq!(calls.total(VaultOperation::Unwrap), 3);
        assert_eq!(calls.all(), 4);
        assert_eq!(
            calls.to_string(),
            "get_key.ok=1 unwrap.ok=1 unwrap.throttled=2"
        );
        assert_eq!(VaultCalls::default().to_string(), "none");
    }
}
