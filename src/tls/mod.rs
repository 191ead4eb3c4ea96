//! HTTPS: the certificate and key from PEM files, reloaded while serving.
//!
//! Every TLS handshake passes through the SNI callback (OpenSSL calls it
//! whether or not the client sent a server name), which hands the connection
//! the newest good context. Established connections keep the context they
//! started with, so a reload drops nothing.

pub mod self_signed;

use openssl::pkey::{PKey, Private};
use openssl::ssl::{SniError, SslAcceptor, SslAcceptorBuilder, SslContext, SslMethod};
use openssl::x509::X509;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
    #[error("TLS set-up failed: {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
}

/// What a good certificate looked like when loaded, for logs and tests.
#[derive(Clone, Debug)]
pub struct CertInfo {
    pub serial: String,
    pub not_after: String,
}

/// The files and the context currently handed to new connections.
pub struct CertReloader {
    cert_path: PathBuf,
    key_path: PathBuf,
    current: RwLock<SslContext>,
    /// Digest of the file contents last tried, good or bad, so an unchanged
    /// file is not parsed again and a bad one is reported once.
    last_seen: Mutex<[u8; 32]>,
}

struct Loaded {
    context: SslContext,
    info: CertInfo,
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read { path: path.to_owned(), source })
}

fn digest_of(cert: &[u8], key: &[u8]) -> [u8; 32] {
    let mut hasher = openssl::sha::Sha256::new();
    hasher.update(&(cert.len() as u64).to_be_bytes());
    hasher.update(cert);
    hasher.update(key);
    hasher.finish()
}

/// Mozilla's "intermediate" profile (TLS 1.2 and 1.3, forward-secret AEAD
/// ciphers), with this certificate chain and key.
fn acceptor_with(
    cert_path: &Path,
    cert_pem: &[u8],
    key_path: &Path,
    key_pem: &[u8],
) -> Result<(SslAcceptorBuilder, CertInfo), TlsError> {
    let invalid = |path: &Path, message: String| TlsError::Invalid { path: path.to_owned(), message };
    let chain =
        X509::stack_from_pem(cert_pem).map_err(|e| invalid(cert_path, format!("not a PEM certificate chain ({e})")))?;
    let Some((leaf, rest)) = chain.split_first() else {
        return Err(invalid(cert_path, "holds no certificate".into()));
    };
    let key: PKey<Private> =
        PKey::private_key_from_pem(key_pem).map_err(|e| invalid(key_path, format!("not a PEM private key ({e})")))?;
    check_key_strength(&key).map_err(|m| invalid(key_path, m))?;
    let mut builder = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    builder.set_certificate(leaf)?;
    for extra in rest {
        builder.add_extra_chain_cert(extra.clone())?;
    }
    // OpenSSL 3 already refuses a mismatched key in set_private_key; older
    // versions only in check_private_key.
    let mismatch = |_| invalid(key_path, format!("does not belong to the certificate in {}", cert_path.display()));
    builder.set_private_key(&key).map_err(mismatch)?;
    builder.check_private_key().map_err(mismatch)?;
    let serial = leaf.serial_number().to_bn()?.to_hex_str()?.to_string();
    let info = CertInfo { serial, not_after: leaf.not_after().to_string() };
    Ok((builder, info))
}

/// Keys a browser would refuse, or that are simply too weak to serve.
fn check_key_strength(key: &PKey<Private>) -> Result<(), String> {
    match key.rsa() {
        Ok(rsa) if rsa.size() * 8 < 2048 => {
            Err(format!("an RSA key of {} bits is too weak (2048 or more)", rsa.size() * 8))
        }
        _ => Ok(()),
    }
}

fn load(cert_path: &Path, cert: &[u8], key_path: &Path, key: &[u8]) -> Result<Loaded, TlsError> {
    let (builder, info) = acceptor_with(cert_path, cert, key_path, key)?;
    Ok(Loaded { context: builder.build().into_context(), info })
}

impl CertReloader {
    /// Reads the files once; an error here stops start-up. Returns the
    /// reloader and the acceptor the server listens with, whose handshakes
    /// each take the newest context.
    pub fn open(
        cert_path: &Path,
        key_path: &Path,
    ) -> Result<(Arc<CertReloader>, SslAcceptorBuilder, CertInfo), TlsError> {
        let (cert, key) = (read(cert_path)?, read(key_path)?);
        let loaded = load(cert_path, &cert, key_path, &key)?;
        let reloader = Arc::new(CertReloader {
            cert_path: cert_path.to_owned(),
            key_path: key_path.to_owned(),
            current: RwLock::new(loaded.context),
            last_seen: Mutex::new(digest_of(&cert, &key)),
        });
        let (mut acceptor, _) = acceptor_with(cert_path, &cert, key_path, &key)?;
        let me = Arc::clone(&reloader);
        acceptor.set_servername_callback(move |ssl, _alert| {
            ssl.set_ssl_context(&me.current()).map_err(|_| SniError::ALERT_FATAL)
        });
        Ok((reloader, acceptor, loaded.info))
    }

    fn current(&self) -> SslContext {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Re-reads the files. Unchanged: nothing happens (Ok(None)). Changed and
    /// good: new connections get it (Ok(Some)). Changed and bad: the old
    /// certificate stays and the error is returned once per bad version.
    pub fn reload_if_changed(&self) -> Result<Option<CertInfo>, TlsError> {
        let (cert, key) = (read(&self.cert_path)?, read(&self.key_path)?);
        let digest = digest_of(&cert, &key);
        {
            let mut last = self.last_seen.lock().unwrap_or_else(|p| p.into_inner());
            if *last == digest {
                return Ok(None);
            }
            *last = digest;
        }
        let loaded = load(&self.cert_path, &cert, &self.key_path, &key)?;
        let mut guard = self.current.write().unwrap_or_else(|p| p.into_inner());
        *guard = loaded.context;
        Ok(Some(loaded.info))
    }
}

/// Checks the files every `every` and swaps in a changed certificate.
/// `outcome(true)` after a reload, `outcome(false)` after a refused change.
pub async fn watch(reloader: Arc<CertReloader>, every: std::time::Duration, outcome: impl Fn(bool)) {
    let mut ticks = tokio::time::interval(every);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let r = reloader.clone();
        match actix_web::web::block(move || r.reload_if_changed()).await {
            Ok(Ok(Some(info))) => {
                tracing::info!(serial = %info.serial, not_after = %info.not_after, "TLS certificate reloaded");
                outcome(true);
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "new TLS certificate refused; still serving the previous one");
                outcome(false);
            }
            Err(_) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::self_signed::{KeyKind, Request, generate};

    #[test]
    fn a_1024_bit_rsa_key_is_refused() {
        let weak = PKey::from_rsa(openssl::rsa::Rsa::generate(1024).unwrap()).unwrap();
        assert!(check_key_strength(&weak).unwrap_err().contains("1024 bits"));
        let strong = PKey::from_rsa(openssl::rsa::Rsa::generate(2048).unwrap()).unwrap();
        assert!(check_key_strength(&strong).is_ok());
    }

    #[test]
    fn an_unchanged_file_is_not_reloaded_and_a_bad_one_is_reported_once() {
        let dir = tempfile::tempdir().unwrap();
        let hosts = ["x.lan".to_owned()];
        let generated = generate(&Request { hosts: &hosts, ips: &[], days: 30, key: KeyKind::EcP256 }).unwrap();
        let (cert, key) = (dir.path().join("c.pem"), dir.path().join("k.pem"));
        std::fs::write(&cert, &generated.cert_pem).unwrap();
        std::fs::write(&key, &generated.key_pem).unwrap();
        let (reloader, _, _) = CertReloader::open(&cert, &key).unwrap();
        assert!(reloader.reload_if_changed().unwrap().is_none());
        std::fs::write(&cert, b"not a certificate").unwrap();
        assert!(reloader.reload_if_changed().is_err());
        assert!(reloader.reload_if_changed().unwrap().is_none(), "the same bad file is not reported again");
    }
}
