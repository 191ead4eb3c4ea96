//! `serve`, `check-config` and `healthcheck`: running the server, checking
//! its configuration, and asking a running one whether it is alive.

use super::shared::load_config;
use crate::clock::Clock;
use crate::config::Config;
use crate::startup::Application;

pub(super) fn serve(config: Config) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&runtime, async move {
        let listen = config.listen;
        let public = config.public_url.clone();
        let app = Application::build(config, Clock::system()).await.map_err(|e| e.to_string())?;
        if let Some(password) = &app.first_start.admin_password {
            println!("\nCreated user `admin` with password: {password}\n(shown once; change it with `ferrid user passwd admin`)\n");
        }
        for (slug, secret) in &app.first_start.generated_secrets {
            println!("\nApplication `{slug}` client secret: {secret}\n(shown once; `ferrid app rotate-secret {slug}` makes a new one)\n");
        }
        tracing::info!(%listen, port = app.port(), issuer_base = public.as_str(), "ferrid is listening");
        // On stdout too, with the port actually bound (`listen: …:0` picks a
        // free one): a supervisor or a test reads it there.
        println!("Listening on {}:{}", listen.ip(), app.port());
        app.run_until_stopped().await.map_err(|e| e.to_string())
    })
}

pub(super) fn check_config(config_path: &std::path::Path) -> Result<(), String> {
    let config = load_config(config_path)?;
    if let Some(tls) = &config.tls {
        let (_, _, info) = crate::tls::CertReloader::open(&tls.cert, &tls.key).map_err(|e| e.to_string())?;
        println!("{}: serial {}, valid until {}", tls.cert.display(), info.serial, info.not_after);
    }
    println!(
        "{}: valid ({} applications, {} groups, issuer base {})",
        config_path.display(),
        config.applications.len(),
        config.groups.len(),
        config.public_url.as_str()
    );
    Ok(())
}

pub(super) fn healthcheck(config_path: &std::path::Path, url: Option<String>) -> Result<(), String> {
    let base = match url {
        Some(url) => url.trim_end_matches('/').to_owned(),
        None => {
            let config = load_config(config_path)?;
            let mut addr = config.listen;
            if addr.ip().is_unspecified() {
                addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
            }
            format!("{}://{addr}", if config.tls.is_some() { "https" } else { "http" })
        }
    };
    let probe = format!("{base}{}", crate::paths::HEALTHZ);
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
    let status = runtime.block_on(async {
        // A local liveness probe: the certificate is for the public name, not this address.
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(5))
            .danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| e.to_string())?;
        let response = client.get(&probe).send().await.map_err(|e| format!("{probe}: {e}"))?;
        Ok::<_, String>(response.status())
    })?;
    if status.is_success() {
        println!("{probe}: {status}");
        Ok(())
    } else {
        Err(format!("{probe}: {status}"))
    }
}
