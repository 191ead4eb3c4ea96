//! bcrypt password hashes, computed off the async executor: one hash at
//! cost 10 takes ~67 ms of CPU, which would stall every request on a worker.

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
pub async fn verify_off_thread(password: String, stored: Option<String>, dummy: String) -> Result<bool, PasswordError> {
    actix_web::web::block(move || {
        let known = stored.is_some();
        let hash = stored.unwrap_or(dummy);
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
