//! `Application::build` binds (port 0 in tests) and reports the real port,
//! so tests and production share one start-up path.

use crate::admin::bootstrap::{self, FirstStart};
use crate::admin::endpoint::{self, AdminEndpoint};
use crate::clock::Clock;
use crate::config::Config;
use crate::crypto::secrets::random_token;
use crate::domain::SigningAlg;
use crate::http::admin_api::AdminToken;
use crate::http::{self, AppState};
use crate::store::Store;
use crate::ui::Ui;
use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use std::net::TcpListener;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// What to do when the address is taken.
fn bind_hint(source: &std::io::Error) -> &'static str {
    match source.kind() {
        std::io::ErrorKind::AddrInUse => {
            " (another program listens there: choose another address with `listen:` in config.yaml or FERRID_LISTEN)"
        }
        std::io::ErrorKind::PermissionDenied => " (ports below 1024 need privileges: use a higher port, e.g. 9000)",
        _ => "",
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Ui(#[from] crate::ui::UiError),
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Bootstrap(#[from] bootstrap::BootstrapError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    Republish(#[from] crate::http::state::RepublishError),
    #[error("cannot listen on {addr}: {source}{}", bind_hint(source))]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot write the admin endpoint file {}: {source}", path.display())]
    AdminFile { path: std::path::PathBuf, source: std::io::Error },
    #[error(transparent)]
    Random(#[from] crate::crypto::secrets::RandomError),
    #[error(transparent)]
    Password(#[from] crate::crypto::password::PasswordError),
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error(transparent)]
    KeyStore(#[from] crate::keystore::KeyStoreError),
    #[error(transparent)]
    Mfa(#[from] crate::mfa::MfaError),
    #[error("seal-key rotation: {0}")]
    Reseal(String),
    #[error(transparent)]
    Inaccessible(#[from] crate::fsutil::Inaccessible),
}

pub struct Application {
    port: u16,
    server: Server,
    /// The plain-HTTP listener that only redirects to HTTPS, when configured.
    redirect: Option<(u16, Server)>,
    admin_server: Server,
    state: web::Data<AppState>,
    admin_file: PathBuf,
    pub first_start: FirstStart,
}

/// How often expired codes, sessions and tokens are purged, and the JWKS
/// re-published (a rotated key leaves it once its tokens have expired).
const HOUSEKEEPING_EVERY: Duration = Duration::from_secs(60);

impl Application {
    pub async fn build(config: Config, clock: Clock) -> Result<Application, StartupError> {
        let listener = TcpListener::bind(config.listen)
            .map_err(|source| StartupError::Bind { addr: config.listen.to_string(), source })?;
        Application::build_on(config, clock, listener).await
    }

    /// Starts on a listener bound by the caller (tests bind port 0 first, so
    /// `public_url` can name the real port).
    pub async fn build_on(config: Config, clock: Clock, listener: TcpListener) -> Result<Application, StartupError> {
        let config = Arc::new(config);
        let ui = Ui::load(config.templates_dir.as_deref())?;
        let store = open_store_waiting(&config).await?;
        // Instances starting together take turns from here to the keys.
        let start_lock = store.start_lock()?;
        let first_start = bootstrap::run(&store, &config, &clock)?;

        let mut needed: Vec<SigningAlg> = store.apps()?.iter().map(|a| a.signing_alg).collect();
        needed.push(SigningAlg::RS256);
        crate::fsutil::check_access(&config.keys_dir, "the keys dir", &[])?;
        let key_store = crate::keystore::KeyStore::of(&config, &store)?;
        let keys = key_store.load_or_create(&needed, clock.now() * 1000)?;
        if config.seal_key_previous.is_some() {
            reseal(&config, &store, &key_store)?;
        }
        crate::fsutil::keep_private(&config.keys_dir, "the keys dir");
        drop(start_lock);

        let stored_costs: Vec<u32> =
            store.users()?.iter().filter_map(|u| crate::crypto::password::cost_of(&u.password_hash)).collect();
        let dummy_hash = crate::crypto::password::DummyHash::new(config.password_hash_cost, stored_costs);
        dummy_hash.warm_up();
        let state = web::Data::new(AppState::new(config.clone(), store, clock, ui, keys, dummy_hash)?);

        let port = listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr: config.listen.to_string(), source })?
            .port();
        let app_state = state.clone();
        let limits = config.limits;
        let https = config.public_url.is_https();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .app_data(web::PayloadConfig::new(limits.body_bytes))
                .wrap(http::security_headers(https))
                .wrap_fn(http::header_limit)
                .wrap_fn(http::observe)
                .configure(crate::routes::public)
        })
        .shutdown_timeout(10)
        .workers(limits.workers)
        .worker_max_blocking_threads(http::off_worker::pool_threads_per_worker(&config.store, limits.workers))
        .max_connections(limits.connections_per_worker())
        .client_request_timeout(Duration::from_secs(limits.request_timeout as u64))
        .client_disconnect_timeout(Duration::from_secs(2));
        let bind_error = |source| StartupError::Bind { addr: config.listen.to_string(), source };
        let (server, redirect) = match &config.tls {
            None => (server.listen(listener).map_err(bind_error)?.run(), None),
            Some(tls) => {
                let (reloader, acceptor, info) = crate::tls::CertReloader::open(&tls.cert, &tls.key)?;
                tracing::info!(serial = %info.serial, not_after = %info.not_after, "TLS certificate loaded");
                let every = Duration::from_secs(tls.refresh_interval as u64);
                let watched = state.clone();
                tokio::spawn(crate::tls::watch(reloader, every, move |ok| watched.metrics.tls_reload(ok)));
                let server = server.listen_openssl(listener, acceptor).map_err(bind_error)?.run();
                let redirect = match tls.redirect_http_from {
                    Some(addr) => Some(redirect_server(addr, config.public_url.clone())?),
                    None => None,
                };
                (server, redirect)
            }
        };

        let admin_listener = TcpListener::bind("127.0.0.1:0")
            .map_err(|source| StartupError::Bind { addr: "127.0.0.1:0".into(), source })?;
        let admin_port = admin_listener
            .local_addr()
            .map_err(|source| StartupError::Bind { addr: "127.0.0.1:0".into(), source })?
            .port();
        let token = web::Data::new(AdminToken(random_token()?));
        let admin_state = state.clone();
        let admin_token = token.clone();
        let admin_server = HttpServer::new(move || {
            App::new()
                .app_data(admin_state.clone())
                .app_data(admin_token.clone())
                .wrap_fn(http::request_span)
                .configure(crate::routes::admin)
        })
        .workers(1)
        .disable_signals()
        .listen(admin_listener)
        .map_err(|source| StartupError::Bind { addr: "127.0.0.1:0".into(), source })?
        .run();
        let endpoint = AdminEndpoint { url: format!("http://127.0.0.1:{admin_port}"), token: token.0.clone() };
        endpoint::write_endpoint(&config.data_dir, &endpoint)
            .map_err(|source| StartupError::AdminFile { path: config.data_dir.join(endpoint::ADMIN_FILE), source })?;

        tokio::spawn(housekeeping(state.clone()));
        tokio::spawn(follow_catalog(state.clone()));
        let snapshot = state.clone();
        let deliverer = crate::backchannel::Deliverer::new(
            state.store.clone(),
            state.clock.clone(),
            std::sync::Arc::new(move || snapshot.published()),
        );
        tokio::spawn(std::sync::Arc::new(deliverer).run(state.logout_outbox.clone()));
        Ok(Application {
            port,
            server,
            redirect,
            admin_server,
            state,
            admin_file: endpoint::admin_file(&config.data_dir),
            first_start,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the plain-HTTP redirect listener, if there is one.
    pub fn redirect_port(&self) -> Option<u16> {
        self.redirect.as_ref().map(|(port, _)| *port)
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGINT/SIGTERM (graceful: in-flight requests finish),
    /// then flushes the store and removes the admin endpoint file.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        let admin_handle = self.admin_server.handle();
        let admin = tokio::spawn(self.admin_server);
        let redirect = self.redirect.map(|(_, server)| {
            let handle = server.handle();
            (handle, tokio::spawn(server))
        });
        let result = self.server.await;
        if let Some((handle, task)) = redirect {
            handle.stop(true).await;
            let _ = task.await;
        }
        admin_handle.stop(true).await;
        let _ = admin.await;
        let _ = std::fs::remove_file(&self.admin_file);
        self.state.close_machine_token_windows(None);
        if let Err(e) = self.state.store.make_everything_durable() {
            tracing::error!(error = %e, "final flush failed");
        }
        result
    }
}

/// A seal-key rotation (`FERRID_SEAL_KEY_PREVIOUS` is set): what only the
/// previous key opens (signing keys in the database, TOTP seeds) is sealed
/// again with the current one, under the start lock. Idempotent: every
/// instance may do it at its start, and a second pass finds nothing.
fn reseal(config: &Config, store: &Store, key_store: &crate::keystore::KeyStore<'_>) -> Result<(), StartupError> {
    let keys = key_store.reseal()?;
    let seal = crate::keystore::seal_key_of(config)?;
    let seeds = crate::mfa::reseal_seeds(store, &seal)?;
    // A seed neither key opens is most likely a mistyped previous key:
    // going on, and then dropping it, would lose those seeds for good.
    if seeds.unreadable > 0 {
        return Err(StartupError::Reseal(format!(
            "{} TOTP seed(s) open with neither FERRID_SEAL_KEY nor FERRID_SEAL_KEY_PREVIOUS (see the log for \
             which): check FERRID_SEAL_KEY_PREVIOUS is the key they were sealed with, or reset those users' second \
             factors with `ferrid user mfa reset USER`",
            seeds.unreadable
        )));
    }
    if seeds.busy > 0 {
        tracing::warn!(
            busy = seeds.busy,
            "seal-key rotation: some seeds changed under it; restart once more to finish"
        );
    } else {
        tracing::info!(
            keys,
            seeds = seeds.moved,
            "seal-key rotation: sealed again with the current key; once every instance runs with it, remove \
             FERRID_SEAL_KEY_PREVIOUS"
        );
    }
    Ok(())
}

/// The plain-HTTP listener that only redirects to `public_url`: binds
/// `addr` and returns the real port and the (not yet awaited) server.
fn redirect_server(
    addr: std::net::SocketAddr,
    public_url: crate::config::PublicUrl,
) -> Result<(u16, Server), StartupError> {
    let bind_error = |source| StartupError::Bind { addr: addr.to_string(), source };
    let listener = TcpListener::bind(addr).map_err(bind_error)?;
    let port = listener.local_addr().map_err(bind_error)?.port();
    let target = web::Data::new(public_url);
    let server =
        HttpServer::new(move || App::new().app_data(target.clone()).configure(crate::routes::redirect_listener))
            .workers(1)
            .disable_signals()
            .client_request_timeout(Duration::from_secs(5))
            .listen(listener)
            .map_err(bind_error)?
            .run();
    Ok((port, server))
}

/// The store `config` names: sled in `data_dir`, or PostgreSQL (then
/// `data_dir` still holds the admin API's address, `admin.json`).
pub fn open_store(config: &Config) -> Result<Store, crate::store::StoreError> {
    match &config.store {
        crate::config::StoreChoice::Sled { cache_bytes } => Store::open_sled(&config.data_dir, *cache_bytes),
        crate::config::StoreChoice::Postgres(pg) => {
            crate::fsutil::create_private_dir(&config.data_dir).map_err(|e| {
                crate::store::BackendError::Io(format!("cannot create {}: {e}", config.data_dir.display()))
            })?;
            // It holds only admin.json here, written at every start.
            crate::fsutil::check_access(&config.data_dir, "the data dir", &[])?;
            crate::fsutil::keep_private(&config.data_dir, "the data dir");
            Store::open_postgres((**pg).clone())
        }
    }
}

/// How long start-up waits for a CLI command that holds the database.
const STORE_LOCK_WAIT: Duration = Duration::from_secs(10);

/// Opens the store, waiting up to `STORE_LOCK_WAIT` while another process
/// holds it: a CLI command run while ferrid was stopped (or restarting)
/// holds it for a moment, and start-up should outlast that, not fail.
async fn open_store_waiting(config: &Config) -> Result<Store, crate::store::StoreError> {
    let data_dir = &config.data_dir;
    let deadline = std::time::Instant::now() + STORE_LOCK_WAIT;
    let mut said = false;
    loop {
        match open_store(config) {
            Err(e) if e.is_locked() && std::time::Instant::now() < deadline => {
                if !said {
                    tracing::warn!(
                        data_dir = %data_dir.display(),
                        "the database is in use by another process (a ferrid command?); waiting up to {} s for it",
                        STORE_LOCK_WAIT.as_secs()
                    );
                    said = true;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            other => return other,
        }
    }
}

/// Rebuilds the published catalog when another process changed it: at
/// once when the store tells (PostgreSQL's LISTEN/NOTIFY), and at every
/// poll (`config.catalog_poll`) in any case, for notices that never came.
async fn follow_catalog(state: web::Data<AppState>) {
    let told = std::sync::Arc::new(tokio::sync::Notify::new());
    let wake = told.clone();
    // Held for as long as this task runs: dropping it closes the connection.
    let _listening = state.store.on_catalog_change(move || wake.notify_one());
    let mut ticks = tokio::time::interval(state.config.catalog_poll);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = told.notified() => {}
        }
        let state = state.clone();
        match web::block(move || state.follow_catalog()).await {
            Ok(Ok(true)) => tracing::info!("applications or keys changed elsewhere: republished"),
            Ok(Ok(false)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot look for catalog changes"),
            Err(_) => return,
        }
    }
}

async fn housekeeping(state: web::Data<AppState>) {
    let mut ticks = tokio::time::interval(HOUSEKEEPING_EVERY);
    loop {
        ticks.tick().await;
        let state = state.clone();
        let outcome = web::block(move || {
            let now = state.clock.now();
            state.throttle.prune(now);
            state.rate_limits.prune();
            state.close_machine_token_windows(Some(now));
            let retention = state.config.audit;
            let removed = state.sessions().end_expired()?
                + state.store.purge_expired(now)?
                + state.store.prune_mail_places(now)?
                + state.store.trim_audit(now - retention.max_age, retention.max_events)?;
            state.republish(false).map_err(|e| crate::store::StoreError::Corrupt(e.to_string()))?;
            crate::malloc::give_back_free_memory();
            Ok::<_, crate::store::StoreError>(removed)
        })
        .await;
        match outcome {
            Ok(Ok(removed)) if removed > 0 => tracing::debug!(removed, "purged expired records"),
            Ok(Ok(_)) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "housekeeping failed"),
            Err(_) => return,
        }
    }
}
