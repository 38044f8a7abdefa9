//! Envelope encryption of one secret: a fresh data key seals the content with the secret's id as
//! associated data, and the key-encryption key wraps the data key.

use prost::Message;
use sharer_core::SecretId;
use sharer_core::proto::crypto::SealedSecret;
use zeroize::Zeroizing;

use crate::aead::AeadKey;
use crate::{CryptoError, DataKey, KeyEncryptionKey, WrappedDataKey};

/// The largest content a secret may hold.
pub const MAX_PLAINTEXT_LEN: usize = 64 * 1024;
const ASSOCIATED_DATA_PREFIX: &[u8] = b"sharer.v1/secret/";

/// Seals `plaintext` for `secret_id` and returns the encoded [`SealedSecret`].
pub async fn seal(
    secret_id: &SecretId,
    plaintext: &[u8],
    kek: &dyn KeyEncryptionKey,
) -> Result<Vec<u8>, CryptoError> {
    check_plaintext_len(plaintext.len())?;

    let data_key = DataKey::generate()?;
    let (nonce, ciphertext) =
        AeadKey::new(data_key.as_bytes()).seal(&associated_data(secret_id), plaintext)?;
    let wrapped = kek.wrap(&data_key).await?;

    let sealed = SealedSecret {
        kek_id: wrapped.kek_id,
        wrapped_data_key: wrapped.bytes,
        nonce: nonce.to_vec(),
        ciphertext,
    };
    Ok(sealed.encode_to_vec())
}

/// Opens an encoded [`SealedSecret`] that was sealed for `secret_id`.
pub async fn open(
    secret_id: &SecretId,
    sealed_secret: &[u8],
    kek: &dyn KeyEncryptionKey,
) -> Result<Zeroizing<Vec<u8>>, CryptoError> {
    let sealed =
        SealedSecret::decode(sealed_secret).map_err(|_| CryptoError::MalformedSealedSecret)?;

    let wrapped = WrappedDataKey {
        kek_id: sealed.kek_id,
        bytes: sealed.wrapped_data_key,
    };
    let data_key = kek.unwrap(&wrapped).await?;

    AeadKey::new(data_key.as_bytes()).open(
        &sealed.nonce,
        &associated_data(secret_id),
        &sealed.ciphertext,
    )
}

/// Refuses empty content and content over [`MAX_PLAINTEXT_LEN`].
pub fn check_plaintext_len(len: usize) -> Result<(), CryptoError> {
    match len {
        0 => Err(CryptoError::EmptyPlaintext),
        len if len > MAX_PLAINTEXT_LEN => Err(CryptoError::PlaintextTooLarge {
            len,
            limit: MAX_PLAINTEXT_LEN,
        }),
        _ => Ok(()),
    }
}

fn associated_data(secret_id: &SecretId) -> Vec<u8> {
    [ASSOCIATED_DATA_PREFIX, secret_id.as_str().as_bytes()].concat()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::LocalKek;

    fn kek() -> (tempfile::TempDir, LocalKek) {
        let folder = tempfile::tempdir().expect("tempdir");
        let kek = LocalKek::load_or_create(&folder.path().join("kek.key")).expect("kek");
        (folder, kek)
    }

    #[tokio::test]
    async fn sealed_content_opens_exactly_and_holds_no_plaintext() {
        let (_folder, kek) = kek();
        let id = SecretId::generate().expect("id");
        let content = "pässwörd 🔑\r\n\t end".as_bytes();

        let sealed = seal(&id, content, &kek).await.expect("seal");
        assert!(!sealed.windows(content.len()).any(|w| w == content));

        let opened = open(&id, &sealed, &kek).await.expect("open");
        assert_eq!(opened.as_slice(), content);
    }

    #[tokio::test]
    async fn a_sealed_secret_moved_to_another_id_does_not_open() {
        let (_folder, kek) = kek();
        let id = SecretId::generate().expect("id");
        let other = SecretId::generate().expect("id");
        let sealed = seal(&id, b"secret", &kek).await.expect("seal");

        let error = open(&other, &sealed, &kek).await.expect_err("moved");
        assert!(matches!(error, CryptoError::AuthenticationFailed));
    }

    #[tokio::test]
    async fn altered_or_garbage_sealed_secrets_are_refused() {
        let (_folder, kek) = kek();
        let id = SecretId::generate().expect("id");
        let sealed = seal(&id, b"secret", &kek).await.expect("seal");

        let mut decoded = SealedSecret::decode(sealed.as_slice()).expect("decode");
        decoded.ciphertext[0] ^= 0x80;
        let error = open(&id, &decoded.encode_to_vec(), &kek)
            .await
            .expect_err("altered");
        assert!(matches!(error, CryptoError::AuthenticationFailed));

        let error = open(&id, b"\xff\xff garbage", &kek)
            .await
            .expect_err("garbage");
        assert!(matches!(error, CryptoError::MalformedSealedSecret));
    }

    #[tokio::test]
    async fn content_size_limits_hold() {
        let (_folder, kek) = kek();
        let id = SecretId::generate().expect("id");

        assert!(matches!(
            seal(&id, b"", &kek).await,
            Err(CryptoError::EmptyPlaintext)
        ));
        let largest = vec![0xAB; MAX_PLAINTEXT_LEN];
        let sealed = seal(&id, &largest, &kek).await.expect("largest allowed");
        assert_eq!(
            open(&id, &sealed, &kek).await.expect("open").len(),
            MAX_PLAINTEXT_LEN
        );
        let too_large = vec![0xAB; MAX_PLAINTEXT_LEN + 1];
        assert!(matches!(
            seal(&id, &too_large, &kek).await,
            Err(CryptoError::PlaintextTooLarge { .. })
        ));
    }
}
