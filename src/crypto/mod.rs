//! All of ferrid's cryptography in one place: JOSE signing and
//! verification, key generation, random secrets and digests, and password
//! hashing. The lowest layer: it imports nothing else of ferrid's, so
//! everything may use it.

pub mod jose;
pub mod keygen;
pub mod password;
pub mod seal;
pub mod secrets;
mod signing_alg;
pub mod totp;

pub use signing_alg::SigningAlg;
