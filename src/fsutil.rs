//! Small filesystem helpers. Everything ferrid writes holds secrets or
//! their hashes, so files are 0600 and directories 0700 whatever the umask.

use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::Path;

/// Makes files this process creates from now on private (0600 / 0700),
/// including those a library creates (sled's snapshots and blobs). Called
/// once, first thing in `main`, before any thread starts.
pub fn private_umask() {
    // SAFETY: umask only swaps the process's file mode mask; it cannot fail
    // and touches no memory.
    unsafe {
        libc::umask(0o077);
    }
}

/// A command whose output goes to a pipe that closes (`ferrid audit |
/// head`) ends quietly, as Unix tools do, instead of panicking on the
/// write. Rust ignores SIGPIPE by default, which `serve` needs (a client
/// that hangs up must not kill the server), so only the CLI's other
/// commands call this.
pub fn default_sigpipe() {
    // SAFETY: restores the default disposition of one signal; no memory is touched.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Warns when others may read `dir` (an existing directory ferrid did not
/// create, e.g. made with mode 0755 by hand or a package).
pub fn warn_if_open(dir: &Path, what: &str) {
    if let Ok(meta) = std::fs::metadata(dir) {
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            tracing::warn!(
                dir = %dir.display(),
                mode = format!("{mode:o}"),
                "{what} {} can be entered by other users (mode {mode:o}); ferrid keeps its own files 0600, but \
                 `chmod 700 {}` keeps others from even listing it",
                dir.display(),
                dir.display()
            );
        }
    }
}

/// Sets `dir` and the directories under it to 0700 and the files to 0600:
/// what an older ferrid, or a library under a loose umask, made 0755/0644.
pub fn restrict_tree(dir: &Path) -> std::io::Result<()> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        if kind.is_dir() {
            restrict_tree(&entry.path())?;
        } else if kind.is_file() {
            std::fs::set_permissions(entry.path(), std::fs::Permissions::from_mode(0o600))?;
        }
    }
    Ok(())
}

/// Creates `dir` (and parents) with mode 0700 if it does not exist. An
/// existing directory is left as it is: it may be shared on purpose.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Writes a file that must not exist yet, with `mode`, and makes it and its
/// directory entry durable before returning.
pub fn write_new_file(path: &Path, bytes: &[u8], mode: u32) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(path)?;
    // Exactly `mode`: the umask narrows the mode given at creation.
    file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::File::open(dir)?.sync_all()
}
