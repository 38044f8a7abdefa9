//! Intermediate keys: random 256-bit keys held only in memory, each sealing many data keys
//! locally and itself wrapped by a Key Vault key version.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use aws_lc_rs::rsa::{
    OAEP_SHA256_MGF1SHA256, OaepPublicEncryptingKey, PublicEncryptingKey, PublicKeyComponents,
};
use zeroize::Zeroizing;

use super::format::{self, Header, IntermediateId, NONCE_LEN};
use crate::aead::AeadKey;
use crate::data_key::DATA_KEY_LEN;
use crate::{CryptoError, DataKey};

/// Smallest RSA modulus accepted for the Key Vault key, in bits.
pub const MIN_RSA_BITS: usize = 2048;

/// An unwrapped intermediate key. The cipher zeroizes its key when dropped, so evicting the last
/// reference wipes it.
pub struct IntermediateKey {
    key: AeadKey,
}

impl IntermediateKey {
    /// A fresh key, with its raw bytes for wrapping (zeroized when dropped).
    pub fn generate() -> Result<(Self, Zeroizing<[u8; DATA_KEY_LEN]>), CryptoError> {
        let mut raw = Zeroizing::new([0_u8; DATA_KEY_LEN]);
        getrandom::fill(raw.as_mut()).map_err(|_| CryptoError::RandomUnavailable)?;
        Ok((Self::from_raw(&raw), raw))
    }

    /// The key Key Vault unwrapped; any other length is refused.
    pub fn from_unwrapped(bytes: &[u8]) -> Option<Self> {
        let raw: &[u8; DATA_KEY_LEN] = bytes.try_into().ok()?;
        Some(Self::from_raw(raw))
    }

    fn from_raw(raw: &[u8; DATA_KEY_LEN]) -> Self {
        Self {
            key: AeadKey::new(raw),
        }
    }

    /// Seals a data key under this intermediate, bound to the intermediate's encoded header.
    pub fn seal_data_key(
        &self,
        encoded_header: &[u8],
        data_key: &DataKey,
    ) -> Result<Vec<u8>, CryptoError> {
        let associated_data = format::associated_data(encoded_header);
        let nonce_and_sealed = self.key.seal_data_key(&associated_data, data_key)?;
        Ok([encoded_header, &nonce_and_sealed].concat())
    }

    /// Opens a data key this intermediate sealed.
    pub fn open_data_key(
        &self,
        encoded_header: &[u8],
        nonce: &[u8; NONCE_LEN],
        sealed: &[u8],
    ) -> Result<DataKey, CryptoError> {
        let associated_data = format::associated_data(encoded_header);
        let key = self.key.open(nonce, &associated_data, sealed)?;
        DataKey::from_slice(&key).ok_or(CryptoError::MalformedSealedSecret)
    }
}

impl fmt::Debug for IntermediateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IntermediateKey(..)")
    }
}

/// The public half of one Key Vault key version, fetched once and used to wrap intermediates
/// locally (RSA-OAEP-256), as Key Vault would.
pub struct VaultKeyVersion {
    /// `{vault}/keys/{name}/{version}`, recorded in every sealed secret as its `kek_id`.
    pub kid: String,
    pub version: String,
    /// False once Key Vault reports this version disabled: nothing new is sealed under it.
    pub enabled: bool,
    public_key: Arc<OaepPublicEncryptingKey>,
}

impl VaultKeyVersion {
    /// Builds the version from the RSA modulus and exponent of its JSON web key.
    pub fn new(
        kid: String,
        version: String,
        enabled: bool,
        n: &[u8],
        e: &[u8],
    ) -> Result<Self, String> {
        let public: PublicEncryptingKey = PublicKeyComponents { n, e }
            .try_into()
            .map_err(|_| "the key's RSA modulus or exponent is invalid".to_owned())?;
        let public_key = OaepPublicEncryptingKey::new(public)
            .map_err(|_| "the key cannot do RSA-OAEP".to_owned())?;
        if public_key.key_size_bits() < MIN_RSA_BITS {
            return Err(format!(
                "the key has {} bits; at least {MIN_RSA_BITS} are needed",
                public_key.key_size_bits()
            ));
        }
        Ok(Self {
            kid,
            version,
            enabled,
            public_key: Arc::new(public_key),
        })
    }

    /// The same version with another enabled flag.
    pub fn with_enabled(&self, enabled: bool) -> Self {
        Self {
            kid: self.kid.clone(),
            version: self.version.clone(),
            enabled,
            public_key: Arc::clone(&self.public_key),
        }
    }

    /// Wraps raw intermediate key bytes with this version's public key.
    fn wrap(&self, raw: &[u8; DATA_KEY_LEN]) -> Result<Vec<u8>, CryptoError> {
        let mut out = vec![0_u8; self.public_key.ciphertext_size()];
        let wrapped = self
            .public_key
            .encrypt(&OAEP_SHA256_MGF1SHA256, raw, &mut out, None)
            .map_err(|_| CryptoError::RandomUnavailable)?;
        Ok(wrapped.to_vec())
    }
}

impl fmt::Debug for VaultKeyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VaultKeyVersion")
            .field("kid", &self.kid)
            .field("enabled", &self.enabled)
            .field("bits", &self.public_key.key_size_bits())
            .finish()
    }
}

/// The intermediate key that seals new data keys, until it is too old or too used.
pub struct SealingKey {
    pub id: IntermediateId,
    pub key: Arc<IntermediateKey>,
    pub encoded_header: Vec<u8>,
    pub kid: String,
    pub version: String,
    created: Instant,
    uses: AtomicU64,
}

impl SealingKey {
    /// A fresh intermediate wrapped locally by `version`: no Key Vault call.
    pub fn create(version: &VaultKeyVersion) -> Result<Self, CryptoError> {
        let (key, raw) = IntermediateKey::generate()?;
        let header = Header {
            key_version: version.version.clone(),
            wrapped_intermediate: version.wrap(&raw)?,
        };
        let encoded_header = header.encode()?;

        Ok(Self {
            id: format::intermediate_id(&encoded_header),
            key: Arc::new(key),
            encoded_header,
            kid: version.kid.clone(),
            version: version.version.clone(),
            created: Instant::now(),
            uses: AtomicU64::new(0),
        })
    }

    /// Counts one use and says whether it was allowed: under `max_uses`, younger than
    /// `max_age` and wrapped by `current_version`.
    pub fn take_use(&self, max_age: Duration, max_uses: u64, current_version: &str) -> bool {
        self.version == current_version
            && self.created.elapsed() < max_age
            && self.uses.fetch_add(1, Ordering::Relaxed) < max_uses
    }

    pub fn uses(&self) -> u64 {
        self.uses.load(Ordering::Relaxed)
    }
}

impl fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SealingKey")
            .field("kid", &self.kid)
            .field("uses", &self.uses())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_key_opens_only_under_its_own_header() {
        let (key, _raw) = IntermediateKey::generate().expect("random");
        let data_key = DataKey::generate().expect("random");
        let header = b"header-a";

        let bytes = key.seal_data_key(header, &data_key).expect("seal");
        let parsed_nonce: &[u8; NONCE_LEN] = bytes[header.len()..header.len() + NONCE_LEN]
            .try_into()
            .expect("nonce");
        let sealed = &bytes[header.len() + NONCE_LEN..];

        let opened = key
            .open_data_key(header, parsed_nonce, sealed)
            .expect("open");
        assert_eq!(opened.as_bytes(), data_key.as_bytes());
        assert!(matches!(
            key.open_data_key(b"header-b", parsed_nonce, sealed),
            Err(CryptoError::AuthenticationFailed)
        ));
        assert_eq!(format!("{key:?}"), "IntermediateKey(..)");
    }

    #[test]
    fn uses_age_and_version_end_a_sealing_key() {
        use aws_lc_rs::encoding::AsDer;
        use aws_lc_rs::signature::KeyPair as _;

        let private =
            aws_lc_rs::rsa::PrivateDecryptingKey::generate(aws_lc_rs::rsa::KeySize::Rsa2048)
                .expect("rsa");
        let pkcs8 = private.as_der().expect("der");
        let pair = aws_lc_rs::rsa::KeyPair::from_pkcs8(pkcs8.as_ref()).expect("pair");
        let components: PublicKeyComponents<Vec<u8>> = pair.public_key().into();
        let version = VaultKeyVersion::new(
            "https://v/keys/k/v1".into(),
            "v1".into(),
            true,
            &components.n,
            &components.e,
        )
        .expect("version");
        let sealing = SealingKey::create(&version).expect("create");

        assert!(sealing.take_use(Duration::from_secs(60), 2, "v1"));
        assert!(sealing.take_use(Duration::from_secs(60), 2, "v1"));
        assert!(!sealing.take_use(Duration::from_secs(60), 2, "v1"));
        assert!(!sealing.take_use(Duration::from_secs(60), 100, "v2"));
        assert!(!sealing.take_use(Duration::ZERO, 100, "v1"));

        let parsed = format::parse(
            &sealing
                .key
                .seal_data_key(&sealing.encoded_header, &DataKey::generate().expect("dk"))
                .expect("seal"),
        )
        .map(|p| p.header)
        .expect("parse");
        assert_eq!(parsed.key_version, "v1");
        assert_eq!(parsed.wrapped_intermediate.len(), 256);
        let private = aws_lc_rs::rsa::OaepPrivateDecryptingKey::new(private).expect("oaep");
        let mut out = vec![0; private.min_output_size()];
        let raw = private
            .decrypt(
                &OAEP_SHA256_MGF1SHA256,
                &parsed.wrapped_intermediate,
                &mut out,
                None,
            )
            .expect("the vault's private key unwraps it");
        assert_eq!(raw.len(), DATA_KEY_LEN);
    }
}
