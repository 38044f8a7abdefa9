//! The one AEAD construction of the crypto service: XChaCha20-Poly1305 under a 256-bit key, a
//! fresh random 192-bit nonce for every message. Content, data keys and nothing else go
//! through it.

use std::fmt;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use zeroize::Zeroizing;

use crate::data_key::DATA_KEY_LEN;
use crate::{CryptoError, DataKey};

/// Bytes in a nonce.
pub const NONCE_LEN: usize = 24;

/// A key that seals and opens messages. The cipher wipes its key when dropped.
pub struct AeadKey {
    cipher: XChaCha20Poly1305,
}

impl AeadKey {
    pub fn new(raw: &[u8; DATA_KEY_LEN]) -> Self {
        Self {
            cipher: XChaCha20Poly1305::new(raw.into()),
        }
    }

    /// Seals `message` bound to `associated_data`; returns the nonce and the ciphertext.
    pub fn seal(
        &self,
        associated_data: &[u8],
        message: &[u8],
    ) -> Result<([u8; NONCE_LEN], Vec<u8>), CryptoError> {
        let mut nonce = [0_u8; NONCE_LEN];
        getrandom::fill(&mut nonce).map_err(|_| CryptoError::RandomUnavailable)?;
        let payload = Payload {
            msg: message,
            aad: associated_data,
        };
        let sealed = self
            .cipher
            .encrypt(&XNonce::from(nonce), payload)
            .map_err(|_| CryptoError::PlaintextTooLarge {
                len: message.len(),
                limit: crate::envelope::MAX_PLAINTEXT_LEN,
            })?;
        Ok((nonce, sealed))
    }

    /// Opens what [`AeadKey::seal`] sealed with the same associated data.
    pub fn open(
        &self,
        nonce: &[u8],
        associated_data: &[u8],
        sealed: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
        let nonce = XNonce::try_from(nonce).map_err(|_| CryptoError::MalformedSealedSecret)?;
        let payload = Payload {
            msg: sealed,
            aad: associated_data,
        };
        let opened = self
            .cipher
            .decrypt(&nonce, payload)
            .map_err(|_| CryptoError::AuthenticationFailed)?;
        Ok(Zeroizing::new(opened))
    }

    /// Seals a data key: the nonce followed by the ciphertext.
    pub fn seal_data_key(
        &self,
        associated_data: &[u8],
        data_key: &DataKey,
    ) -> Result<Vec<u8>, CryptoError> {
        let (nonce, sealed) = self.seal(associated_data, data_key.as_bytes())?;
        Ok([nonce.as_slice(), &sealed].concat())
    }

    /// Opens a data key sealed by [`AeadKey::seal_data_key`].
    pub fn open_data_key(
        &self,
        associated_data: &[u8],
        nonce_and_sealed: &[u8],
    ) -> Result<DataKey, CryptoError> {
        if nonce_and_sealed.len() <= NONCE_LEN {
            return Err(CryptoError::MalformedSealedSecret);
        }
        let (nonce, sealed) = nonce_and_sealed.split_at(NONCE_LEN);
        let key = self.open(nonce, associated_data, sealed)?;
        DataKey::from_slice(&key).ok_or(CryptoError::MalformedSealedSecret)
    }
}

impl fmt::Debug for AeadKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AeadKey(..)")
    }
}
