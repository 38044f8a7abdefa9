//! The development key-encryption key: 256 bits in a local file, created on first run with mode
//! 0600. It exists so `make run` needs no cloud; production uses Azure Key Vault.

use std::fmt;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::aead::AeadKey;
use crate::data_key::DATA_KEY_LEN;
use crate::{CryptoError, DataKey, KeyEncryptionKey, WrappedDataKey};

const FILE_HEADER: &str = "# Secret Sharer DEVELOPMENT key-encryption key: not for production.\n\
# Anyone who reads this file can open every secret sealed under it.\n";

/// A key-encryption key held in process memory, loaded from a development key file.
pub struct LocalKek {
    kek_id: String,
    key: AeadKey,
}

impl LocalKek {
    /// Loads the key file at `path`, creating it (and its folder) with a fresh key if absent.
    /// Blocking file I/O: call it at start-up, or from `spawn_blocking`.
    pub fn load_or_create(path: &Path) -> Result<Self, CryptoError> {
        let key = match read_key_file(path) {
            Ok(key) => key,
            Err(error) if error.kind() == ErrorKind::NotFound => create_key_file(path)?,
            Err(error) => return Err(key_file_error(path, error.to_string())),
        };
        Ok(Self::from_key(&key))
    }

    fn from_key(key: &[u8; DATA_KEY_LEN]) -> Self {
        let fingerprint = Sha256::digest(key);
        let kek_id = format!(
            "local-dev:{:02x}{:02x}{:02x}{:02x}",
            fingerprint[0], fingerprint[1], fingerprint[2], fingerprint[3]
        );
        Self {
            kek_id,
            key: AeadKey::new(key),
        }
    }

    pub fn kek_id(&self) -> &str {
        &self.kek_id
    }
}

impl fmt::Debug for LocalKek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKek")
            .field("kek_id", &self.kek_id)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl KeyEncryptionKey for LocalKek {
    async fn wrap(&self, data_key: &DataKey) -> Result<WrappedDataKey, CryptoError> {
        Ok(WrappedDataKey {
            kek_id: self.kek_id.clone(),
            bytes: self.key.seal_data_key(self.kek_id.as_bytes(), data_key)?,
        })
    }

    async fn unwrap(&self, wrapped: &WrappedDataKey) -> Result<DataKey, CryptoError> {
        if wrapped.kek_id != self.kek_id {
            return Err(CryptoError::UnknownKek {
                kek_id: wrapped.kek_id.clone(),
            });
        }
        self.key
            .open_data_key(self.kek_id.as_bytes(), &wrapped.bytes)
    }
}

fn read_key_file(path: &Path) -> std::io::Result<Zeroizing<[u8; DATA_KEY_LEN]>> {
    let text = Zeroizing::new(std::fs::read_to_string(path)?);
    let encoded = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .unwrap_or_default();
    let decoded = Zeroizing::new(STANDARD.decode(encoded).unwrap_or_default());

    let mut key = Zeroizing::new([0_u8; DATA_KEY_LEN]);
    if decoded.len() != DATA_KEY_LEN {
        return Err(std::io::Error::new(
            ErrorKind::InvalidData,
            "expected one base64 line holding a 256-bit key",
        ));
    }
    key.copy_from_slice(&decoded);
    Ok(key)
}

fn create_key_file(path: &Path) -> Result<Zeroizing<[u8; DATA_KEY_LEN]>, CryptoError> {
    let mut key = Zeroizing::new([0_u8; DATA_KEY_LEN]);
    getrandom::fill(key.as_mut()).map_err(|_| CryptoError::RandomUnavailable)?;
    let line = Zeroizing::new(format!("{FILE_HEADER}{}\n", STANDARD.encode(key.as_ref())));

    if let Some(folder) = path
        .parent()
        .filter(|folder| !folder.as_os_str().is_empty())
    {
        std::fs::create_dir_all(folder).map_err(|e| key_file_error(path, e.to_string()))?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);

    match options.open(path) {
        Ok(mut file) => {
            file.write_all(line.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| key_file_error(path, e.to_string()))?;
            tracing::warn!(path = %path.display(), "created a new development key-encryption key");
            Ok(key)
        }
        // Another replica created it between our read and our create: use theirs.
        Err(error) if error.kind() == ErrorKind::AlreadyExists => {
            read_key_file(path).map_err(|e| key_file_error(path, e.to_string()))
        }
        Err(error) => Err(key_file_error(path, error.to_string())),
    }
}

fn key_file_error(path: &Path, reason: String) -> CryptoError {
    CryptoError::KeyFile {
        path: PathBuf::from(path).display().to_string(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn key_file_is_created_private_and_reloads_to_the_same_key() {
        let folder = tempfile::tempdir().expect("tempdir");
        let path = folder.path().join("nested/dev-kek.key");

        let created = LocalKek::load_or_create(&path).expect("created");
        let reloaded = LocalKek::load_or_create(&path).expect("reloaded");
        assert_eq!(created.kek_id(), reloaded.kek_id());

        let text = std::fs::read_to_string(&path).expect("readable");
        assert!(text.contains("DEVELOPMENT"));
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path)
                .expect("metadata")
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }

        let data_key = DataKey::generate().expect("random");
        let wrapped = created.wrap(&data_key).await.expect("wrap");
        let unwrapped = reloaded.unwrap(&wrapped).await.expect("unwrap");
        assert_eq!(unwrapped.as_bytes(), data_key.as_bytes());
        assert!(
            !wrapped
                .bytes
                .windows(DATA_KEY_LEN)
                .any(|w| w == data_key.as_bytes())
        );
    }

    #[tokio::test]
    async fn another_key_or_altered_bytes_do_not_unwrap() {
        let folder = tempfile::tempdir().expect("tempdir");
        let ours = LocalKek::load_or_create(&folder.path().join("a.key")).expect("a");
        let theirs = LocalKek::load_or_create(&folder.path().join("b.key")).expect("b");
        let wrapped = ours
            .wrap(&DataKey::generate().expect("random"))
            .await
            .expect("wrap");

        let foreign = theirs.unwrap(&wrapped).await.expect_err("other key");
        assert!(matches!(foreign, CryptoError::UnknownKek { .. }));

        let mut altered = wrapped.clone();
        let last = altered.bytes.len() - 1;
        altered.bytes[last] ^= 1;
        let tampered = ours.unwrap(&altered).await.expect_err("altered");
        assert!(matches!(tampered, CryptoError::AuthenticationFailed));
    }

    #[test]
    fn a_corrupt_key_file_is_a_clear_error() {
        let folder = tempfile::tempdir().expect("tempdir");
        let path = folder.path().join("bad.key");
        std::fs::write(&path, "# header\nnot-base64!\n").expect("write");

        let error = LocalKek::load_or_create(&path).expect_err("corrupt");
        assert!(error.to_string().contains("256-bit key"), "{error}");
    }
}
