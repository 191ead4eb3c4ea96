//! Typed, durable records on top of a small key-value [`Backend`].
//! This module knows nothing of HTTP.

mod audit;
mod backend;
mod backup;
mod catalog;
mod copy;
mod device_grants;
mod factors;
mod grants;
mod group_commit;
mod identities;
mod links;
mod pats;
mod postgres;
mod records;
mod registration;
mod sessions;
mod shared;

pub use audit::{AuditEvent, AuditKind};
pub use backend::{BackendError, SLED_CACHE_BYTES, STORE_WORK_NICENESS, UNAVAILABLE, lower_this_thread};
pub use backup::TreeDump;
pub use catalog::{AppRemoval, Listening};
pub use copy::CopyReport;
pub use device_grants::{DeviceGrant, DeviceState};
pub use grants::{CodeState, RefreshOutcome, RetryRule, Rotation};
pub use identities::Linked;
pub use links::{Link, LinkKind};
pub use pats::{LAST_USED_GRANULARITY, Pat};
pub use postgres::CONNECTIONS as POSTGRES_CONNECTIONS;
pub use records::*;
pub use registration::InitialToken;
pub use sessions::Withdrawal;
pub use shared::FailureCount;

use backend::{Backend, Op, SledBackend, Tree};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;
use std::sync::Arc;

/// Bumped whenever a record's stored form changes incompatibly.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(transparent)]
    Backend(#[from] BackendError),
    #[error("a stored record is unreadable ({0}); the database may be damaged")]
    Corrupt(String),
    #[error("{0} already exists")]
    AlreadyExists(String),
    #[error("{0} does not exist")]
    NotFound(String),
    #[error("the database has schema version {found}, newer than this ferrid understands ({SCHEMA_VERSION})")]
    SchemaTooNew { found: u32 },
    /// The data dir, or something in it, is not usable by the user ferrid
    /// runs as: a matter of permissions, not damage.
    #[error(transparent)]
    Inaccessible(#[from] crate::fsutil::Inaccessible),
    #[error(
        "the database in {dir} is damaged ({cause}). ferrid will not start on it, nor replace it with an empty \
         one: restore {dir} from your backup, or move it away to start afresh"
    )]
    Damaged { dir: String, cause: String },
}

impl StoreError {
    pub fn is_locked(&self) -> bool {
        matches!(self, StoreError::Backend(BackendError::Locked(_)))
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

#[derive(Clone)]
pub struct Store {
    kv: Arc<dyn Backend>,
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    // Serializing plain records to JSON cannot fail: no maps with non-string keys.
    serde_json::to_vec(value).unwrap_or_default()
}

fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// A record as read, with the bytes it was read from. A compare-and-swap
/// expects those bytes, not a re-encoding: a record written by an older
/// ferrid (before a field was added) would re-encode differently and
/// never swap.
#[derive(Clone, Debug)]
pub struct Stored<T> {
    pub record: T,
    raw: Vec<u8>,
}

impl<T> std::ops::Deref for Stored<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.record
    }
}

/// See `Store::start_lock`.
pub struct StartLock(#[allow(dead_code)] Box<dyn Send>);

fn decode_stored<T: DeserializeOwned>(raw: Vec<u8>) -> Result<Stored<T>> {
    Ok(Stored { record: decode(&raw)?, raw })
}

impl Store {
    pub fn open(data_dir: &Path) -> Result<Store> {
        Store::open_sled(data_dir, None)
    }

    /// sled in `data_dir`, its page cache holding up to `cache_bytes`
    /// (None: [`SLED_CACHE_BYTES`]).
    pub fn open_sled(data_dir: &Path, cache_bytes: Option<u64>) -> Result<Store> {
        prepare_data_dir(data_dir)?;
        let damaged = |cause: String| StoreError::Damaged { dir: data_dir.display().to_string(), cause };
        let cache_bytes = cache_bytes.unwrap_or(SLED_CACHE_BYTES);
        let backend = match SledBackend::open(&data_dir.join("db"), cache_bytes) {
            Ok(backend) => backend,
            Err(e @ BackendError::Locked(_)) => return Err(e.into()),
            Err(BackendError::Io(cause) | BackendError::Unavailable(cause)) => return Err(damaged(cause)),
        };
        crate::fsutil::restrict_tree(&data_dir.join("db")).map_err(|e| {
            BackendError::Io(format!("cannot make the database in {} private: {e}", data_dir.display()))
        })?;
        let store = Store { kv: Arc::new(backend) };
        store.check_schema(Some(&data_dir.join(INITIALIZED_MARKER))).map_err(|e| match e {
            StoreError::Corrupt(cause) => damaged(cause),
            other => other,
        })?;
        Ok(store)
    }

    /// The store in a PostgreSQL database (made and migrated if need be),
    /// which several ferrid instances may share.
    pub fn open_postgres(config: tokio_postgres::Config) -> Result<Store> {
        let backend = postgres::PostgresBackend::connect(config)?;
        let store = Store { kv: Arc::new(backend) };
        store.check_schema(None)?;
        Ok(store)
    }

    /// A store that was initialised once must still carry its schema record:
    /// sled can open a damaged database as an empty one, and starting on that
    /// would silently lose every user and application (`marker`, beside a
    /// sled database, says it was initialised).
    fn check_schema(&self, marker: Option<&Path>) -> Result<()> {
        let write = |marker: &Path| {
            write_marker(marker).map_err(|e| BackendError::Io(format!("cannot write {}: {e}", marker.display())))
        };
        match self.kv.get(Tree::Meta, b"schema_version")? {
            Some(bytes) => {
                let found: u32 = decode(&bytes)?;
                if found > SCHEMA_VERSION {
                    return Err(StoreError::SchemaTooNew { found });
                }
                // Stores made before the marker existed get it now.
                if let Some(marker) = marker.filter(|m| !m.exists()) {
                    write(marker)?;
                }
            }
            None if marker.is_some_and(Path::exists) => {
                return Err(StoreError::Corrupt("it was initialised before but opens empty".into()));
            }
            None => {
                // Two instances starting on a new database at once both
                // write the same record: harmless.
                self.kv.put(Tree::Meta, b"schema_version", &encode(&SCHEMA_VERSION))?;
                self.kv.make_durable()?;
                if let Some(marker) = marker {
                    write(marker)?;
                }
            }
        }
        Ok(())
    }

    /// Reads the schema record: proves the database still answers (readiness).
    pub fn check_readable(&self) -> Result<()> {
        match self.kv.get(Tree::Meta, b"schema_version")? {
            Some(_) => Ok(()),
            None => Err(StoreError::Corrupt("the schema record is missing".into())),
        }
    }

    /// Waits until everything written so far, by any thread, is on stable
    /// storage (at shutdown).
    pub fn make_everything_durable(&self) -> Result<()> {
        Ok(self.kv.make_everything_durable()?)
    }

    fn get<T: DeserializeOwned>(&self, tree: Tree, key: &[u8]) -> Result<Option<T>> {
        self.kv.get(tree, key)?.map(|b| decode(&b)).transpose()
    }

    fn get_stored<T: DeserializeOwned>(&self, tree: Tree, key: &[u8]) -> Result<Option<Stored<T>>> {
        self.kv.get(tree, key)?.map(decode_stored).transpose()
    }

    /// Holds other instances' start-ups off (PostgreSQL) until dropped, so
    /// that instances starting together on an empty database take turns
    /// at making what a first start makes.
    pub fn start_lock(&self) -> Result<StartLock> {
        Ok(StartLock(self.kv.start_lock()?))
    }

    /// A digest of every tree that holds state a request could change
    /// (all but the audit trail and pending sign-ins), for tests that assert
    /// "nothing changed".
    pub fn fingerprint(&self) -> Result<String> {
        self.digest_of(&Self::CHANGEABLE)
    }

    /// `fingerprint` and the parked sign-ins and sign-outs too, for tests
    /// that assert a refused step moved nothing.
    pub fn fingerprint_with_parked(&self) -> Result<String> {
        let parked = [Tree::Interactions, Tree::PendingLogouts, Tree::Ceremonies, Tree::DeviceGrants, Tree::UserCodes];
        self.digest_of(&[Self::CHANGEABLE.as_slice(), parked.as_slice()].concat())
    }

    const CHANGEABLE: [Tree; 19] = [
        Tree::Users,
        Tree::Usernames,
        Tree::Groups,
        Tree::Apps,
        Tree::ClientIds,
        Tree::Sessions,
        Tree::Codes,
        Tree::RefreshTokens,
        Tree::Families,
        Tree::RevokedJtis,
        Tree::Pats,
        Tree::PatIds,
        Tree::Devices,
        Tree::Consents,
        Tree::LogoutOutbox,
        Tree::Factors,
        Tree::Identities,
        Tree::RegistrationTokens,
        Tree::RegistrationTokenIds,
    ];

    fn digest_of(&self, trees: &[Tree]) -> Result<String> {
        let mut hasher = openssl::sha::Sha256::new();
        for &tree in trees {
            for (key, value) in self.kv.scan(tree)? {
                hasher.update(&key);
                hasher.update(&value);
            }
            hasher.update(b"|");
        }
        Ok(crate::crypto::secrets::b64url(&hasher.finish()))
    }

    fn all<T: DeserializeOwned>(&self, tree: Tree) -> Result<Vec<T>> {
        self.kv.scan(tree)?.iter().map(|(_, v)| decode(v)).collect()
    }

    // ----- users -----

    pub fn create_user(&self, user: &User) -> Result<()> {
        let ok = self.kv.apply(vec![
            Op::Expect(Tree::Usernames, user.username.as_str().into(), None),
            Op::Put(Tree::Usernames, user.username.as_str().into(), user.sub.as_bytes().to_vec()),
            Op::Put(Tree::Users, user.sub.as_bytes().to_vec(), encode(user)),
        ])?;
        if !ok {
            return Err(StoreError::AlreadyExists(format!("user {}", user.username)));
        }
        self.kv.make_durable()?;
        Ok(())
    }

    /// Replaces an existing user's record (same sub and username).
    pub fn update_user(&self, user: &User) -> Result<()> {
        self.kv.put(Tree::Users, user.sub.as_bytes(), &encode(user))?;
        self.kv.make_durable()?;
        Ok(())
    }

    /// Replaces the password hash with the same password's at another cost,
    /// unless the record changed since `seen` was read (a new password set
    /// meanwhile wins). Not synced: losing it only means the old hash stays.
    pub fn rehash_password(&self, seen: &User, new_hash: &str) -> Result<bool> {
        let key = seen.sub.as_bytes().to_vec();
        let Some(current) = self.get_stored::<User>(Tree::Users, &key)? else { return Ok(false) };
        if current.password_hash != seen.password_hash || current.epoch != seen.epoch {
            return Ok(false);
        }
        let mut next = current.record.clone();
        next.password_hash = new_hash.to_owned();
        Ok(self.kv.apply(vec![
            Op::Expect(Tree::Users, key.clone(), Some(current.raw.clone())),
            Op::Put(Tree::Users, key, encode(&next)),
        ])?)
    }

    pub fn user_by_sub(&self, sub: &uuid::Uuid) -> Result<Option<User>> {
        self.get(Tree::Users, sub.as_bytes())
    }

    pub fn user_by_name(&self, username: &crate::domain::Username) -> Result<Option<User>> {
        match self.kv.get(Tree::Usernames, username.as_str().as_bytes())? {
            Some(sub) => self.get(Tree::Users, &sub),
            None => Ok(None),
        }
    }

    pub fn users(&self) -> Result<Vec<User>> {
        let mut users: Vec<User> = self.all(Tree::Users)?;
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok(users)
    }

    pub fn user_count(&self) -> usize {
        self.kv.len(Tree::Users)
    }

    // ----- groups -----

    pub fn put_group(&self, group: &Group) -> Result<()> {
        self.kv.put(Tree::Groups, group.name.as_str().as_bytes(), &encode(group))?;
        self.kv.make_durable()?;
        Ok(())
    }

    pub fn groups(&self) -> Result<Vec<Group>> {
        self.all(Tree::Groups)
    }

    /// Removes the group and takes it off every user, in one durable write.
    pub fn delete_group(&self, name: &crate::domain::GroupName) -> Result<usize> {
        let mut ops = vec![Op::Remove(Tree::Groups, name.as_str().as_bytes().to_vec())];
        let mut members = 0;
        for mut user in self.users()? {
            if user.groups.contains(name) {
                user.groups.retain(|g| g != name);
                ops.push(Op::Put(Tree::Users, user.sub.as_bytes().to_vec(), encode(&user)));
                members += 1;
            }
        }
        self.kv.apply(ops)?;
        self.kv.make_durable()?;
        Ok(members)
    }

    pub fn group(&self, name: &crate::domain::GroupName) -> Result<Option<Group>> {
        self.get(Tree::Groups, name.as_str().as_bytes())
    }

    pub fn group_exists(&self, name: &crate::domain::GroupName) -> Result<bool> {
        Ok(self.kv.get(Tree::Groups, name.as_str().as_bytes())?.is_some())
    }

    // ----- applications -----

    /// Inserts or replaces an application, keeping client ids unique.
    pub fn put_app(&self, app: &Application) -> Result<()> {
        let slug = app.slug.as_str().as_bytes().to_vec();
        let client_key = app.client_id.as_str().as_bytes().to_vec();
        let previous: Option<Application> = self.get(Tree::Apps, &slug)?;
        let owner = self.kv.get(Tree::ClientIds, &client_key)?;
        if owner.as_deref().is_some_and(|o| o != slug.as_slice()) {
            return Err(StoreError::AlreadyExists(format!("client_id {}", app.client_id)));
        }
        let mut ops = vec![
            Op::Expect(Tree::ClientIds, client_key.clone(), owner),
            Op::Put(Tree::ClientIds, client_key, slug.clone()),
            Op::Put(Tree::Apps, slug, encode(app)),
        ];
        if let Some(prev) = previous.filter(|p| p.client_id != app.client_id) {
            ops.push(Op::Remove(Tree::ClientIds, prev.client_id.as_str().as_bytes().to_vec()));
        }
        if !self.kv.apply(ops)? {
            return Err(StoreError::AlreadyExists(format!("client_id {}", app.client_id)));
        }
        self.kv.make_durable()?;
        Ok(())
    }

    pub fn app(&self, slug: &crate::domain::Slug) -> Result<Option<Application>> {
        self.get(Tree::Apps, slug.as_str().as_bytes())
    }

    pub fn app_by_client_id(&self, client_id: &crate::domain::ClientId) -> Result<Option<Application>> {
        match self.kv.get(Tree::ClientIds, client_id.as_str().as_bytes())? {
            Some(slug) => self.get(Tree::Apps, &slug),
            None => Ok(None),
        }
    }

    pub fn apps(&self) -> Result<Vec<Application>> {
        let mut apps: Vec<Application> = self.all(Tree::Apps)?;
        apps.sort_by(|a, b| a.slug.cmp(&b.slug));
        Ok(apps)
    }

    // ----- known browsers (not fsynced either: losing one only means the
    // browser is throttled as a stranger until its next sign-in) -----

    pub fn put_device(&self, id: &crate::crypto::secrets::Digest, device: &Device) -> Result<()> {
        self.kv.put(Tree::Devices, id.as_bytes(), &encode(device))?;
        Ok(())
    }

    pub fn device(&self, id: &crate::crypto::secrets::Digest) -> Result<Option<Device>> {
        self.get(Tree::Devices, id.as_bytes())
    }

    pub fn delete_device(&self, id: &crate::crypto::secrets::Digest) -> Result<()> {
        self.kv.remove(Tree::Devices, id.as_bytes())?;
        Ok(())
    }

    // ----- pending sign-ins -----

    pub fn put_interaction(&self, id: &str, interaction: &Interaction) -> Result<()> {
        self.kv.put(Tree::Interactions, id.as_bytes(), &encode(interaction))?;
        Ok(())
    }

    /// The interaction parked under `id`, with the bytes it was read from
    /// (for `advance_interaction`). One this ferrid cannot read (parked by
    /// an older version, before steps were explicit) is as good as expired.
    pub fn interaction(&self, id: &str) -> Result<Option<Stored<Interaction>>> {
        match self.kv.get(Tree::Interactions, id.as_bytes())? {
            Some(raw) => Ok(decode_stored(raw).ok()),
            None => Ok(None),
        }
    }

    /// Moves a parked interaction on, if it is still exactly as `seen`:
    /// `next` None ends it (the sign-in is done), `Some((id, record))`
    /// parks its next step (under `id`, which may be the same id). False
    /// when someone moved it first: then nothing is written.
    pub fn advance_interaction(
        &self,
        id: &str,
        seen: &Stored<Interaction>,
        next: Option<(&str, &Interaction)>,
    ) -> Result<bool> {
        let key = id.as_bytes().to_vec();
        let mut ops = vec![Op::Expect(Tree::Interactions, key.clone(), Some(seen.raw.clone()))];
        match next {
            Some((next_id, record)) if next_id == id => ops.push(Op::Put(Tree::Interactions, key, encode(record))),
            Some((next_id, record)) => {
                ops.push(Op::Remove(Tree::Interactions, key));
                ops.push(Op::Put(Tree::Interactions, next_id.as_bytes().to_vec(), encode(record)));
            }
            None => ops.push(Op::Remove(Tree::Interactions, key)),
        }
        // A crash may undo it: the sign-in is then asked for again.
        Ok(self.kv.apply_ephemeral(ops)?)
    }

    /// Deletes everything whose lifetime has passed. Returns how many records went.
    pub fn purge_expired(&self, now: i64) -> Result<usize> {
        let mut removed = 0;
        // Sessions are not here: one that expires is ended like any other,
        // so its applications hear of it (`sessions::Sessions::end_expired`).
        for tree in [
            Tree::Interactions,
            Tree::Codes,
            Tree::RefreshTokens,
            Tree::Families,
            Tree::RevokedJtis,
            Tree::Devices,
            Tree::PendingLogouts,
            Tree::Ceremonies,
            Tree::DeviceGrants,
            Tree::UserCodes,
        ] {
            for key in self.keys_expired_by(tree, now)? {
                self.kv.remove(tree, &key)?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// The keys of `tree`'s records whose `expires_at` is `now` or before.
    fn keys_expired_by(&self, tree: Tree, now: i64) -> Result<Vec<Vec<u8>>> {
        let mut unreadable = None;
        let expired = self.kv.keys_where(tree, &mut |value| match decode::<Expiring>(value) {
            Ok(record) => record.expires_at <= now,
            Err(e) => {
                unreadable.get_or_insert(e);
                false
            }
        })?;
        match unreadable {
            Some(e) => Err(e),
            None => Ok(expired),
        }
    }
}

/// For unit tests: a store on sled in a temporary folder, or with
/// `FERRID_TEST_STORE=postgres` on a new database of a PostgreSQL server
/// the test process starts (scripts/test.sh runs the tests both ways).
#[cfg(test)]
#[path = "../../tests/api/postgres_server.rs"]
#[allow(dead_code)] // Shared with the API tests, which use all of it.
mod postgres_server;

#[cfg(test)]
pub(crate) mod testing {
    use super::postgres_server;

    /// The folder (sled's, or empty) and the store in it.
    pub fn temp_store() -> (tempfile::TempDir, super::Store) {
        let dir = tempfile::tempdir().unwrap();
        let store = if postgres_server::wanted() {
            super::Store::open_postgres(postgres_server::new_database().parse().unwrap()).unwrap()
        } else {
            super::Store::open(dir.path()).unwrap()
        };
        (dir, store)
    }
}

/// Written next to the database when it is first initialised (see `check_schema`).
/// Makes the data dir if need be, checks that ferrid may use it and its
/// database, and keeps it private. Before sled opens it: a folder ferrid
/// may not use would otherwise fail inside sled and read as damage.
fn prepare_data_dir(data_dir: &Path) -> Result<()> {
    if let Err(e) = crate::fsutil::create_private_dir(data_dir) {
        // One that exists but cannot be reached says so.
        crate::fsutil::check_access(data_dir, "the data dir", &[])?;
        let user = crate::fsutil::describe_user(crate::fsutil::effective_uid());
        return Err(BackendError::Io(format!("cannot create {} as user {user}: {e}", data_dir.display())).into());
    }
    crate::fsutil::check_access(data_dir, "the data dir", &["db"])?;
    crate::fsutil::keep_private(data_dir, "the data dir");
    Ok(())
}

const INITIALIZED_MARKER: &str = "ferrid-store-initialized";

fn write_marker(path: &Path) -> std::io::Result<()> {
    crate::fsutil::write_new_file(path, format!("ferrid store, schema {SCHEMA_VERSION}\n").as_bytes(), 0o600)
}

/// Every short-lived record has an `expires_at`; purging reads only that.
#[derive(serde::Deserialize)]
struct Expiring {
    expires_at: i64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::secrets::Digest;

    /// Opens the sled store in `dir` again. sled's flusher thread lets go of
    /// the file lock a moment after the last handle drops, so a reopen at
    /// once may find it still held (as ferrid's own start-up allows for).
    fn reopen(dir: &Path) -> Result<Store> {
        for _ in 0..100 {
            match Store::open(dir) {
                Err(e) if e.is_locked() => std::thread::sleep(std::time::Duration::from_millis(20)),
                other => return other,
            }
        }
        Store::open(dir)
    }

    fn device(expires_at: i64) -> Device {
        Device { sub: uuid::Uuid::new_v4(), expires_at }
    }

    #[test]
    fn a_new_data_dir_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        Store::open(&data).unwrap();
        assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o700);
    }

    #[test]
    fn database_files_an_older_ferrid_left_readable_become_private_at_open() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        drop(Store::open(dir.path()).unwrap());
        let conf = dir.path().join("db").join("conf");
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o644)).unwrap();
        drop(reopen(dir.path()).unwrap());
        assert_eq!(std::fs::metadata(&conf).unwrap().permissions().mode() & 0o777, 0o600);
    }

    #[test]
    fn purge_removes_only_what_has_expired() {
        let (_dir, store) = testing::temp_store();
        store.put_device(&Digest::of("old"), &device(100)).unwrap();
        store.put_device(&Digest::of("new"), &device(300)).unwrap();
        assert_eq!(store.purge_expired(200).unwrap(), 1);
        assert!(store.device(&Digest::of("old")).unwrap().is_none());
        assert!(store.device(&Digest::of("new")).unwrap().is_some());
    }

    #[test]
    fn a_database_from_a_newer_ferrid_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        store.kv.put(Tree::Meta, b"schema_version", &encode(&(SCHEMA_VERSION + 1))).unwrap();
        // On disk before the reopen: sled flushes on drop only eventually
        // (this failed once under a loaded machine without it).
        store.make_everything_durable().unwrap();
        drop(store);
        let reopened = reopen(dir.path());
        assert!(matches!(reopened, Err(StoreError::SchemaTooNew { .. })), "{:?}", reopened.err());
    }

    #[test]
    fn usernames_are_unique_and_client_ids_belong_to_one_application() {
        let (_dir, store) = testing::temp_store();
        let user = User::for_test("alice", String::new());
        store.create_user(&user).unwrap();
        let twin = User { sub: uuid::Uuid::new_v4(), ..user.clone() };
        assert!(matches!(store.create_user(&twin), Err(StoreError::AlreadyExists(_))));
        assert_eq!(store.user_count(), 1);

        let app = |slug: &str| Application {
            slug: crate::domain::Slug::parse(slug).unwrap(),
            name: slug.into(),
            client_id: crate::domain::ClientId::parse("shared").unwrap(),
            client: ClientKind::Public,
            redirect_uris: vec![],
            signing_alg: Default::default(),
            access: Default::default(),
            claims: Vec::new(),
            declared: false,
            created_at: 0,
            post_logout_redirect_uris: vec![],
            backchannel_logout_uri: None,
            backchannel_logout_session_required: false,
            consent: Default::default(),
            require_mfa: false,
            proxy: None,
            email_verified: Default::default(),
            compat: Default::default(),
            registration: None,
        };
        store.put_app(&app("one")).unwrap();
        assert!(matches!(store.put_app(&app("two")), Err(StoreError::AlreadyExists(_))));
        assert!(store.app(&crate::domain::Slug::parse("two").unwrap()).unwrap().is_none());
    }
}
