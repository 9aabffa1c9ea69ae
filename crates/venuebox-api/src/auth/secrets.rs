//! Secrets: passphrases (argon2 hashes; generated ones a person can read out), and the random
//! secrets behind session cookies and device tokens (only their SHA-256 is stored).
use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{self, PasswordHash, PasswordHasher, SaltString};
use sha2::{Digest, Sha256};

/// The shortest passphrase the box accepts, wherever it comes from (the API, the command
/// line, `VENUEBOX_ADMIN_PASSPHRASE`).
pub const MIN_PASSPHRASE_CHARS: usize = 8;

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

thread_local! {
    /// This thread's argon2 working memory, kept between checks. Allocating ~19 MiB per
    /// check and freeing it left the allocator holding several copies per thread (a burst of
    /// guesses grew the box by 200 MB with two checks at a time); one buffer per hashing
    /// thread is a fixed cost.
    static ARGON2_MEMORY: std::cell::RefCell<Vec<argon2::Block>> =
        const { std::cell::RefCell::new(Vec::new()) };
}

/// Checks `passphrase` against a stored argon2 hash (PHC string), in this thread's reused
/// working memory. The comparison of the outputs is constant-time (`password_hash::Output`).
pub(crate) fn verify_passphrase(passphrase: &str, hash: &str) -> bool {
    let check = || -> Option<bool> {
        let parsed = PasswordHash::new(hash).ok()?;
        let expected = parsed.hash?;
        let algorithm = argon2::Algorithm::try_from(parsed.algorithm).ok()?;
        let version = parsed
            .version
            .map(argon2::Version::try_from)
            .transpose()
            .ok()?
            .unwrap_or_default();
        let params = argon2::Params::try_from(&parsed).ok()?;
        let mut salt = [0u8; 64];
        let salt = parsed.salt?.decode_b64(&mut salt).ok()?;
        let blocks = params.block_count();
        let argon2 = Argon2::new(algorithm, version, params);
        let mut output = vec![0u8; expected.len()];
        ARGON2_MEMORY.with_borrow_mut(|memory| {
            if memory.len() < blocks {
                memory.resize(blocks, argon2::Block::default());
            }
            argon2
                .hash_password_into_with_memory(
                    passphrase.as_bytes(),
                    salt,
                    &mut output,
                    &mut memory[..blocks],
                )
                .ok()
        })?;
        Some(password_hash::Output::new(&output).ok()? == expected)
    };
    check().unwrap_or(false)
}

/// The threads passphrase hashes run on: a fixed two, so at most two argon2 buffers (~19 MiB
/// each) exist and the allocator keeps at most two threads' worth of them. Hashing on the
/// general blocking pool let each of its many threads keep its own freed buffer: a burst of
/// guesses grew the box to 700 MB while never hashing more than two at once.
pub struct HashingThreads {
    jobs: std::sync::mpsc::Sender<Box<dyn FnOnce() + Send>>,
}

impl HashingThreads {
    pub fn start(threads: usize) -> HashingThreads {
        let (jobs, queue) = std::sync::mpsc::channel::<Box<dyn FnOnce() + Send>>();
        let queue = std::sync::Arc::new(std::sync::Mutex::new(queue));
        for n in 0..threads.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("passphrase-hash-{n}"))
                .spawn(move || {
                    loop {
                        let job = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match job {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("a passphrase hashing thread starts");
        }
        HashingThreads { jobs }
    }

    /// Runs `work` on a hashing thread; `None` if the threads are gone.
    pub async fn run<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Option<T> {
        let (answer, result) = tokio::sync::oneshot::channel();
        self.jobs
            .send(Box::new(move || {
                let _ = answer.send(work());
            }))
            .ok()?;
        result.await.ok()
    }
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
    fn hashes_with_other_parameters_still_verify() {
        // Hashes stored by another version (or a tuned box) carry their own parameters.
        let params = argon2::Params::new(8192, 3, 2, Some(24)).unwrap();
        let argon2 = Argon2::new(argon2::Algorithm::Argon2i, argon2::Version::V0x10, params);
        let salt = SaltString::generate(&mut OsRng);
        let hash = argon2
            .hash_password(b"stage left", &salt)
            .unwrap()
            .to_string();
        assert!(verify_passphrase("stage left", &hash));
        assert!(!verify_passphrase("stage right", &hash));
        assert!(!verify_passphrase("stage left", "not a hash"));
        // The thread's working memory grows to the largest check and is reused.
        assert!(verify_passphrase(
            "correct horse",
            &hash_passphrase("correct horse")
        ));
        assert!(verify_passphrase("stage left", &hash));
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
