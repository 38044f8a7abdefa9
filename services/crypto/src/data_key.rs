//! The per-secret data key: 256 random bits, used once, zeroized when dropped.

use std::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::CryptoError;

/// Length of a data key in bytes.
pub const DATA_KEY_LEN: usize = 32;

/// A data key. Its `Debug` prints no bytes.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct DataKey([u8; DATA_KEY_LEN]);

impl DataKey {
    /// Draws a fresh key from the operating system's random generator.
    pub fn generate() -> Result<Self, CryptoError> {
        let mut key = Self([0; DATA_KEY_LEN]);
        getrandom::fill(&mut key.0).map_err(|_| CryptoError::RandomUnavailable)?;
        Ok(key)
    }

    /// Takes a key from unwrapped bytes; any other length is refused.
    pub fn from_slice(bytes: &[u8]) -> Option<Self> {
        let bytes: [u8; DATA_KEY_LEN] = bytes.try_into().ok()?;
        Some(Self(bytes))
    }

    pub fn as_bytes(&self) -> &[u8; DATA_KEY_LEN] {
        &self.0
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DataKey(..)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_keys_differ_and_debug_hides_them() {
        let first = DataKey::generate().expect("random");
        let second = DataKey::generate().expect("random");

        assert_ne!(first.as_bytes(), second.as_bytes());
        assert_eq!(format!("{first:?}"), "DataKey(..)");
    }

    #[test]
    fn from_slice_takes_only_full_keys() {
        assert!(DataKey::from_slice(&[7; DATA_KEY_LEN]).is_some());
        assert!(DataKey::from_slice(&[7; DATA_KEY_LEN - 1]).is_none());
        assert!(DataKey::from_slice(&[]).is_none());
    }
}
