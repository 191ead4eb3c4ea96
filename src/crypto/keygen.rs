//! New signing keys, as PKCS#8 PEM: RSA-2048, EC P-256 or Ed25519.
//! Where they are written is `keys`' business.

use super::SigningAlg;
use openssl::error::ErrorStack;
use openssl::pkey::PKey;

/// A fresh private key for `alg`, PKCS#8 PEM.
pub fn private_key_pem(alg: SigningAlg) -> Result<Vec<u8>, ErrorStack> {
    let pkey = match alg {
        SigningAlg::RS256 => PKey::from_rsa(openssl::rsa::Rsa::generate(2048)?)?,
        SigningAlg::ES256 => {
            let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(openssl::ec::EcKey::generate(&group)?)?
        }
        SigningAlg::EdDSA => PKey::generate_ed25519()?,
    };
    pkey.private_key_to_pem_pkcs8()
}
