//! The PostgreSQL backend, for several ferrid instances sharing one
//! database. Every tree is one table's rows, keyed by `(tree, key)`; a
//! batch (`apply`) is one SERIALIZABLE transaction, retried when PostgreSQL
//! reports a conflict, so a compare-and-swap (a code redeemed, a refresh
//! token rotated) succeeds at exactly one instance.
//!
//! Durability as on sled: a single write (`put`, `remove`, `append`) is
//! committed without waiting for the disk (`synchronous_commit = off` on
//! the pool's connections), and `make_durable` waits, once, for what the
//! calling thread wrote. A batch waits for the disk as it commits, which
//! also covers every write before it (PostgreSQL's log is one sequence).
//! A sign-in made 8 commits that each waited for an fsync; now 2–3 do.
//!
//! The store's API is synchronous (sled is an in-process library); the
//! driver is tokio-postgres with a deadpool pool, on a small runtime of this
//! backend's own, and a caller waits on a channel for its answer. That
//! works from any thread, inside an actix worker's runtime or not.

use super::backend::{Backend, BackendError, Channel, Entry, Op, Tree};
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod, Runtime};
use std::cell::Cell;
use std::future::Future;
use std::time::Duration;
use tokio_postgres::error::SqlState;

/// Versioned schema migrations, applied in order under an advisory lock
/// (two instances starting at once take turns). Append only: a released
/// migration is never edited.
const MIGRATIONS: &[&str] = &[
    // 1: every tree in one table; ids for `next_id`.
    "CREATE TABLE ferrid_kv (
        tree smallint NOT NULL,
        key bytea NOT NULL,
        value bytea NOT NULL,
        PRIMARY KEY (tree, key)
    );
    CREATE SEQUENCE ferrid_ids;",
];

/// The advisory lock migrations run under ("ferrid" in ASCII).
const MIGRATION_LOCK: i64 = 0x6665_7272_6964;

/// The advisory lock an instance's whole start-up (declared groups and
/// applications, the first administrator, signing keys) runs under
/// ("ferrids" in ASCII).
const START_LOCK: i64 = 0x0066_6572_7269_6473;

/// Connections an instance keeps to PostgreSQL at most.
pub const CONNECTIONS: usize = 16;

/// How often a batch is retried after a serialization conflict (with a
/// growing, jittered pause: about 3 s in all at most).
const CONFLICT_RETRIES: usize = 40;

thread_local! {
    /// Whether this thread wrote since its writes were last known on disk:
    /// `make_durable` only then needs a round trip. Per thread because a
    /// request's store calls run on one thread, and another thread's
    /// writes are for its own `make_durable`.
    static UNFLUSHED: Cell<bool> = const { Cell::new(false) };
}

/// Sent with a batch's BEGIN when its commit is to wait for the disk.
const WAIT_FOR_DISK: &str = "; SET LOCAL synchronous_commit = on";

/// A transaction that writes a row and removes it again, committed waiting
/// for the disk: PostgreSQL then flushes its log up to that commit, so all
/// that was committed before it. The row matters: a commit waits for the
/// disk only if its transaction wrote to the log (an id alone, as
/// `txid_current()` gives, does not). The row, in the meta tree under a
/// key no record uses, is never seen by anyone else. One round trip.
const FLUSH: &str = "BEGIN; SET LOCAL synchronous_commit = on;
    INSERT INTO ferrid_kv (tree, key, value) VALUES (0, 'flush'::bytea || int8send(txid_current()), ''::bytea);
    DELETE FROM ferrid_kv WHERE tree = 0 AND key = 'flush'::bytea || int8send(txid_current());
    COMMIT";

/// How long a lost listening connection (`listen`) waits before it
/// connects again; meanwhile the callers' polling covers.
const LISTEN_RETRY: Duration = Duration::from_secs(1);

pub struct PostgresBackend {
    /// Always Some until dropped (then shut down without blocking, as a
    /// runtime may not be dropped inside another's worker).
    runtime: Option<tokio::runtime::Runtime>,
    pool: Pool,
    /// For the listening connection (`listen`), which is not the pool's.
    config: tokio_postgres::Config,
}

impl Drop for PostgresBackend {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The pool's connections commit single writes without waiting for the
/// disk (see the module's comment), keeping any options the URL set.
fn without_waiting_for_disk(mut config: tokio_postgres::Config) -> tokio_postgres::Config {
    let options = match config.get_options() {
        Some(given) => format!("{given} -c synchronous_commit=off"),
        None => "-c synchronous_commit=off".to_owned(),
    };
    config.options(&options);
    config
}

/// Runs after a write that did not wait for the disk.
fn wrote<T>(result: Result<T, BackendError>) -> Result<T, BackendError> {
    if result.is_ok() {
        UNFLUSHED.set(true);
    }
    result
}

fn db(e: tokio_postgres::Error) -> BackendError {
    // A server-side error's own message; otherwise the driver's (which for
    // a refused connection names the cause).
    let lost = e.is_closed()
        || e.code().is_some_and(|c| {
            c.code().starts_with("08") || *c == SqlState::ADMIN_SHUTDOWN || *c == SqlState::CANNOT_CONNECT_NOW
        });
    match e.as_db_error() {
        Some(db) if lost => BackendError::Unavailable(format!("PostgreSQL: {}", db.message())),
        Some(db) => BackendError::Io(format!("PostgreSQL: {}", db.message())),
        None => {
            // "error connecting to server" alone says too little: add the
            // causes (connection refused, timed out, …).
            let mut message = format!("PostgreSQL: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                message += &format!(": {cause}");
                source = cause.source();
            }
            // No answer from a server at all: connecting, or the connection
            // broke. The pool makes a new one for the next request.
            BackendError::Unavailable(message)
        }
    }
}

fn pool_error(e: deadpool_postgres::PoolError) -> BackendError {
    match e {
        deadpool_postgres::PoolError::Backend(e) => db(e),
        // Timeouts waiting for or making a connection.
        other => BackendError::Unavailable(format!("PostgreSQL: {other}")),
    }
}

fn is_conflict(e: &tokio_postgres::Error) -> bool {
    matches!(e.code(), Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED)
}

/// A tree's number in the table: its place in `Tree::ALL` (append only).
fn tree_id(tree: Tree) -> i16 {
    Tree::ALL.iter().position(|t| *t == tree).unwrap_or(0) as i16
}

impl PostgresBackend {
    /// Connects to `config` and brings the schema up to date. Fails, naming
    /// the cause, when the server cannot be reached, refuses the
    /// credentials, or holds a schema newer than this binary knows.
    pub fn connect(config: tokio_postgres::Config) -> Result<PostgresBackend, BackendError> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("ferrid-postgres")
            // Its work is the blocking pool's store calls: as low as they are.
            .on_thread_start(super::backend::lower_this_thread)
            .enable_all()
            .build()
            .map_err(|e| BackendError::Io(format!("cannot start the database runtime: {e}")))?;
        let manager = Manager::from_config(
            without_waiting_for_disk(config.clone()),
            tokio_postgres::NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(CONNECTIONS)
            .runtime(Runtime::Tokio1)
            .create_timeout(Some(Duration::from_secs(5)))
            .wait_timeout(Some(Duration::from_secs(10)))
            .build()
            .map_err(|e| BackendError::Io(format!("PostgreSQL pool: {e}")))?;
        let backend = PostgresBackend { runtime: Some(runtime), pool, config };
        backend.migrate()?;
        Ok(backend)
    }

    /// Applies a batch in one SERIALIZABLE transaction, retried on
    /// conflicts; `begin_also` is sent with its BEGIN (`WAIT_FOR_DISK`).
    fn apply_batch(&self, batch: Batch, begin_also: &'static str) -> Result<bool, BackendError> {
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let statement = client.prepare_cached(COMPARE_AND_WRITE).await.map_err(db)?;
            for attempt in 0..CONFLICT_RETRIES {
                match apply_once(&client, &statement, &batch, begin_also).await {
                    Ok(outcome) => return Ok(outcome),
                    Err(e) if is_conflict(&e) => {
                        // Another batch touched the same rows: run ours again
                        // against what it left (preconditions too), after a
                        // pause that keeps two retrying batches apart.
                        let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) % 8;
                        tokio::time::sleep(Duration::from_millis((1 << attempt.min(6)) + jitter)).await;
                    }
                    Err(e) => return Err(db(e)),
                }
            }
            Err(BackendError::Io("PostgreSQL: a batch kept conflicting with others; try again".into()))
        })
    }

    /// Runs `work` on this backend's runtime and waits for it.
    fn run<T, F>(&self, work: impl FnOnce(Pool) -> F) -> Result<T, BackendError>
    where
        T: Send + 'static,
        F: Future<Output = Result<T, BackendError>> + Send + 'static,
    {
        super::backend::assert_off_worker();
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        let future = work(self.pool.clone());
        let Some(runtime) = &self.runtime else { return Err(BackendError::Io("the database is closed".into())) };
        runtime.spawn(async move {
            let _ = tx.send(future.await);
        });
        rx.recv().map_err(|_| BackendError::Io("the database worker stopped".into()))?
    }

    fn migrate(&self) -> Result<(), BackendError> {
        self.run(|pool| async move {
            let mut client = pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(db)?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await.map_err(db)?;
            // (Asked first rather than CREATE … IF NOT EXISTS, whose notice
            // would be logged at every start.)
            let exists: bool =
                tx.query_one("SELECT to_regclass('ferrid_migrations') IS NOT NULL", &[]).await.map_err(db)?.get(0);
            if !exists {
                tx.batch_execute(
                    "CREATE TABLE ferrid_migrations (
                        version integer PRIMARY KEY,
                        applied_at timestamptz NOT NULL DEFAULT now()
                    )",
                )
                .await
                .map_err(db)?;
            }
            let row = tx.query_one("SELECT coalesce(max(version), 0) FROM ferrid_migrations", &[]).await.map_err(db)?;
            let applied: i32 = row.get(0);
            let known = MIGRATIONS.len() as i32;
            if applied > known {
                return Err(BackendError::Io(format!(
                    "the database's schema is version {applied}, newer than this ferrid knows ({known}): \
                     run the newer ferrid, or restore a backup taken before it"
                )));
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(applied as usize) {
                tx.batch_execute(sql).await.map_err(db)?;
                tx.execute("INSERT INTO ferrid_migrations (version) VALUES ($1)", &[&(i as i32 + 1)])
                    .await
                    .map_err(db)?;
            }
            tx.commit().await.map_err(db)
        })
    }
}

impl Backend for PostgresBackend {
    /// A session-level advisory lock, on a connection taken out of the
    /// pool: dropping the guard closes that connection, which releases
    /// the lock (also if this process dies while holding it).
    fn start_lock(&self) -> Result<Box<dyn Send>, BackendError> {
        let connection = self.run(|pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            client.execute("SELECT pg_advisory_lock($1)", &[&START_LOCK]).await.map_err(db)?;
            Ok(deadpool_postgres::Object::take(client))
        })?;
        Ok(Box::new(connection))
    }

    fn get(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        let key = key.to_vec();
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let stmt =
                client.prepare_cached("SELECT value FROM ferrid_kv WHERE tree = $1 AND key = $2").await.map_err(db)?;
            let row = client.query_opt(&stmt, &[&tree_id(tree), &key]).await.map_err(db)?;
            Ok(row.map(|r| r.get(0)))
        })
    }

    /// One statement: one round trip, one snapshot.
    fn get_many(&self, keys: &[(Tree, &[u8])]) -> Result<Vec<Option<Vec<u8>>>, BackendError> {
        let trees: Vec<i16> = keys.iter().map(|(tree, _)| tree_id(*tree)).collect();
        let wanted: Vec<Vec<u8>> = keys.iter().map(|(_, key)| key.to_vec()).collect();
        let n = keys.len();
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached(
                    // A lookup by primary key per key asked (a join would
                    // let the planner scan the whole table instead).
                    "SELECT k.i, (SELECT kv.value FROM ferrid_kv kv WHERE kv.tree = k.tree AND kv.key = k.key)
                     FROM unnest($1::smallint[], $2::bytea[]) WITH ORDINALITY AS k(tree, key, i)",
                )
                .await
                .map_err(db)?;
            let rows = client.query(&stmt, &[&trees, &wanted]).await.map_err(db)?;
            let mut found = vec![None; n];
            for row in rows {
                let i: i64 = row.get(0);
                if let Some(slot) = usize::try_from(i - 1).ok().and_then(|i| found.get_mut(i)) {
                    *slot = row.get(1);
                }
            }
            Ok(found)
        })
    }

    fn put(&self, tree: Tree, key: &[u8], value: &[u8]) -> Result<(), BackendError> {
        let (key, value) = (key.to_vec(), value.to_vec());
        wrote(self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO ferrid_kv (tree, key, value) VALUES ($1, $2, $3)
                     ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value",
                )
                .await
                .map_err(db)?;
            client.execute(&stmt, &[&tree_id(tree), &key, &value]).await.map_err(db)?;
            Ok(())
        }))
    }

    fn remove(&self, tree: Tree, key: &[u8]) -> Result<Option<Vec<u8>>, BackendError> {
        let key = key.to_vec();
        wrote(self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached("DELETE FROM ferrid_kv WHERE tree = $1 AND key = $2 RETURNING value")
                .await
                .map_err(db)?;
            let row = client.query_opt(&stmt, &[&tree_id(tree), &key]).await.map_err(db)?;
            Ok(row.map(|r| r.get(0)))
        }))
    }

    fn scan(&self, tree: Tree) -> Result<Vec<Entry>, BackendError> {
        self.scan_from(tree, &[])
    }

    fn len(&self, tree: Tree) -> usize {
        let counted = self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let row = client
                .query_one("SELECT count(*) FROM ferrid_kv WHERE tree = $1", &[&tree_id(tree)])
                .await
                .map_err(db)?;
            Ok(row.get::<_, i64>(0))
        });
        counted.map_or(0, |n| n as usize)
    }

    fn scan_from(&self, tree: Tree, from: &[u8]) -> Result<Vec<Entry>, BackendError> {
        let from = from.to_vec();
        self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            // bytea compares byte by byte, as sled orders keys.
            let stmt = client
                .prepare_cached("SELECT key, value FROM ferrid_kv WHERE tree = $1 AND key >= $2 ORDER BY key")
                .await
                .map_err(db)?;
            let rows = client.query(&stmt, &[&tree_id(tree), &from]).await.map_err(db)?;
            Ok(rows.into_iter().map(|r| (r.get(0), r.get(1))).collect())
        })
    }

    fn trim_front(&self, tree: Tree, before: &[u8], keep: usize) -> Result<usize, BackendError> {
        let before = before.to_vec();
        let keep = keep as i64;
        wrote(self.run(move |pool| async move {
            let mut client = pool.get().await.map_err(pool_error)?;
            let tx = client.transaction().await.map_err(db)?;
            let t = tree_id(tree);
            let old =
                tx.execute("DELETE FROM ferrid_kv WHERE tree = $1 AND key < $2", &[&t, &before]).await.map_err(db)?;
            let extra = tx
                .execute(
                    "DELETE FROM ferrid_kv WHERE tree = $1 AND key IN (
                        SELECT key FROM ferrid_kv WHERE tree = $1 ORDER BY key
                        LIMIT greatest((SELECT count(*) FROM ferrid_kv WHERE tree = $1) - $2, 0))",
                    &[&t, &keep],
                )
                .await
                .map_err(db)?;
            tx.commit().await.map_err(db)?;
            Ok((old + extra) as usize)
        }))
    }

    /// One round trip: the id is taken in the INSERT itself.
    fn append(&self, tree: Tree, prefix: &[u8], value: &[u8]) -> Result<(), BackendError> {
        let (prefix, value) = (prefix.to_vec(), value.to_vec());
        wrote(self.run(move |pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let stmt = client
                .prepare_cached(
                    "INSERT INTO ferrid_kv (tree, key, value) VALUES ($1, $2 || int8send(nextval('ferrid_ids')), $3)",
                )
                .await
                .map_err(db)?;
            client.execute(&stmt, &[&tree_id(tree), &prefix, &value]).await.map_err(db)?;
            Ok(())
        }))
    }

    fn next_id(&self) -> Result<u64, BackendError> {
        self.run(|pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            let row = client.query_one("SELECT nextval('ferrid_ids')", &[]).await.map_err(db)?;
            Ok(row.get::<_, i64>(0) as u64)
        })
    }

    fn apply(&self, ops: Vec<Op>) -> Result<bool, BackendError> {
        // Only a batch that wrote a row surely wrote to the log, and so
        // waited for the disk as it committed (see `FLUSH`).
        let writes_a_row = ops.iter().any(|op| matches!(op, Op::Put(..) | Op::Append(..)));
        let applied = self.apply_batch(Batch::of(ops), WAIT_FOR_DISK);
        if matches!(applied, Ok(true)) && writes_a_row {
            // So did this thread's writes before it.
            UNFLUSHED.set(false);
        }
        applied
    }

    fn apply_ephemeral(&self, ops: Vec<Op>) -> Result<bool, BackendError> {
        wrote(self.apply_batch(Batch::of(ops), ""))
    }

    fn make_durable(&self) -> Result<(), BackendError> {
        if UNFLUSHED.get() {
            self.make_everything_durable()?;
        }
        Ok(())
    }

    fn make_everything_durable(&self) -> Result<(), BackendError> {
        self.run(|pool| async move {
            let client = pool.get().await.map_err(pool_error)?;
            client.batch_execute(FLUSH).await.map_err(db)
        })?;
        UNFLUSHED.set(false);
        Ok(())
    }

    /// A connection of its own (not the pool's: a pooled one would be
    /// recycled), `LISTEN`ing on the channel; made again `LISTEN_RETRY`
    /// after it is lost, until the guard is dropped (which closes it).
    fn listen(&self, channel: Channel, heard: Box<dyn Fn() + Send + Sync>) -> Option<Box<dyn Send>> {
        let runtime = self.runtime.as_ref()?;
        let mut config = self.config.clone();
        // A peer that vanished without closing the connection is noticed
        // within about a minute, not the system's default two hours.
        config.keepalives(true).keepalives_idle(Duration::from_secs(30));
        let task = runtime.spawn(async move {
            loop {
                match listen_once(&config, channel, &*heard).await {
                    Ok(()) => tracing::warn!(channel = channel.name(), "the listening connection to PostgreSQL closed"),
                    Err(e) => tracing::warn!(channel = channel.name(), error = %db(e), "cannot listen on PostgreSQL"),
                }
                tokio::time::sleep(LISTEN_RETRY).await;
            }
        });
        Some(Box::new(Listening(task.abort_handle())))
    }

    fn snapshot(&self) -> Result<Vec<(Tree, Vec<Entry>)>, BackendError> {
        self.run(|pool| async move {
            let mut client = pool.get().await.map_err(pool_error)?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(db)?;
            let mut trees = Vec::with_capacity(Tree::ALL.len());
            for tree in Tree::ALL {
                let rows = tx
                    .query("SELECT key, value FROM ferrid_kv WHERE tree = $1 ORDER BY key", &[&tree_id(tree)])
                    .await
                    .map_err(db)?;
                trees.push((tree, rows.into_iter().map(|r| (r.get(0), r.get(1))).collect()));
            }
            tx.commit().await.map_err(db)?;
            Ok(trees)
        })
    }
}

/// Stops a `listen` task, and so closes its connection, when dropped.
struct Listening(tokio::task::AbortHandle);

impl Drop for Listening {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Connects, `LISTEN`s on `channel` and calls `heard` once (a change may
/// have been missed while not listening), then at each notice, until the
/// connection ends.
async fn listen_once(
    config: &tokio_postgres::Config,
    channel: Channel,
    heard: &(dyn Fn() + Send + Sync),
) -> Result<(), tokio_postgres::Error> {
    let (client, mut connection) = config.connect(tokio_postgres::NoTls).await?;
    let listening = async {
        // (A channel name is an identifier: ours are plain lower case.)
        client.batch_execute(&format!("LISTEN {}", channel.name())).await?;
        heard();
        std::future::pending::<Result<(), tokio_postgres::Error>>().await
    };
    // Polling the connection also carries the LISTEN above.
    let notices = async {
        loop {
            match futures_util::future::poll_fn(|cx| connection.poll_message(cx)).await {
                Some(Ok(tokio_postgres::AsyncMessage::Notification(notice))) if notice.channel() == channel.name() => {
                    heard()
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            }
        }
    };
    tokio::select! {
        outcome = listening => outcome,
        outcome = notices => outcome,
    }
}

/// A batch as one statement: the preconditions are checked and, only if
/// every one holds, the removals and writes made, the appended entries
/// written under new ids (`nextval`, as `append` does) and the
/// announcements made (`pg_notify`, delivered at commit), reading and
/// writing one snapshot. Run SERIALIZABLE, so a concurrent batch that read
/// or wrote the same rows makes one of the two fail and retry.
const COMPARE_AND_WRITE: &str = "
    WITH expected AS (
        SELECT * FROM unnest($1::smallint[], $2::bytea[], $3::bytea[]) AS e(tree, key, value)
    ), failed AS (
        SELECT 1 FROM expected e
        LEFT JOIN ferrid_kv kv ON kv.tree = e.tree AND kv.key = e.key
        WHERE kv.value IS DISTINCT FROM e.value
        LIMIT 1
    ), removed AS (
        DELETE FROM ferrid_kv kv
        USING unnest($4::smallint[], $5::bytea[]) AS r(tree, key)
        WHERE kv.tree = r.tree AND kv.key = r.key AND NOT EXISTS (SELECT 1 FROM failed)
    ), written AS (
        INSERT INTO ferrid_kv (tree, key, value)
        SELECT * FROM unnest($6::smallint[], $7::bytea[], $8::bytea[]) AS p(tree, key, value)
        WHERE NOT EXISTS (SELECT 1 FROM failed)
        ON CONFLICT (tree, key) DO UPDATE SET value = EXCLUDED.value
    ), appended AS (
        INSERT INTO ferrid_kv (tree, key, value)
        SELECT a.tree, a.prefix || int8send(nextval('ferrid_ids')), a.value
        FROM unnest($9::smallint[], $10::bytea[], $11::bytea[]) AS a(tree, prefix, value)
        WHERE NOT EXISTS (SELECT 1 FROM failed)
    ), announced AS (
        SELECT pg_notify(n.channel, '') FROM unnest($12::text[]) AS n(channel)
        WHERE NOT EXISTS (SELECT 1 FROM failed)
    )
    SELECT NOT EXISTS (SELECT 1 FROM failed), (SELECT count(*) FROM announced)";

/// Columns as the statement takes them: trees, keys, and values (for a
/// precondition, None: expected absent).
type Columns<V> = (Vec<i16>, Vec<Vec<u8>>, V);

/// A batch's preconditions, and the last write to each key (a statement
/// may touch a row once; applied in order, only the last write counts).
#[derive(Default)]
struct Batch {
    expect: Columns<Vec<Option<Vec<u8>>>>,
    remove: Columns<()>,
    put: Columns<Vec<Vec<u8>>>,
    /// Trees, key prefixes and values.
    append: Columns<Vec<Vec<u8>>>,
    /// Channel names, each once.
    announce: Vec<String>,
}

impl Batch {
    fn of(ops: Vec<Op>) -> Batch {
        let mut batch = Batch::default();
        let mut last: std::collections::HashMap<(i16, Vec<u8>), Option<Vec<u8>>> = std::collections::HashMap::new();
        let mut order = Vec::new();
        for op in ops {
            match op {
                Op::Expect(tree, key, value) => {
                    batch.expect.0.push(tree_id(tree));
                    batch.expect.1.push(key);
                    batch.expect.2.push(value);
                }
                Op::Put(tree, key, value) => {
                    let id = (tree_id(tree), key);
                    if last.insert(id.clone(), Some(value)).is_none() {
                        order.push(id);
                    }
                }
                Op::Remove(tree, key) => {
                    let id = (tree_id(tree), key);
                    if last.insert(id.clone(), None).is_none() {
                        order.push(id);
                    }
                }
                Op::Append(tree, prefix, value) => {
                    batch.append.0.push(tree_id(tree));
                    batch.append.1.push(prefix);
                    batch.append.2.push(value);
                }
                Op::Announce(channel) => {
                    if !batch.announce.iter().any(|c| c == channel.name()) {
                        batch.announce.push(channel.name().to_owned());
                    }
                }
            }
        }
        for id in order {
            match last.remove(&id).flatten() {
                Some(value) => {
                    batch.put.0.push(id.0);
                    batch.put.1.push(id.1);
                    batch.put.2.push(value);
                }
                None => {
                    batch.remove.0.push(id.0);
                    batch.remove.1.push(id.1);
                }
            }
        }
        batch
    }
}

/// One attempt at a batch: BEGIN, the statement and COMMIT pipelined (sent
/// together, one round trip). False when a precondition failed.
async fn apply_once(
    client: &tokio_postgres::Client,
    statement: &tokio_postgres::Statement,
    batch: &Batch,
    begin_also: &str,
) -> Result<bool, tokio_postgres::Error> {
    let (e, r, p, a) = (&batch.expect, &batch.remove, &batch.put, &batch.append);
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 12] =
        [&e.0, &e.1, &e.2, &r.0, &r.1, &p.0, &p.1, &p.2, &a.0, &a.1, &a.2, &batch.announce];
    // Polled in this order, so sent in this order. If the statement fails,
    // PostgreSQL answers the COMMIT of the aborted transaction with a
    // rollback: the connection is idle again either way.
    // Index lookups only: a sequential scan (which the planner picks for a
    // small table) takes a predicate lock on the whole table, and then
    // every concurrent batch conflicts with every other.
    let (begun, outcome, committed) = futures_util::future::join3(
        client
            .batch_execute(&format!("BEGIN ISOLATION LEVEL SERIALIZABLE; SET LOCAL enable_seqscan = off{begin_also}")),
        client.query_one(statement, &params),
        client.batch_execute("COMMIT"),
    )
    .await;
    begun?;
    let held: bool = outcome?.get(0);
    committed?;
    Ok(held)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The log position `sql` (a function of PostgreSQL's) names, and
    /// whether the log is flushed at least that far.
    fn position(backend: &PostgresBackend, sql: &'static str) -> String {
        backend
            .run(move |pool| async move {
                let client = pool.get().await.map_err(pool_error)?;
                Ok(client.query_one(sql, &[]).await.map_err(db)?.get::<_, String>(0))
            })
            .unwrap()
    }

    fn flushed_to(backend: &PostgresBackend, lsn: String) -> bool {
        backend
            .run(move |pool| async move {
                let client = pool.get().await.map_err(pool_error)?;
                let row = client
                    .query_one("SELECT pg_current_wal_flush_lsn() >= $1::text::pg_lsn", &[&lsn])
                    .await
                    .map_err(db)?;
                Ok(row.get::<_, bool>(0))
            })
            .unwrap()
    }

    /// A single write does not wait for the disk; `make_durable` does, for
    /// it: PostgreSQL's log is flushed past it when it returns. The log
    /// writer is told to wait 10 s, so only the flush can have done it.
    #[test]
    fn make_durable_flushes_the_log_past_the_threads_single_writes() {
        if !super::super::postgres_server::wanted() {
            return;
        }
        let server =
            super::super::postgres_server::OwnServer(super::super::postgres_server::PostgresServer::start(false));
        let backend = PostgresBackend::connect(server.0.new_database().parse().unwrap()).unwrap();
        backend
            .run(|pool| async move {
                let client = pool.get().await.map_err(pool_error)?;
                client.batch_execute("ALTER SYSTEM SET wal_writer_delay = '10s'").await.map_err(db)?;
                client.batch_execute("SELECT pg_reload_conf()").await.map_err(db)
            })
            .unwrap();
        std::thread::sleep(Duration::from_millis(300)); // the reload reaches the log writer
        let sql = "SELECT pg_current_wal_insert_lsn()::text";
        for round in 0..3 {
            backend.put(Tree::Consents, format!("k{round}").as_bytes(), b"v").unwrap();
            let written = position(&backend, sql);
            backend.make_durable().unwrap();
            assert!(flushed_to(&backend, written), "round {round}: make_durable flushed past it");
        }
    }

    #[test]
    fn a_batch_keeps_its_preconditions_and_the_last_write_to_each_key() {
        let k = |s: &str| s.as_bytes().to_vec();
        let batch = Batch::of(vec![
            Op::Expect(Tree::Codes, k("c"), None),
            Op::Put(Tree::Codes, k("a"), k("1")),
            Op::Remove(Tree::Codes, k("a")),
            Op::Remove(Tree::Users, k("b")),
            Op::Put(Tree::Users, k("b"), k("2")),
            Op::Put(Tree::Users, k("b"), k("3")),
            Op::Append(Tree::Audit, k("t"), k("e")),
            Op::Announce(Channel::Catalog),
            Op::Announce(Channel::Catalog),
        ]);
        assert_eq!((batch.append.1, batch.append.2), (vec![k("t")], vec![k("e")]));
        assert_eq!(batch.announce, ["ferrid_catalog"], "once");
        assert_eq!(batch.expect.1, [k("c")]);
        assert_eq!(batch.expect.2, [None]);
        assert_eq!((batch.remove.0, batch.remove.1), (vec![tree_id(Tree::Codes)], vec![k("a")]), "put, then removed");
        assert_eq!((batch.put.1, batch.put.2), (vec![k("b")], vec![k("3")]), "removed, then written twice");
    }
}
