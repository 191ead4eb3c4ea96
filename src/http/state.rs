use crate::clock::Clock;
use crate::config::Config;
use crate::keys::KeyRing;
use crate::published::Published;
use crate::store::Store;
use crate::ui::Ui;
use std::sync::{Arc, RwLock};

/// Shared by every worker. The published snapshot is swapped whole, so a
/// request sees one consistent set of apps and keys.
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub clock: Clock,
    pub ui: Ui,
    pub throttle: crate::throttle::Throttle,
    pub rate_limits: super::rate_limit::RateLimits,
    pub metrics: crate::metrics::Metrics,
    pub machine_tokens: crate::machine_tokens::MachineTokenTally,
    published: RwLock<Arc<Published>>,
    /// The catalog stamp the snapshot was built at (see `follow_catalog`).
    catalog_seen: std::sync::Mutex<Option<Vec<u8>>>,
    /// Held while a snapshot is built and swapped in (see `republish`).
    republishing: std::sync::Mutex<()>,
    /// A bcrypt hash of the configured cost, verified against when a username
    /// is unknown so that case costs the same time as a wrong password.
    pub dummy_hash: crate::crypto::password::DummyHash,
    /// Passkeys, when `public_url` has a host name (WebAuthn takes no IP).
    pub passkeys: Option<crate::passkeys::Passkeys>,
    /// The key TOTP seeds are sealed with (`keys_dir/seal.key`).
    pub seal: crate::crypto::seal::SealKey,
    /// Woken when logout tokens are queued, so they go out at once.
    pub logout_outbox: Arc<tokio::sync::Notify>,
    /// Mail, when `smtp:` is configured.
    pub mailer: Option<Arc<crate::mail::Mailer>>,
    /// Turns for `/login`'s bcrypt on the blocking pool (see `PasswordTurns`).
    pub password_turns: super::off_worker::PasswordTurns,
    /// Other identity providers people may sign in with.
    pub sources: Arc<crate::sources::Sources>,
}

#[derive(Debug, thiserror::Error)]
pub enum RepublishError {
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeyError),
    #[error(transparent)]
    KeyStore(#[from] crate::keystore::KeyStoreError),
    #[error(transparent)]
    Mail(#[from] crate::mail::MailError),
}

impl AppState {
    pub fn new(
        config: Arc<Config>,
        store: Store,
        clock: Clock,
        ui: Ui,
        keys: KeyRing,
        dummy_hash: crate::crypto::password::DummyHash,
    ) -> Result<Self, RepublishError> {
        let catalog_seen = std::sync::Mutex::new(store.catalog_stamp()?);
        let published = Published::build(&config, store.apps()?, keys, clock.now() * 1000);
        // Instances sharing a database share their lockout counters too.
        let throttle = match config.store {
            crate::config::StoreChoice::Sled { .. } => crate::throttle::Throttle::new(config.sign_in),
            crate::config::StoreChoice::Postgres(_) => crate::throttle::Throttle::shared(config.sign_in, store.clone()),
        };
        let seal = crate::keystore::seal_key_of(&config)?;
        let passkeys = crate::passkeys::Passkeys::for_public_url(config.public_url.as_str());
        let rate_limits = super::rate_limit::RateLimits::new(config.rate_limits);
        let mailer = config.smtp.as_ref().map(crate::mail::Mailer::new).transpose()?.map(Arc::new);
        let workers = config.limits.workers;
        let pool_threads = super::off_worker::pool_threads_per_worker(&config.store, workers) * workers;
        let password_turns = super::off_worker::PasswordTurns::new(pool_threads);
        let sources = Arc::new(crate::sources::Sources::new(&config.sources));
        Ok(AppState {
            config,
            store,
            clock,
            ui,
            throttle,
            rate_limits,
            metrics: crate::metrics::Metrics::new(),
            machine_tokens: Default::default(),
            published: RwLock::new(Arc::new(published)),
            catalog_seen,
            republishing: std::sync::Mutex::new(()),
            dummy_hash,
            seal,
            passkeys,
            logout_outbox: Arc::new(tokio::sync::Notify::new()),
            mailer,
            password_turns,
            sources,
        })
    }

    /// What issuing tokens needs of this state (see `tokens::Issuer`).
    pub fn issuer<'a>(&'a self, published: &'a Published) -> crate::tokens::Issuer<'a> {
        crate::tokens::Issuer {
            store: &self.store,
            clock: &self.clock,
            lifetimes: &self.config.lifetimes,
            mfa: &self.config.mfa,
            published,
            metrics: &self.metrics,
            machine_tokens: &self.machine_tokens,
        }
    }

    /// What SSO sessions need of this state (see `sessions`).
    pub fn sessions(&self) -> crate::sessions::Sessions<'_> {
        crate::sessions::Sessions { store: &self.store, clock: &self.clock, lifetime: self.config.lifetimes.session }
    }

    /// What checking a password needs of this state (see `signin`).
    pub fn sign_in(&self) -> crate::signin::SignIn<'_> {
        crate::signin::SignIn { store: &self.store, throttle: &self.throttle, dummy_hash: &self.dummy_hash }
    }

    /// What second-factor checks need of this state (see `mfa`).
    pub fn mfa(&self) -> crate::mfa::Mfa<'_> {
        crate::mfa::Mfa { store: &self.store, seal: &self.seal, throttle: &self.throttle }
    }

    pub fn published(&self) -> Arc<Published> {
        match self.published.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Records an audit event; a failure is logged, never passed to the client.
    pub fn audit(&self, event: crate::store::AuditEvent) {
        self.store.record(&event);
    }

    /// Writes the summaries of machine-token windows that are over (`now`
    /// = None: all, at shutdown).
    pub fn close_machine_token_windows(&self, now: Option<i64>) {
        for event in self.machine_tokens.close(now) {
            self.audit(event);
        }
    }

    /// Runs an administrative command in `actor`'s name (the admin API for
    /// the CLI, and the console): what it changes is published at once, and
    /// the logout tokens it queued (ended sessions) are sent. Blocks (store
    /// fsyncs, key generation): call it off the executor.
    pub fn administer(
        &self,
        command: crate::admin::AdminCommand,
        actor: &str,
    ) -> Result<crate::admin::views::AdminAnswer, crate::admin::AdminError> {
        use crate::admin::Change;
        let republish = |change: Change| self.republish(matches!(change, Change::Keys)).map_err(|e| e.to_string());
        let ctx = crate::admin::AdminContext {
            store: &self.store,
            config: &self.config,
            clock: &self.clock,
            on_change: &republish,
            actor,
        };
        let answer = crate::admin::execute(&ctx, command);
        self.logout_outbox.notify_one();
        answer
    }

    /// Rebuilds the snapshot (applications and keys) when another process
    /// (an instance on the same database, or the CLI) changed the catalog
    /// since this one last built it. Returns whether it did.
    pub fn follow_catalog(&self) -> Result<bool, RepublishError> {
        let stamp = self.store.catalog_stamp()?;
        let seen = self.catalog_seen.lock().unwrap_or_else(|p| p.into_inner()).clone();
        if stamp == seen {
            return Ok(false);
        }
        self.republish(true)?;
        Ok(true)
    }

    /// Rebuilds the snapshot from the store; re-reads key files when asked.
    /// One build at a time: builds that overlapped would be swapped in as
    /// they finished, and one that read the store before a change (the
    /// housekeeping's, started a moment earlier) could replace one that
    /// read it after, hiding a client that just registered until the next
    /// poll. Taken in turn, each build reads what the one before swapped in.
    pub fn republish(&self, reload_keys: bool) -> Result<(), RepublishError> {
        let _one_at_a_time = self.republishing.lock().unwrap_or_else(|p| p.into_inner());
        // The stamp before the read: a change landing during the rebuild
        // moves it again, and the next look rebuilds once more.
        let stamp = self.store.catalog_stamp()?;
        let keys = if reload_keys {
            crate::keystore::KeyStore::of(&self.config, &self.store)?.load()?
        } else {
            self.published().keys.clone()
        };
        let next = Published::build(&self.config, self.store.apps()?, keys, self.clock.now() * 1000);
        let mut guard = match self.published.write() {
            Ok(guard) => guard,
            Err(poisoned) => poisoned.into_inner(),
        };
        *guard = Arc::new(next);
        *self.catalog_seen.lock().unwrap_or_else(|p| p.into_inner()) = stamp;
        Ok(())
    }
}
