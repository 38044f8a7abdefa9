//! The id of a secret: 128 bits from the operating system's random generator, written as 22
//! URL-safe base64 characters. Ids are unguessable, so knowing one is what grants a reveal.

use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// Random bytes in an id.
const ID_BYTES: usize = 16;
/// Characters in the written form of an id.
pub const ID_LENGTH: usize = 22;

/// A well-formed secret id. Holding one says nothing about whether the secret exists.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct SecretId(String);

/// Why a string is not a secret id.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SecretIdError {
    #[error("id must be {ID_LENGTH} characters long")]
    WrongLength,
    #[error("id must use only the URL-safe base64 alphabet (A-Z, a-z, 0-9, '-', '_')")]
    NotUrlSafeBase64,
    #[error("id is not one this service issues: check that the link was copied whole")]
    NotIssued,
    #[error("the operating system's random generator failed")]
    RandomUnavailable,
}

impl SecretId {
    /// Draws a new id from the operating system's random generator.
    pub fn generate() -> Result<Self, SecretIdError> {
        let mut bytes = [0_u8; ID_BYTES];
        getrandom::fill(&mut bytes).map_err(|_| SecretIdError::RandomUnavailable)?;
        Ok(Self(URL_SAFE_NO_PAD.encode(bytes)))
    }

    /// Checks the written form of an id.
    pub fn parse(text: &str) -> Result<Self, SecretIdError> {
        if text.len() != ID_LENGTH {
            return Err(SecretIdError::WrongLength);
        }
        let url_safe = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
        if !text.bytes().all(url_safe) {
            return Err(SecretIdError::NotUrlSafeBase64);
        }
        match URL_SAFE_NO_PAD.decode(text) {
            Ok(bytes) if bytes.len() == ID_BYTES => Ok(Self(text.to_owned())),
            _ => Err(SecretIdError::NotIssued),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Ids appear in logs only by a short prefix: enough to correlate, not enough to reveal.
impl fmt::Debug for SecretId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretId({}…)", &self.0[..6])
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use super::*;

    #[test]
    fn generated_ids_are_url_safe_parse_back_and_differ() {
        let ids: HashSet<String> = (0..1000)
            .map(|_| SecretId::generate().expect("random").to_string())
            .collect();

        assert_eq!(ids.len(), 1000);
        for id in &ids {
            assert_eq!(id.len(), ID_LENGTH);
            assert!(
                id.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            );
            assert_eq!(SecretId::parse(id).expect("parses").as_str(), id);
        }
    }

    #[test]
    fn malformed_ids_are_refused_with_the_reason() {
        assert_eq!(SecretId::parse(""), Err(SecretIdError::WrongLength));
        assert_eq!(SecretId::parse("abc"), Err(SecretIdError::WrongLength));
        assert_eq!(
            SecretId::parse("AAAAAAAAAAAAAAAAAAAA/+"),
            Err(SecretIdError::NotUrlSafeBase64)
        );
        assert_eq!(
            SecretId::parse("AAAAAAAAAAAAAAAAAAAAA%"),
            Err(SecretIdError::NotUrlSafeBase64)
        );
        // Every character is allowed, but the last one carries bits no 128-bit id has.
        assert_eq!(
            SecretId::parse("AAAAAAAAAAAAAAAAAAAAAB"),
            Err(SecretIdError::NotIssued)
        );
    }

    #[test]
    fn debug_shows_only_a_prefix() {
        let id = SecretId::generate().expect("random");
        let shown = format!("{id:?}");
        assert!(!shown.contains(id.as_str()));
        assert!(shown.starts_with("SecretId("));
    }
}
