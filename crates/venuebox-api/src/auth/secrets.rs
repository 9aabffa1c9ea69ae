//! Secrets: passphrases (argon2 hashes; generated ones a person can read out), and the random
//! secrets behind session cookies and device tokens (only their SHA-256 is stored).
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use sha2::{Digest, Sha256};

/// SHA-256 of a secret, as hex: what the box stores of a session or token secret.
pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub fn hash_passphrase(passphrase: &str) -> String {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(passphrase.as_bytes(), &salt)
        .expect("argon2 hashes any passphrase")
        .to_string()
}

pub(crate) fn verify_passphrase(passphrase: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(passphrase.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A random secret: 256 bits from a generator seeded by the operating system, as hex.
pub(crate) fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 32]>())
}

/// A short random id (48 bits, hex) for a token's public name.
pub(crate) fn random_id() -> String {
    hex::encode(rand::random::<[u8; 6]>())
}

/// A passphrase a person can read out and type: six groups of four from an alphabet without
/// look-alike characters (31 symbols, ~119 bits), each drawn uniformly.
pub fn generate_passphrase() -> String {
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyz23456789";
    (0..6)
        .map(|_| {
            (0..4)
                .map(|_| ALPHABET[rand::random_range(0..ALPHABET.len())] as char)
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("-")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passphrases_hash_and_verify() {
        let hash = hash_passphrase("correct horse");
        assert!(hash.starts_with("$argon2"));
        assert!(verify_passphrase("correct horse", &hash));
        assert!(!verify_passphrase("wrong horse", &hash));
        let generated = generate_passphrase();
        assert_eq!(generated.len(), 29);
        assert_ne!(generated, generate_passphrase());
    }

    #[test]
    fn secrets_are_long_random_hex() {
        let secret = random_secret();
        assert_eq!(secret.len(), 64);
        assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
        assert_ne!(secret, random_secret());
        assert_eq!(
            hash_secret("abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
