//! bcrypt password hashes, computed off the async executor: one hash at
//! cost 10 takes ~67 ms of CPU, which would stall every request on a worker.

use std::sync::{Arc, LazyLock};

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("bcrypt: {0}")]
    Bcrypt(#[from] bcrypt::BcryptError),
    #[error("password must be between 8 and 72 bytes (bcrypt ignores anything past 72)")]
    BadLength,
    #[error("the blocking thread pool is gone")]
    Pool,
}

pub fn check_policy(password: &str) -> Result<(), PasswordError> {
    if password.len() < 8 || password.len() > 72 {
        return Err(PasswordError::BadLength);
    }
    Ok(())
}

/// `$2b$…`, the form Node-RED's `adminAuth.users[].password` takes.
pub fn hash(password: &str, cost: u32) -> Result<String, PasswordError> {
    check_policy(password)?;
    Ok(bcrypt::hash(password, cost)?)
}

/// Verifies on a blocking thread. With no stored hash (unknown user), it
/// verifies against a dummy hash of the same cost, so the answer takes the
/// same time and never tells whether the account exists.
/// A bcrypt hash at the configured cost that no password matches: verified
/// against when a username is unknown (or locked), so that case costs the
/// same time as a wrong password. Making it takes as long as a sign-in
/// (~60 ms at cost 10), so it is made on a background thread at start-up
/// instead of delaying the first answer; a sign-in that comes first waits.
#[derive(Clone)]
pub struct DummyHash(Arc<LazyLock<String, Box<dyn FnOnce() -> String + Send>>>);

impl DummyHash {
    pub fn new(cost: u32) -> DummyHash {
        let make: Box<dyn FnOnce() -> String + Send> = Box::new(move || {
            // The cost was validated (4..=31), so only a failing CSPRNG can
            // make this fail; then no unknown name can ever verify anyway.
            hash("not-a-real-password", cost).unwrap_or_else(|e| {
                tracing::error!(error = %e, "cannot make the dummy password hash");
                String::new()
            })
        });
        DummyHash(Arc::new(LazyLock::new(make)))
    }

    /// Starts making the hash now, off the caller's thread.
    pub fn warm_up(&self) {
        let me = self.clone();
        std::thread::spawn(move || {
            LazyLock::force(&me.0);
        });
    }

    /// Blocks until the hash exists: call off the async workers.
    fn get(&self) -> String {
        LazyLock::force(&self.0).clone()
    }
}

pub async fn verify_off_thread(
    password: String,
    stored: Option<String>,
    dummy: DummyHash,
) -> Result<bool, PasswordError> {
    actix_web::web::block(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or_else(|| dummy.get());
        let matches = bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false);
        matches && known
    })
    .await
    .map_err(|_| PasswordError::Pool)
}

/// A random password for generated accounts: 20 characters of base64url.
pub fn generate() -> Result<String, crate::secrets::RandomError> {
    Ok(crate::secrets::b64url(&crate::secrets::random_bytes::<15>()?))
}
