//! The bytes of a data key wrapped under the key hierarchy, as they travel in
//! `SealedSecret.wrapped_data_key`:
//!
//! ```text
//! offset  size  field
//! 0       1     format, 0x01
//! 1       1     length V of the Key Vault key version
//! 2       V     Key Vault key version (ASCII)
//! 2+V     2     length W of the wrapped intermediate key, big-endian
//! 4+V     W     intermediate key wrapped by that version (RSA-OAEP-256)
//! 4+V+W   24    nonce
//! 28+V+W  48    data key sealed by the intermediate key (XChaCha20-Poly1305)
//! ```
//!
//! Everything before the nonce is the header: it names the intermediate key, identifies it in
//! caches (by its SHA-256) and is bound as associated data when sealing the data key.

use sha2::{Digest, Sha256};

use crate::CryptoError;

/// The first byte of every wrapped data key in this format.
pub const FORMAT_V1: u8 = 1;
pub use crate::aead::NONCE_LEN;
const ASSOCIATED_DATA_LABEL: &[u8] = b"sharer.v1/intermediate-wrapped-data-key/";

/// An intermediate key's wrapped form and the Key Vault key version that wrapped it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Header {
    pub key_version: String,
    pub wrapped_intermediate: Vec<u8>,
}

/// What a cache knows an intermediate key by: the SHA-256 of its encoded header.
pub type IntermediateId = [u8; 32];

impl Header {
    /// The encoded header, or an error when a field does not fit its length prefix.
    pub fn encode(&self) -> Result<Vec<u8>, CryptoError> {
        let version_len =
            u8::try_from(self.key_version.len()).map_err(|_| CryptoError::MalformedSealedSecret)?;
        let wrapped_len = u16::try_from(self.wrapped_intermediate.len())
            .map_err(|_| CryptoError::MalformedSealedSecret)?;

        let mut bytes = Vec::with_capacity(4 + self.key_version.len() + usize::from(wrapped_len));
        bytes.push(FORMAT_V1);
        bytes.push(version_len);
        bytes.extend_from_slice(self.key_version.as_bytes());
        bytes.extend_from_slice(&wrapped_len.to_be_bytes());
        bytes.extend_from_slice(&self.wrapped_intermediate);
        Ok(bytes)
    }
}

/// Identifies an encoded header.
pub fn intermediate_id(encoded_header: &[u8]) -> IntermediateId {
    Sha256::digest(encoded_header).into()
}

/// The associated data a data key is sealed with under the intermediate named by the header.
pub fn associated_data(encoded_header: &[u8]) -> Vec<u8> {
    [ASSOCIATED_DATA_LABEL, encoded_header].concat()
}

/// A parsed wrapped data key, borrowing the input.
#[derive(Debug)]
pub struct Parsed<'a> {
    pub header: Header,
    pub encoded_header: &'a [u8],
    pub nonce: &'a [u8; NONCE_LEN],
    pub sealed_data_key: &'a [u8],
}

/// Splits wrapped data key bytes into their fields; anything else is malformed.
pub fn parse(bytes: &[u8]) -> Result<Parsed<'_>, CryptoError> {
    let malformed = || CryptoError::MalformedSealedSecret;
    let (&format, rest) = bytes.split_first().ok_or_else(malformed)?;
    if format != FORMAT_V1 {
        return Err(malformed());
    }

    let (&version_len, rest) = rest.split_first().ok_or_else(malformed)?;
    let (version, rest) = rest
        .split_at_checked(usize::from(version_len))
        .ok_or_else(malformed)?;
    let key_version = std::str::from_utf8(version).map_err(|_| malformed())?;
    if !is_version_text(key_version) {
        return Err(malformed());
    }

    let (wrapped_len, rest) = rest.split_first_chunk::<2>().ok_or_else(malformed)?;
    let wrapped_len = usize::from(u16::from_be_bytes(*wrapped_len));
    let (wrapped_intermediate, rest) = rest.split_at_checked(wrapped_len).ok_or_else(malformed)?;
    if wrapped_intermediate.is_empty() {
        return Err(malformed());
    }
    let header_len = bytes.len() - rest.len();

    let (nonce, sealed_data_key) = rest
        .split_first_chunk::<NONCE_LEN>()
        .ok_or_else(malformed)?;
    if sealed_data_key.is_empty() {
        return Err(malformed());
    }

    Ok(Parsed {
        header: Header {
            key_version: key_version.to_owned(),
            wrapped_intermediate: wrapped_intermediate.to_vec(),
        },
        encoded_header: &bytes[..header_len],
        nonce,
        sealed_data_key,
    })
}

/// Whether `text` can be a Key Vault key version (Key Vault uses 32 hex digits).
pub fn is_version_text(text: &str) -> bool {
    !text.is_empty()
        && text.len() <= usize::from(u8::MAX)
        && text.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        let header = Header {
            key_version: "0123456789abcdef0123456789abcdef".to_owned(),
            wrapped_intermediate: vec![7; 256],
        };
        let mut bytes = header.encode().expect("encode");
        bytes.extend_from_slice(&[1; NONCE_LEN]);
        bytes.extend_from_slice(&[2; 48]);
        bytes
    }

    #[test]
    fn fields_round_trip() {
        let bytes = sample();
        let parsed = parse(&bytes).expect("parse");

        assert_eq!(
            parsed.header.key_version,
            "0123456789abcdef0123456789abcdef"
        );
        assert_eq!(parsed.header.wrapped_intermediate, vec![7; 256]);
        assert_eq!(parsed.nonce, &[1; NONCE_LEN]);
        assert_eq!(parsed.sealed_data_key, &[2; 48]);
        assert_eq!(
            parsed.encoded_header,
            parsed.header.encode().expect("encode").as_slice()
        );
    }

    #[test]
    fn every_truncation_and_other_formats_are_malformed() {
        let bytes = sample();
        for len in 0..=bytes.len() - 48 {
            assert!(
                matches!(
                    parse(&bytes[..len]),
                    Err(CryptoError::MalformedSealedSecret)
                ),
                "truncated to {len}"
            );
        }
        let mut other = bytes.clone();
        other[0] = 2;
        assert!(parse(&other).is_err());
        let mut bad_version = bytes;
        bad_version[2] = b'/';
        assert!(parse(&bad_version).is_err());
    }
}
