//! A real PostgreSQL server for the tests: Debian's `postgresql` (installed
//! by scripts/test.sh), set up with `initdb` in a temporary folder and
//! started with `pg_ctl` on a free loopback port, as the unprivileged
//! `postgres` user when the tests run as root. One server per test
//! process, started at first use and stopped when the process exits; each
//! caller gets a database of its own.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

pub struct PostgresServer {
    pub port: u16,
    fsync: bool,
    bin: PathBuf,
    data: PathBuf,
    /// Kept for the server's lifetime (removed after it stops).
    _dir: tempfile::TempDir,
}

static SERVER: OnceLock<PostgresServer> = OnceLock::new();

/// The newest installed server's programs, e.g. /usr/lib/postgresql/15/bin.
fn bin_dir() -> PathBuf {
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL is installed (scripts/test.sh installs Debian's postgresql)")
        .filter_map(|e| e.ok().map(|e| e.path().join("bin")))
        .filter(|bin| bin.join("initdb").exists())
        .collect();
    versions.sort_by_key(|p| p.parent().and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok()).unwrap_or(0));
    versions.pop().expect("an initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `program` from the server's bin dir, as `postgres` when we are root
/// (initdb and the server refuse to run as root).
fn as_server_user(bin: &Path, program: &str) -> Command {
    if is_root() {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(bin.join(program));
        command
    } else {
        Command::new(bin.join(program))
    }
}

fn run(command: &mut Command, what: &str) {
    let out = command.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

extern "C" fn stop_at_exit() {
    if let Some(server) = SERVER.get() {
        server.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        // A static is never dropped, so its TempDir would stay: each run of
        // the suite left one (3.7 GB: every test's database) in /tmp.
        if let Some(dir) = server.data.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

impl PostgresServer {
    /// A server of its own: initdb, then started. With `fsync` off when
    /// only behaviour is tested; on (PostgreSQL's default) for crash tests.
    pub fn start(fsync: bool) -> PostgresServer {
        let bin = bin_dir();
        let dir = tempfile::tempdir().unwrap();
        if is_root() {
            run(Command::new("chown").args(["postgres:postgres"]).arg(dir.path()), "chown the server's folder");
        }
        let data = dir.path().join("data");
        run(
            as_server_user(&bin, "initdb").arg("-D").arg(&data).args([
                "--auth=trust",
                "--username=ferrid",
                "--encoding=UTF8",
                "--no-sync",
            ]),
            "initdb",
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let server = PostgresServer { port, fsync, bin, data, _dir: dir };
        server.start_again();
        server
    }

    fn pg_ctl(&self, args: &[&str]) -> std::process::Output {
        as_server_user(&self.bin, "pg_ctl").arg("-D").arg(&self.data).args(args).output().unwrap()
    }

    /// Starts it (again) on its port.
    pub fn start_again(&self) {
        // After a crash (`stop_immediately`) PostgreSQL syncs its whole data
        // directory before recovery: file by file that took 3 s here, one
        // syncfs(2) 0.3 s, and either makes everything durable. Servers
        // started by one test live until the process ends, each holding its
        // pool's connections and one that listens for catalog changes: a
        // test that starts a server per case (reauth's console actions: over
        // a hundred) needs several hundred.
        let options = format!(
            "-p {} -c listen_addresses=127.0.0.1 -k {} -c fsync={} -c max_connections=1000{}",
            self.port,
            self.data.parent().unwrap().display(),
            if self.fsync { "on" } else { "off" },
            if self.fsync { " -c recovery_init_sync_method=syncfs" } else { "" }
        );
        let log = self.data.parent().unwrap().join("server.log");
        let out = as_server_user(&self.bin, "pg_ctl")
            .arg("-D")
            .arg(&self.data)
            .args(["-o", &options, "-l"])
            .arg(&log)
            .args(["-w", "start"])
            .output()
            .unwrap();
        assert!(out.status.success(), "pg_ctl start: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops it as an administrator would (`-m fast`: open transactions
    /// are rolled back, connections closed).
    pub fn stop(&self) {
        let out = self.pg_ctl(&["stop", "-m", "fast", "-w"]);
        assert!(out.status.success(), "pg_ctl stop: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// Stops it as a crash would (`-m immediate`: no checkpoint, backends
    /// quit at once; the next start replays the WAL).
    pub fn stop_immediately(&self) {
        let out = self.pg_ctl(&["stop", "-m", "immediate", "-w"]);
        assert!(out.status.success(), "pg_ctl stop -m immediate: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// A new, empty database on this server: its URL.
    pub fn new_database(&self) -> String {
        let name = format!("ferrid_{}", uuid::Uuid::new_v4().simple());
        run(
            Command::new(self.bin.join("psql"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", "ferrid", "-d", "postgres", "-q", "-c"])
                .arg(format!("CREATE DATABASE {name}")),
            "CREATE DATABASE",
        );
        format!("postgres://ferrid@127.0.0.1:{}/{name}", self.port)
    }
}

/// A server a test owns (not the shared one) stops when dropped.
pub struct OwnServer(pub PostgresServer);

impl Drop for OwnServer {
    fn drop(&mut self) {
        self.0.pg_ctl(&["stop", "-m", "immediate", "-w"]);
    }
}

fn start() -> PostgresServer {
    // fsync off: these tests are about behaviour; the crash tests start
    // servers of their own with it on.
    let server = PostgresServer::start(false);
    // SAFETY: registering a plain extern "C" fn with no captured state.
    unsafe { libc::atexit(stop_at_exit) };
    server
}

/// A new, empty database on this process's shared server: its URL.
pub fn new_database() -> String {
    SERVER.get_or_init(start).new_database()
}

/// Runs `sql` in the database at `url` (one of `new_database`'s).
pub fn execute(url: &str, sql: &str) {
    let server = SERVER.get().expect("a database was made");
    run(Command::new(server.bin.join("psql")).args(["-q", "-d", url, "-c", sql]), sql);
}

/// Runs `sql` in the database at `url` and returns what it printed
/// (unaligned, tuples only: `1` for `SELECT 1`).
pub fn query(url: &str, sql: &str) -> String {
    let server = SERVER.get().expect("a database was made");
    let out = Command::new(server.bin.join("psql")).args(["-qtA", "-d", url, "-c", sql]).output().unwrap();
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Whether the tests run against PostgreSQL (`FERRID_TEST_STORE=postgres`,
/// as scripts/test.sh runs the API tests a second time) or sled.
pub fn wanted() -> bool {
    std::env::var("FERRID_TEST_STORE").is_ok_and(|v| v == "postgres")
}
