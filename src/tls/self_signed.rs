//! `ferrid cert self-signed`: a certificate a homelab can trust by hand.
//!
//! EC P-256 by default (RSA 2048 on request; nothing weaker), the host
//! names and addresses as subjectAltNames (what clients check; the CN is
//! only a label), serverAuth only, 397 days (what browsers accept for
//! publicly trusted certificates, so renewal habits carry over).

use openssl::asn1::{Asn1Integer, Asn1Time};
use openssl::bn::{BigNum, MsbOption};
use openssl::ec::{EcGroup, EcKey};
use openssl::hash::MessageDigest;
use openssl::nid::Nid;
use openssl::pkey::{PKey, Private};
use openssl::rsa::Rsa;
use openssl::x509::extension::{
    BasicConstraints, ExtendedKeyUsage, KeyUsage, SubjectAlternativeName, SubjectKeyIdentifier,
};
use openssl::x509::{X509, X509NameBuilder};
use std::net::IpAddr;

pub const DEFAULT_DAYS: u32 = 397;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    EcP256,
    Rsa2048,
}

pub struct Request<'a> {
    pub hosts: &'a [String],
    pub ips: &'a [IpAddr],
    pub days: u32,
    pub key: KeyKind,
}

/// PEM certificate and PEM (PKCS#8) private key.
pub struct Generated {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

#[derive(Debug, thiserror::Error)]
pub enum SelfSignedError {
    #[error("give at least one --host or --ip")]
    NoNames,
    #[error("--host {0:?} is not a DNS name")]
    BadHost(String),
    #[error("--days must be between 1 and 825")]
    BadDays,
    #[error("certificate generation failed: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

fn valid_host(host: &str) -> bool {
    let host = host.strip_prefix("*.").unwrap_or(host);
    !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

fn private_key(kind: KeyKind) -> Result<PKey<Private>, openssl::error::ErrorStack> {
    match kind {
        KeyKind::EcP256 => {
            let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1)?;
            PKey::from_ec_key(EcKey::generate(&group)?)
        }
        KeyKind::Rsa2048 => PKey::from_rsa(Rsa::generate(2048)?),
    }
}

pub fn generate(request: &Request) -> Result<Generated, SelfSignedError> {
    if request.hosts.is_empty() && request.ips.is_empty() {
        return Err(SelfSignedError::NoNames);
    }
    if let Some(bad) = request.hosts.iter().find(|h| !valid_host(h)) {
        return Err(SelfSignedError::BadHost(bad.clone()));
    }
    if !(1..=825).contains(&request.days) {
        return Err(SelfSignedError::BadDays);
    }
    let key = private_key(request.key)?;
    let common_name = request.hosts.first().cloned().unwrap_or_else(|| request.ips[0].to_string());
    let mut name = X509NameBuilder::new()?;
    name.append_entry_by_nid(Nid::COMMONNAME, &common_name)?;
    name.append_entry_by_nid(Nid::ORGANIZATIONNAME, "ferrid self-signed")?;
    let name = name.build();

    let mut serial = BigNum::new()?;
    serial.rand(127, MsbOption::MAYBE_ZERO, false)?;
    let mut builder = X509::builder()?;
    builder.set_version(2)?;
    let serial = Asn1Integer::from_bn(&serial)?;
    builder.set_serial_number(&serial)?;
    builder.set_subject_name(&name)?;
    builder.set_issuer_name(&name)?;
    builder.set_pubkey(&key)?;
    let (not_before, not_after) = (Asn1Time::days_from_now(0)?, Asn1Time::days_from_now(request.days)?);
    builder.set_not_before(&not_before)?;
    builder.set_not_after(&not_after)?;

    let mut san = SubjectAlternativeName::new();
    for host in request.hosts {
        san.dns(host);
    }
    for ip in request.ips {
        san.ip(&ip.to_string());
    }
    let context = builder.x509v3_context(None, None);
    let san = san.build(&context)?;
    let key_id = SubjectKeyIdentifier::new().build(&context)?;
    builder.append_extension(san)?;
    builder.append_extension(key_id)?;
    // A leaf that is its own trust anchor: not a CA, so trusting it cannot
    // make any other certificate trusted.
    builder.append_extension(BasicConstraints::new().critical().build()?)?;
    let mut usage = KeyUsage::new();
    usage.critical().digital_signature();
    if request.key == KeyKind::Rsa2048 {
        usage.key_encipherment();
    }
    builder.append_extension(usage.build()?)?;
    builder.append_extension(ExtendedKeyUsage::new().server_auth().build()?)?;
    builder.sign(&key, MessageDigest::sha256())?;

    Ok(Generated { cert_pem: builder.build().to_pem()?, key_pem: key.private_key_to_pem_pkcs8()? })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(hosts: &[String], ips: &[IpAddr], key: KeyKind) -> Generated {
        generate(&Request { hosts, ips, days: DEFAULT_DAYS, key }).unwrap()
    }

    #[test]
    fn carries_every_name_as_a_san_and_a_strong_key() {
        let hosts = vec!["nodered.lan".to_owned()];
        let ips = vec!["192.168.1.10".parse().unwrap()];
        for kind in [KeyKind::EcP256, KeyKind::Rsa2048] {
            let generated = request(&hosts, &ips, kind);
            let cert = X509::from_pem(&generated.cert_pem).unwrap();
            let names = cert.subject_alt_names().unwrap();
            assert_eq!(names.iter().filter_map(|n| n.dnsname()).collect::<Vec<_>>(), ["nodered.lan"]);
            assert_eq!(names.iter().filter_map(|n| n.ipaddress()).collect::<Vec<_>>(), [&[192u8, 168, 1, 10][..]]);
            let key = PKey::private_key_from_pem(&generated.key_pem).unwrap();
            assert!(cert.public_key().unwrap().public_eq(&key));
            assert!(key.bits() >= 256 && (kind == KeyKind::EcP256 || key.bits() >= 2048));
            assert!(cert.verify(&key).unwrap(), "self-signed");
        }
    }

    #[test]
    fn refuses_no_names_bad_names_and_absurd_validity() {
        assert!(matches!(
            generate(&Request { hosts: &[], ips: &[], days: 30, key: KeyKind::EcP256 }),
            Err(SelfSignedError::NoNames)
        ));
        let bad = vec!["a b.lan".to_owned()];
        assert!(matches!(
            generate(&Request { hosts: &bad, ips: &[], days: 30, key: KeyKind::EcP256 }),
            Err(SelfSignedError::BadHost(_))
        ));
        let ok = vec!["x.lan".to_owned()];
        assert!(matches!(
            generate(&Request { hosts: &ok, ips: &[], days: 5000, key: KeyKind::EcP256 }),
            Err(SelfSignedError::BadDays)
        ));
    }
}
