//! `cert`: TLS certificates (`cert self-signed`).

use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub(super) enum CertCommand {
    /// Write a self-signed certificate and key for a homelab host
    /// (EC P-256 unless --rsa; the key file gets mode 0600).
    SelfSigned {
        /// DNS name clients use (repeatable).
        #[arg(long = "host")]
        hosts: Vec<String>,
        /// IP address clients use (repeatable).
        #[arg(long = "ip")]
        ips: Vec<std::net::IpAddr>,
        /// Where cert.pem and key.pem go.
        #[arg(long, default_value = "tls")]
        out: PathBuf,
        /// How long it is valid (397 days is what browsers accept at most).
        #[arg(long, default_value_t = crate::tls::self_signed::DEFAULT_DAYS)]
        days: u32,
        /// RSA 2048 instead of EC P-256 (for old clients).
        #[arg(long)]
        rsa: bool,
    },
}

pub(super) fn run(cmd: CertCommand) -> Result<(), String> {
    match cmd {
        CertCommand::SelfSigned { hosts, ips, out, days, rsa } => self_signed(&hosts, &ips, &out, days, rsa),
    }
}

fn self_signed(
    hosts: &[String],
    ips: &[std::net::IpAddr],
    out: &std::path::Path,
    days: u32,
    rsa: bool,
) -> Result<(), String> {
    use crate::tls::self_signed::{KeyKind, Request, generate};
    let key = if rsa { KeyKind::Rsa2048 } else { KeyKind::EcP256 };
    let generated = generate(&Request { hosts, ips, days, key }).map_err(|e| e.to_string())?;
    let (cert_path, key_path) = (out.join("cert.pem"), out.join("key.pem"));
    for path in [&cert_path, &key_path] {
        if path.exists() {
            return Err(format!("{} exists; move it away first (nothing was written)", path.display()));
        }
    }
    crate::fsutil::create_private_dir(out).map_err(|e| format!("{}: {e}", out.display()))?;
    crate::fsutil::write_new_file(&key_path, &generated.key_pem, 0o600)
        .map_err(|e| format!("{}: {e}", key_path.display()))?;
    crate::fsutil::write_new_file(&cert_path, &generated.cert_pem, 0o644)
        .map_err(|e| format!("{}: {e}", cert_path.display()))?;
    println!("wrote {} and {} (mode 0600), valid {days} days", cert_path.display(), key_path.display());
    println!("\nIn config.yaml:\n  tls: {{ cert: {}, key: {} }}", cert_path.display(), key_path.display());
    println!(
        "\nClients must trust {} (Node.js, e.g. Node-RED: NODE_EXTRA_CA_CERTS={}; browsers: import it).",
        cert_path.display(),
        cert_path.display()
    );
    Ok(())
}
