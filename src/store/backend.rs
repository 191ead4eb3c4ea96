//! The narrow interface ferrid needs from a key-value store, and its sled
//! implementation. Nothing outside this file imports sled.

use super::group_commit::GroupCommit;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{RwLock, RwLockReadGuard};

/// The named trees (tables) of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tree {
    Meta,
    Users,
    Usernames,
    Groups,
    Apps,
    ClientIds,
    Sessions,
    Interactions,
    Codes,
    RefreshTokens,
    Families,
    RevokedJtis,
    Audit,
    Pats,
    PatIds,
    Devices,
    Consents,
    LogoutOutbox,
    PendingLogouts,
    Factors,
    Ceremonies,
    /// Sign-in failure counters, when instances share them (PostgreSQL).
    Throttle,
    /// Signing keys, sealed, when instances share them (PostgreSQL).
    Keys,
    /// One-time invitation and recovery links, by digest.
    Links,
    /// A link's public id → its digest.
    LinkIds,
    /// An account at a sign-in source (`{source}\0{subject}`) → the
    /// ferrid user it is linked to.
    Identities,
    /// Device authorizations (RFC 8628), by their device code's digest.
    DeviceGrants,
    /// A pending device authorization's user code (digest) → its device
    /// code's digest.
    UserCodes,
    /// Initial access tokens for Dynamic Client Registration, by digest.
    RegistrationTokens,
    /// An initial access token's public id → its digest.
    RegistrationTokenIds,
}

impl Tree {
    pub const ALL: [Tree; 30] = [
        Tree::Meta,
        Tree::Users,
        Tree::Usernames,
        Tree::Groups,
        Tree::Apps,
        Tree::ClientIds,
        Tree::Sessions,
        Tree::Interactions,
        Tree::Codes,
        Tree::RefreshTokens,
        Tree::Families,
        Tree::RevokedJtis,
        Tree::Audit,
        Tree::Pats,
        Tree::PatIds,
        Tree::Devices,
        Tree::Consents,
        Tree::LogoutOutbox,
        Tree::PendingLogouts,
        Tree::Factors,
        Tree::Ceremonies,
        // Append only: PostgreSQL rows carry a tree's place in this list.
        Tree::Throttle,
        Tree::Keys,
        Tree::Links,
        Tree::LinkIds,
        Tree::Identities,
        Tree::DeviceGrants,
        Tree::UserCodes,
        Tree::RegistrationTokens,
        Tree::RegistrationTokenIds,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Tree::Meta => "meta",
            Tree::Users => "users",
            Tree::Usernames => "usernames",
            Tree::Groups => "groups",
            Tree::Apps => "apps",
            Tree::ClientIds => "client_ids",
            Tree::Sessions => "sessions",
            Tree::Interactions => "interactions",
            Tree::Codes => "codes",
            Tree::RefreshTokens => "refresh_tokens",
            Tree::Families => "families",
            Tree::RevokedJtis => "revoked_jtis",
            Tree::Audit => "audit",
            Tree::Pats => "pats",
            Tree::PatIds => "pat_ids",
            Tree::Devices => "devices",
            Tree::Consents => "consents",
            Tree::LogoutOutbox => "logout_outbox",
            Tree::PendingLogouts => "pending_logouts",
            Tree::Factors => "factors",
            Tree::Ceremonies => "ceremonies",
            Tree::Throttle => "throttle",
            Tree::Keys => "keys",
            Tree::Links => "links",
            Tree::LinkIds => "link_ids",
            Tree::Identities => "identities",
            Tree::DeviceGrants => "device_grants",
            Tree::UserCodes => "user_codes",
            Tree::RegistrationTokens => "registration_tokens",
            Tree::RegistrationTokenIds => "registration_token_ids",
        }
    }
}

/// One step of an atomic batch. `Expect` steps are preconditions: if any
/// fails, nothing in the batch is written (and nothing announced).
pub enum Op {
    Expect(Tree, Vec<u8>, Option<Vec<u8>>),
    Put(Tree, Vec<u8>, Vec<u8>),
    Remove(Tree, Vec<u8>),
    /// Writes the value under the prefix followed by a new `next_id`
    /// (big-endian), as `Backend::append` does: an audit event that exists
    /// if, and only if, the rest of the batch was written.
    Append(Tree, Vec<u8>, Vec<u8>),
    /// Tells the other processes on the same database, once the batch is
    /// committed, that something on this channel changed (PostgreSQL's
    /// NOTIFY). sled has no other processes: nothing to tell.
    Announce(Channel),
}

/// What an `Op::Announce` is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// Applications or signing keys: what instances publish.
    Catalog,
}

impl Channel {
    pub fn name(self) -> &'static str {
        match self {
            Channel::Catalog => "ferrid_catalog",
        }
    }
}

/// How `BackendError::Unavailable` reads, wrapped or not.
pub const UNAVAILABLE: &str = "the database is unavailable";

#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    #[error("the database in {0} is in use by another ferrid process")]
    Locked(PathBuf),
    #[error("storage error: {0}")]
    Io(String),
    /// The database server cannot be reached now (it may come back). Its
    /// message starts with `UNAVAILABLE`, which pages look for through any
    /// error that wraps it (see `ui::PageError::server`).
    #[error("the database is unavailable: {0}")]
    Unavailable(String),
}

/// Debug builds fail loudly when the store is called on an actix worker
/// thread: a worker serves many connections, and none should wait for the
/// database (a page or a grant hands its work to the blocking pool with
/// `http::on_pool`). Every API test then checks every route it drives.
/// Release builds check nothing.
pub(super) fn assert_off_worker() {
    if cfg!(debug_assertions) {
        let thread = std::thread::current();
        // actix-server names its worker threads so.
        let name = thread.name().unwrap_or_default();
        assert!(!name.starts_with("actix-server worker"), "a store call on {name}: run it on the blocking pool");
    }
}

/// How much lower than the process's own the threads doing the store's
/// work run: the blocking pool's (`http::off_thread`) and the PostgreSQL
/// driver's. When the cores are busy, the workers' cheap answers
/// (discovery, JWKS, forward-auth without a store read) go first and the
/// heavy work (bcrypt, signing, database round trips) takes what is left,
/// rather than both sharing alike and every answer waiting.
pub const STORE_WORK_NICENESS: i32 = 10;

/// Lowers the calling thread's priority by `STORE_WORK_NICENESS`, once per
/// thread. Linux keeps a nice value per thread; lowering one's own needs
/// no privilege (raising it again would). Added to the process's own, so a
/// ferrid started with `nice` keeps the gap.
pub fn lower_this_thread() {
    thread_local!(static LOWERED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) });
    #[cfg(target_os = "linux")]
    LOWERED.with(|lowered| {
        if !lowered.replace(true) {
            // SAFETY: getpriority and setpriority on the calling thread
            // (who = 0); no memory is touched.
            unsafe {
                let own = libc::getpriority(libc::PRIO_PROCESS, 0);
                libc::setpriority(libc::PRIO_PROCESS, 0, (own + STORE_WORK_NICENESS).min(19));
            }
        }
    });
}

/// A key and its value.
pub type Entry = (Vec<u8>, Vec<u8>);

pub trait Backend: Send + Sync {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;
    /// Several keys' values, in the order asked, read together (on
    /// PostgreSQL one statement, so one round trip and one snapshot).
    fn get_many(&self, keys: &[(Tree, &[u8])]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        keys.iter().map(|(tree, key)| self.get(*tree, key)).collect()
    }
    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), BackendError>;
    fn remove(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError>;
    fn scan(&self, tree: Tree) -> Result<Vec<Entry>, BackendError>;
    /// The keys, in key order, of the entries whose value `pick` accepts.
    /// sled reads one entry at a time: the purge passes over every
    /// short-lived record each minute, and a copy of them all (tens of MB
    /// after a burst of sign-ins) would leave the heap that much larger.
    fn keys_where(&self, tree: Tree, pick: &mut dyn FnMut(&[u8]) -> bool) -> Result<Vec<Vec<u8>>, BackendError> {
        Ok(self.scan(tree)?.into_iter().filter(|(_, value)| pick(value)).map(|(key, _)| key).collect())
    }
    fn len(&self, tree: Tree) -> usize;
    /// Entries with keys >= `from`, in key order.
    fn scan_from(&self, tree: Tree, from: &[u8]) -> Result<Vec<Entry>, BackendError>;
    /// Removes entries with keys < `before`, then the smallest ones until at
    /// most `keep` remain. Returns how many went.
    fn trim_front(&self, tree: Tree, before: &[u8], keep: usize) -> Result<usize, BackendError>;
    /// A unique, increasing number (survives restarts).
    fn next_id(&self) -> Result<u64, BackendError>;
    /// Writes `value` under `prefix` followed by `next_id` (big-endian), so
    /// entries of one prefix keep their order. A backend may do it in one
    /// step.
    fn append(&self, tree: Tree, prefix: &[u8], value: &[u8]) -> Result<(), BackendError> {
        let mut key = prefix.to_vec();
        key.extend_from_slice(&self.next_id()?.to_be_bytes());
        self.put(tree, &key, value)
    }
    /// Applies every op or none. Returns false when a precondition failed.
    fn apply(&self, ops: Vec<Op>) -> Result<bool, BackendError>;
    /// As `apply`, for a batch that need not survive a crash (a parked
    /// sign-in moving on, a session's list of applications): PostgreSQL
    /// commits it without waiting for the disk; `make_durable` covers it.
    fn apply_ephemeral(&self, ops: Vec<Op>) -> Result<bool, BackendError> {
        self.apply(ops)
    }
    /// Keeps other processes' first starts waiting until the returned
    /// guard is dropped. sled needs nothing: its lock file already keeps a
    /// second process out of the database.
    fn start_lock(&self) -> Result<Box<dyn Send>, BackendError> {
        Ok(Box::new(()))
    }
    /// Returns once everything the calling thread wrote so far is on
    /// stable storage (sled: everything written so far by anyone).
    fn make_durable(&self) -> Result<(), BackendError>;
    /// Returns once everything any thread wrote so far is on stable storage.
    fn make_everything_durable(&self) -> Result<(), BackendError> {
        self.make_durable()
    }
    /// Calls `heard` whenever a process announces a change on `channel`
    /// (`Op::Announce`), and once whenever listening (re)starts, as
    /// something may have been missed meanwhile, until the returned guard
    /// is dropped. None when this backend cannot listen (sled: no other
    /// process shares the database); then polling is the only way to learn
    /// of changes.
    fn listen(&self, channel: Channel, heard: Box<dyn Fn() + Send + Sync>) -> Option<Box<dyn Send>> {
        let _ = (channel, heard);
        None
    }
    /// Every tree's entries as of one instant: writes wait while it is taken.
    fn snapshot(&self) -> Result<Vec<(Tree, Vec<Entry>)>, BackendError>;
}

/// sled's page cache when config.yaml does not size it
/// (`store.sled_cache_mb`). sled's own default, 1 GB, keeps all of a
/// homelab's data in memory, RSS that grows with every session and audit
/// event; the hot records (applications, users, revoked token ids) fit in
/// far less. With the patched sled (vendor/sled/FERRID.md) the cache
/// evicts as sized: 1 MiB rather than 4 kept 2.7 MB less after 10,000
/// sign-ins at the same sign-in rate. Measured with `bench/memory.sh`
/// (docs/benchmarks.md).
pub const SLED_CACHE_BYTES: u64 = 1 << 20;

pub struct SledBackend {
    db: sled::Db,
    trees: Vec<sled::Tree>,
    /// sled 0.34's `flush()` ends in `sync_file_range`, which does not make
    /// data survive power loss; an `fsync` on the same file (through our own
    /// descriptor, which fsync honours per file, not per descriptor) does.
    data_file: Option<File>,
    commits: GroupCommit,
    /// Writers share it; a snapshot takes it alone, so no write lands
    /// half-way through a copy of several trees.
    writers: RwLock<()>,
}

fn io(e: sled::Error) -> BackendError {
    BackendError::Io(e.to_string())
}

impl SledBackend {
    pub fn open(dir: &Path, cache_bytes: u64) -> Result<SledBackend, BackendError> {
        let db = sled::Config::new().path(dir).cache_capacity(cache_bytes).open().map_err(|e| match e {
            sled::Error::Io(ref inner) if inner.to_string().contains("could not acquire lock") => {
                BackendError::Locked(dir.to_owned())
            }
            other => BackendError::Io(format!("cannot open the database in {}: {other}", dir.display())),
        })?;
        let trees = Tree::ALL.iter().map(|t| db.open_tree(t.name())).collect::<Result<Vec<_>, _>>().map_err(io)?;
        let data_file = File::open(dir.join("db")).ok();
        Ok(SledBackend { db, trees, data_file, commits: GroupCommit::default(), writers: RwLock::new(()) })
    }

    fn writing(&self) -> RwLockReadGuard<'_, ()> {
        self.writers.read().unwrap_or_else(|p| p.into_inner())
    }

    fn tree(&self, tree: Tree) -> &sled::Tree {
        assert_off_worker();
        // Tree::ALL and self.trees share an order by construction.
        &self.trees[Tree::ALL.iter().position(|t| *t == tree).unwrap_or(0)]
    }
}

impl Backend for SledBackend {
    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        Ok(self.tree(tree).get(key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), BackendError> {
        let _writing = self.writing();
        self.tree(tree).insert(key, value).map_err(io)?;
        Ok(())
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        let _writing = self.writing();
        Ok(self.tree(tree).remove(key).map_err(io)?.map(|v| v.to_vec()))
    }

    fn scan(&self, tree: Tree) -> Result<Vec<Entry>, BackendError> {
        self.tree(tree).iter().map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io)).collect()
    }

    fn keys_where(&self, tree: Tree, pick: &mut dyn FnMut(&[u8]) -> bool) -> Result<Vec<Vec<u8>>, BackendError> {
        let mut keys = Vec::new();
        for entry in self.tree(tree).iter() {
            let (key, value) = entry.map_err(io)?;
            if pick(&value) {
                keys.push(key.to_vec());
            }
        }
        Ok(keys)
    }

    fn len(&self, tree: Tree) -> usize {
        self.tree(tree).len()
    }

    fn scan_from(&self, tree: Tree, from: &[u8]) -> Result<Vec<Entry>, BackendError> {
        self.tree(tree).range(from..).map(|kv| kv.map(|(k, v)| (k.to_vec(), v.to_vec())).map_err(io)).collect()
    }

    fn trim_front(&self, tree: Tree, before: &[u8], keep: usize) -> Result<usize, BackendError> {
        let _writing = self.writing();
        let t = self.tree(tree);
        // sled's len() walks the whole tree: count once, not per removal
        // (per removal made trimming a large audit trail quadratic).
        let mut remaining = t.len();
        let mut removed = 0;
        while let Some((key, _)) = t.first().map_err(io)? {
            if key.as_ref() >= before && remaining <= keep {
                break;
            }
            t.remove(key).map_err(io)?;
            removed += 1;
            remaining = remaining.saturating_sub(1);
        }
        Ok(removed)
    }

    fn next_id(&self) -> Result<u64, BackendError> {
        self.db.generate_id().map_err(io)
    }

    fn apply(&self, ops: Vec<Op>) -> Result<bool, BackendError> {
        use sled::transaction::{ConflictableTransactionError, TransactionError, Transactional};
        // An appended entry's key is taken now (an aborted batch leaves a
        // gap in the ids, as an aborted PostgreSQL one does); an
        // announcement has no one to reach.
        let mut resolved = Vec::with_capacity(ops.len());
        for op in ops {
            match op {
                Op::Append(tree, mut key, value) => {
                    key.extend_from_slice(&self.next_id()?.to_be_bytes());
                    resolved.push(Op::Put(tree, key, value));
                }
                Op::Announce(_) => {}
                other => resolved.push(other),
            }
        }
        let ops = resolved;
        // Only the trees the batch touches take part in the transaction.
        let mut involved: Vec<Tree> = Vec::new();
        for op in &ops {
            let tree = match op {
                Op::Expect(tree, ..) | Op::Put(tree, ..) | Op::Remove(tree, _) | Op::Append(tree, ..) => tree,
                Op::Announce(_) => continue,
            };
            if !involved.contains(tree) {
                involved.push(*tree);
            }
        }
        let _writing = self.writing();
        let trees: Vec<&sled::Tree> = involved.iter().map(|t| self.tree(*t)).collect();
        let index = |t: &Tree| involved.iter().position(|x| x == t).unwrap_or(0);
        let result = trees.as_slice().transaction(|views| {
            for op in &ops {
                if let Op::Expect(tree, key, expected) = op {
                    let current = views[index(tree)].get(key)?;
                    if current.as_deref() != expected.as_deref() {
                        return Err(ConflictableTransactionError::Abort(()));
                    }
                }
            }
            for op in &ops {
                match op {
                    Op::Expect(..) | Op::Append(..) | Op::Announce(_) => {}
                    Op::Put(tree, key, value) => {
                        views[index(tree)].insert(key.as_slice(), value.as_slice())?;
                    }
                    Op::Remove(tree, key) => {
                        views[index(tree)].remove(key.as_slice())?;
                    }
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => Ok(true),
            Err(TransactionError::Abort(())) => Ok(false),
            Err(TransactionError::Storage(e)) => Err(io(e)),
        }
    }

    fn snapshot(&self) -> Result<Vec<(Tree, Vec<Entry>)>, BackendError> {
        let _alone = self.writers.write().unwrap_or_else(|p| p.into_inner());
        Tree::ALL.iter().map(|t| Ok((*t, self.scan(*t)?))).collect()
    }

    fn make_durable(&self) -> Result<(), BackendError> {
        self.commits.make_durable(|| {
            self.db.flush().map_err(io)?;
            if let Some(file) = &self.data_file {
                file.sync_data().map_err(|e| BackendError::Io(format!("fsync failed: {e}")))?;
            }
            Ok(())
        })
    }
}
