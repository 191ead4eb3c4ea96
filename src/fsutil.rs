//! Small filesystem helpers. Everything ferrid writes holds secrets or
//! their hashes, so files are 0600 and directories 0700 whatever the umask.

use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

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

/// Keeps `dir`, a folder ferrid keeps its own files in, closed to other
/// users: when this process owns it, the group's and others' bits are
/// taken away (0755 becomes 0700; nothing is ever added), as ferrid makes
/// its files 0600. A folder someone else owns (a shared one, say) is left
/// as it is, with a warning if others may enter it.
pub fn keep_private(dir: &Path, what: &str) {
    let Ok(meta) = std::fs::metadata(dir) else { return };
    let mode = meta.mode() & 0o7777;
    if mode & 0o077 == 0 {
        return;
    }
    let closed = mode & !0o077;
    if meta.uid() == effective_uid() {
        match std::fs::set_permissions(dir, std::fs::Permissions::from_mode(closed)) {
            Ok(()) => {
                tracing::info!(dir = %dir.display(), "made {what} private: mode {mode:o} is now {closed:o}");
                return;
            }
            Err(e) => tracing::warn!(dir = %dir.display(), "cannot make {what} private: {e}"),
        }
    }
    tracing::warn!(
        dir = %dir.display(),
        mode = format!("{mode:o}"),
        "{what} {} can be entered by other users (mode {mode:o}); ferrid keeps its own files 0600, but \
         `chmod 700 {}` keeps others from even listing it",
        dir.display(),
        dir.display()
    );
}

/// A folder or file ferrid needs and may not use. Its message names the
/// path, the user ferrid runs as and the command that fixes it: a data
/// dir given to the wrong user must not read as a damaged one, and the
/// advice must never be to throw the data away.
#[derive(Debug)]
pub struct Inaccessible {
    /// The folder the fix applies to (recursively).
    root: PathBuf,
    /// What ferrid may not use: `root` or something in it.
    path: PathBuf,
    /// "the data dir", "the keys dir".
    what: &'static str,
    /// Its owner (uid) and mode, unless even that could not be read.
    found: Option<(u32, u32)>,
}

/// What a permission problem is not: the data is still there.
const NOT_DAMAGED: &str = "This is a matter of permissions, not damage: nothing was changed.";

impl std::fmt::Display for Inaccessible {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let me = effective_uid();
        write!(
            f,
            "{} {} is not usable by {}, the user ferrid runs as: ",
            self.what,
            self.root.display(),
            describe_user(me)
        )?;
        let Some((owner, mode)) = self.found else {
            return write!(
                f,
                "a folder above it does not let that user in. {NOT_DAMAGED} `namei -l {}` shows the owner and \
                 mode of each folder on the way",
                shell_quoted(&self.path)
            );
        };
        if self.path == self.root {
            write!(f, "the folder itself")?;
        } else {
            write!(f, "{}", self.path.display())?;
        }
        let root = shell_quoted(&self.root);
        write!(f, " is owned by {}, mode {mode:o}. {NOT_DAMAGED} ", describe_user(owner))?;
        match (owner != me, user_name(me)) {
            (true, Some(name)) => {
                write!(f, "To fix it, as root: `chown -R {name} {root}` (or run ferrid as {})", describe_user(owner))
            }
            (true, None) => write!(f, "To fix it, as root: `chown -R {me} {root}`"),
            (false, _) => write!(f, "To fix it: `chmod -R u+rwX {root}`"),
        }
    }
}

impl std::error::Error for Inaccessible {}

/// Checks that this process may use `root` (read, write and enter it) and
/// everything in each of its `subtrees` (folders the same, files read and
/// write). Other files in `root` are not ferrid's and are not looked at.
pub fn check_access(root: &Path, what: &'static str, subtrees: &[&str]) -> Result<(), Inaccessible> {
    let problem = |path: &Path, found| Inaccessible { root: root.to_owned(), path: path.to_owned(), what, found };
    check_one(root).map_err(|found| problem(root, found))?;
    for sub in subtrees {
        check_tree(&root.join(sub)).map_err(|(path, found)| problem(&path, found))?;
    }
    Ok(())
}

type Denied = Option<(u32, u32)>;

/// Ok if `path` is usable or absent (ferrid will make it); otherwise its
/// owner and mode, if they can be read.
fn check_one(path: &Path) -> Result<(), Denied> {
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => return Err(None),
    };
    let how = if meta.is_dir() { libc::R_OK | libc::W_OK | libc::X_OK } else { libc::R_OK | libc::W_OK };
    if may(path, how) { Ok(()) } else { Err(Some((meta.uid(), meta.mode() & 0o7777))) }
}

fn check_tree(path: &Path) -> Result<(), (PathBuf, Denied)> {
    check_one(path).map_err(|found| (path.to_owned(), found))?;
    if path.is_dir() {
        let entries = std::fs::read_dir(path).map_err(|_| (path.to_owned(), None))?;
        for entry in entries.flatten() {
            check_tree(&entry.path())?;
        }
    }
    Ok(())
}

/// Whether this process, as its effective user and groups, may use `path`
/// as `how` says (`R_OK | W_OK…`). Asked of the kernel rather than worked
/// out from mode bits, so root, groups and ACLs count as they do for real.
fn may(path: &Path, how: libc::c_int) -> bool {
    use std::os::unix::ffi::OsStrExt;
    let Ok(c_path) = std::ffi::CString::new(path.as_os_str().as_bytes()) else { return false };
    // SAFETY: c_path is a valid NUL-terminated string that outlives the call;
    // faccessat only reads it.
    unsafe { libc::faccessat(libc::AT_FDCWD, c_path.as_ptr(), how, libc::AT_EACCESS) == 0 }
}

pub fn effective_uid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// `nobody (uid 65534)`, or `uid 65534` for a uid the system cannot name.
pub fn describe_user(uid: u32) -> String {
    match user_name(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

/// The user's name from the password database (NSS: files, LDAP…).
fn user_name(uid: u32) -> Option<String> {
    let mut buffer = vec![0 as libc::c_char; 16 * 1024];
    // SAFETY: passwd is plain data (integers and pointers); all zero is a
    // valid value, overwritten by getpwuid_r before it is read.
    let mut entry: libc::passwd = unsafe { std::mem::zeroed() };
    let mut found: *mut libc::passwd = std::ptr::null_mut();
    // SAFETY: every pointer is to a live local of the right type, and the
    // buffer's length is passed with it; getpwuid_r writes only within them.
    let status = unsafe { libc::getpwuid_r(uid, &mut entry, buffer.as_mut_ptr(), buffer.len(), &mut found) };
    if status != 0 || found.is_null() || entry.pw_name.is_null() {
        return None;
    }
    // SAFETY: on success pw_name points to a NUL-terminated string inside
    // `buffer`, which is still alive here.
    let name = unsafe { std::ffi::CStr::from_ptr(entry.pw_name) };
    Some(name.to_string_lossy().into_owned())
}

/// `path` as a shell word: quoted when it holds anything but the usual
/// path characters, so a pasted command does what it says.
fn shell_quoted(path: &Path) -> String {
    let text = path.display().to_string();
    if text.chars().all(|c| c.is_ascii_alphanumeric() || "/._-+@%:,".contains(c)) {
        text
    } else {
        format!("'{}'", text.replace('\'', "'\\''"))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_in_advice_are_quoted_for_the_shell_when_they_need_it() {
        assert_eq!(shell_quoted(Path::new("/var/lib/ferrid/data")), "/var/lib/ferrid/data");
        assert_eq!(shell_quoted(Path::new("/srv/my data/it's")), r"'/srv/my data/it'\''s'");
    }

    #[test]
    fn a_folder_owned_by_another_user_is_given_back_with_chown_one_of_ours_with_chmod() {
        let me = effective_uid();
        let root = PathBuf::from("/srv/ferrid data");
        let other = Inaccessible {
            root: root.clone(),
            path: root.join("db"),
            what: "the data dir",
            found: Some((me + 1, 0o700)),
        };
        let text = other.to_string();
        assert!(text.starts_with("the data dir /srv/ferrid data is not usable by "), "{text}");
        assert!(text.contains("/srv/ferrid data/db is owned by ") && text.contains("mode 700"), "{text}");
        assert!(text.contains("chown -R ") && text.contains("'/srv/ferrid data'"), "{text}");
        let ours =
            Inaccessible { root: root.clone(), path: root.clone(), what: "the data dir", found: Some((me, 0o500)) };
        let text = ours.to_string();
        assert!(text.contains("the folder itself is owned by") && text.contains("chmod -R u+rwX '/srv/ferrid data'"));
        let unreachable = Inaccessible { root: root.clone(), path: root, what: "the data dir", found: None };
        assert!(unreachable.to_string().contains("namei -l '/srv/ferrid data'"));
    }
}
