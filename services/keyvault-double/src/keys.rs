//! Keys and their versions, held in memory: real RSA keys (aws-lc), so anything wrapped with a
//! version's public JWK elsewhere unwraps here with RSA-OAEP-256.

use std::{
    collections::BTreeMap,
    time::{SystemTime, UNIX_EPOCH},
};

use aws_lc_rs::{
    encoding::AsDer,
    rand::{SecureRandom, SystemRandom},
    rsa::{
        KeyPair, KeySize, OAEP_SHA1_MGF1SHA1, OAEP_SHA256_MGF1SHA256, OaepAlgorithm,
        OaepPrivateDecryptingKey, OaepPublicEncryptingKey, PrivateDecryptingKey,
    },
    signature::KeyPair as _,
};
use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};

use crate::DoubleError;

/// Operations a new key permits, as Key Vault lists them for an RSA key created without
/// `key_ops`.
pub(crate) const DEFAULT_KEY_OPS: [&str; 6] = [
    "encrypt",
    "decrypt",
    "sign",
    "verify",
    "wrapKey",
    "unwrapKey",
];

/// The public side of one key version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyInfo {
    pub name: String,
    pub version: String,
    pub enabled: bool,
    /// RSA modulus, big-endian.
    pub n: Vec<u8>,
    /// RSA public exponent, big-endian.
    pub e: Vec<u8>,
    pub key_ops: Vec<String>,
    pub created: i64,
    pub updated: i64,
    pub tags: BTreeMap<String, String>,
}

/// One version: the private key and its attributes.
pub(crate) struct KeyVersion {
    private: PrivateDecryptingKey,
    info: KeyInfo,
}

impl std::fmt::Debug for KeyVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyVersion")
            .field("name", &self.info.name)
            .field("version", &self.info.version)
            .field("enabled", &self.info.enabled)
            .finish_non_exhaustive()
    }
}

/// Wrap algorithms the double implements.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum WrapAlgorithm {
    RsaOaep256,
    RsaOaep,
}

impl WrapAlgorithm {
    pub(crate) fn parse(alg: &str) -> Option<Self> {
        match alg {
            "RSA-OAEP-256" => Some(Self::RsaOaep256),
            "RSA-OAEP" => Some(Self::RsaOaep),
            _ => None,
        }
    }

    fn oaep(self) -> &'static OaepAlgorithm {
        match self {
            Self::RsaOaep256 => &OAEP_SHA256_MGF1SHA256,
            Self::RsaOaep => &OAEP_SHA1_MGF1SHA1,
        }
    }
}

/// Why a key operation failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum CryptoFailure {
    /// Plaintext too long for the key and algorithm.
    TooLong,
    /// Ciphertext did not decrypt under this version.
    Undecryptable,
}

impl KeyVersion {
    /// Generates a fresh RSA version (blocking: run it off the async threads).
    pub(crate) fn generate(name: &str, bits: KeySize) -> Result<Self, DoubleError> {
        let private =
            PrivateDecryptingKey::generate(bits).map_err(|_| DoubleError::KeyGeneration)?;
        let pkcs8 = private.as_der().map_err(|_| DoubleError::KeyGeneration)?;
        let pair = KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|_| DoubleError::KeyGeneration)?;
        let public = pair.public_key();
        let now = unix_now();

        Ok(Self {
            private,
            info: KeyInfo {
                name: name.to_owned(),
                version: random_hex(16),
                enabled: true,
                n: public.modulus().big_endian_without_leading_zero().to_vec(),
                e: public.exponent().big_endian_without_leading_zero().to_vec(),
                key_ops: DEFAULT_KEY_OPS.iter().map(|s| (*s).to_owned()).collect(),
                created: now,
                updated: now,
                tags: BTreeMap::new(),
            },
        })
    }

    pub(crate) fn info(&self) -> &KeyInfo {
        &self.info
    }

    pub(crate) fn info_mut(&mut self) -> &mut KeyInfo {
        self.info.updated = unix_now();
        &mut self.info
    }

    pub(crate) fn permits(&self, op: &str) -> bool {
        self.info.key_ops.iter().any(|o| o == op)
    }

    pub(crate) fn wrap(
        &self,
        alg: WrapAlgorithm,
        plaintext: &[u8],
    ) -> Result<Vec<u8>, CryptoFailure> {
        let public = OaepPublicEncryptingKey::new(self.private.public_key())
            .map_err(|_| CryptoFailure::TooLong)?;
        if plaintext.len() > public.max_plaintext_size(alg.oaep()) {
            return Err(CryptoFailure::TooLong);
        }
        let mut out = vec![0u8; public.ciphertext_size()];
        let written = public
            .encrypt(alg.oaep(), plaintext, &mut out, None)
            .map_err(|_| CryptoFailure::TooLong)?
            .len();
        out.truncate(written);
        Ok(out)
    }

    pub(crate) fn unwrap(
        &self,
        alg: WrapAlgorithm,
        ciphertext: &[u8],
    ) -> Result<zeroize::Zeroizing<Vec<u8>>, CryptoFailure> {
        let private = OaepPrivateDecryptingKey::new(self.private.clone())
            .map_err(|_| CryptoFailure::Undecryptable)?;
        let mut out = zeroize::Zeroizing::new(vec![0u8; private.min_output_size()]);
        let written = private
            .decrypt(alg.oaep(), ciphertext, &mut out, None)
            .map_err(|_| CryptoFailure::Undecryptable)?
            .len();
        out.truncate(written);
        Ok(out)
    }
}

/// Why a lookup failed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Missing {
    Key,
    Version,
}

/// All keys of the vault.
#[derive(Debug, Default)]
pub(crate) struct KeyStore {
    keys: BTreeMap<String, Vec<KeyVersion>>,
}

impl KeyStore {
    /// Adds a version and makes it the current one.
    pub(crate) fn add(&mut self, version: KeyVersion) -> KeyInfo {
        let info = version.info.clone();
        self.keys
            .entry(info.name.clone())
            .or_default()
            .push(version);
        info
    }

    /// Finds a version; an empty version means the current (newest) one.
    pub(crate) fn find(&self, name: &str, version: &str) -> Result<&KeyVersion, Missing> {
        let versions = self.keys.get(name).ok_or(Missing::Key)?;
        if version.is_empty() {
            return versions.last().ok_or(Missing::Key);
        }
        versions
            .iter()
            .find(|v| v.info.version == version)
            .ok_or(Missing::Version)
    }

    pub(crate) fn find_mut(
        &mut self,
        name: &str,
        version: &str,
    ) -> Result<&mut KeyVersion, Missing> {
        let versions = self.keys.get_mut(name).ok_or(Missing::Key)?;
        if version.is_empty() {
            return versions.last_mut().ok_or(Missing::Key);
        }
        versions
            .iter_mut()
            .find(|v| v.info.version == version)
            .ok_or(Missing::Version)
    }

    /// Removes a key with all its versions; returns its current version's view.
    pub(crate) fn delete(&mut self, name: &str) -> Option<KeyInfo> {
        self.keys
            .remove(name)
            .and_then(|versions| versions.last().map(|v| v.info.clone()))
    }
}

/// Key Vault key names: 1 to 127 letters, digits and dashes.
pub(crate) fn valid_key_name(name: &str) -> bool {
    (1..=127).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

pub(crate) fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// `bytes` random bytes as lowercase hex (Key Vault versions are 32 hex digits).
pub(crate) fn random_hex(bytes: usize) -> String {
    random_bytes(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

pub(crate) fn random_b64(bytes: usize) -> String {
    URL_SAFE_NO_PAD.encode(random_bytes(bytes))
}

/// Three base64url parts joined by dots; not a signed JWT, only shaped like one.
pub(crate) fn random_jwt_like() -> String {
    let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
    format!("{header}.{}.{}", random_b64(48), random_b64(32))
}

fn random_bytes(len: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; len];
    // The system random source does not fail on the platforms we run on; a zeroed buffer
    // would only make ids predictable in a test double.
    let _ = SystemRandom::new().fill(&mut bytes);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_then_unwrap_round_trips_and_versions_stay_apart() {
        let first = KeyVersion::generate("kek", KeySize::Rsa2048).expect("keygen");
        let second = KeyVersion::generate("kek", KeySize::Rsa2048).expect("keygen");
        let data_key = [7u8; 32];

        let wrapped = first
            .wrap(WrapAlgorithm::RsaOaep256, &data_key)
            .expect("wrap");

        assert_eq!(wrapped.len(), 256);
        assert_eq!(
            first
                .unwrap(WrapAlgorithm::RsaOaep256, &wrapped)
                .expect("unwrap")
                .as_slice(),
            &data_key
        );
        assert_eq!(
            second.unwrap(WrapAlgorithm::RsaOaep256, &wrapped),
            Err(CryptoFailure::Undecryptable)
        );
        assert_eq!(
            first.wrap(WrapAlgorithm::RsaOaep256, &[0u8; 191]),
            Err(CryptoFailure::TooLong)
        );
    }

    #[test]
    fn empty_version_means_the_newest() {
        let mut store = KeyStore::default();
        let old = store.add(KeyVersion::generate("kek", KeySize::Rsa2048).expect("keygen"));
        let new = store.add(KeyVersion::generate("kek", KeySize::Rsa2048).expect("keygen"));

        assert_eq!(
            store.find("kek", "").map(|v| &v.info().version),
            Ok(&new.version)
        );
        assert_eq!(
            store.find("kek", &old.version).map(|v| v.info().enabled),
            Ok(true)
        );
        assert_eq!(store.find("kek", "nope").map(|_| ()), Err(Missing::Version));
        assert_eq!(store.find("other", "").map(|_| ()), Err(Missing::Key));
    }

    #[test]
    fn key_names_follow_key_vault_rules() {
        assert!(valid_key_name("master-kek-1"));
        assert!(!valid_key_name(""));
        assert!(!valid_key_name("has_underscore"));
        assert!(!valid_key_name(&"a".repeat(128)));
    }
}
