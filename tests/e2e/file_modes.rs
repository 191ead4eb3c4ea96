//! Files ferrid writes are private (0600) whatever the umask, the folders
//! it owns are made private (0700), and a data or keys dir it may not use
//! is reported as a permission problem with its fix, never as damage.

use crate::helpers::*;
use std::os::unix::fs::PermissionsExt;

/// Every file and directory under `dir`, with its permission bits.
fn modes(dir: &std::path::Path) -> Vec<(std::path::PathBuf, u32)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        found.push((path.clone(), std::fs::metadata(&path).unwrap().permissions().mode() & 0o777));
        if path.is_dir() {
            found.extend(modes(&path));
        }
    }
    found
}

#[test]
fn under_umask_022_every_file_is_0600_and_open_data_and_keys_dirs_ferrid_owns_become_0700() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    // As a checkout ships `keys/` (and as a hand-made data dir may be): 0755, a README 0644 inside.
    for folder in [&data, &keys] {
        std::fs::create_dir(folder).unwrap();
        std::fs::set_permissions(folder, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    std::fs::write(keys.join("README.md"), "# keys/\n").unwrap();
    let log = dir.path().join("ferrid.log");
    // The shell sets a loose umask; ferrid must not inherit it for its files.
    let child = std::process::Command::new("sh")
        .args(["-c", "umask 022 && exec \"$0\" --config \"$1\" serve", env!("CARGO_BIN_EXE_ferrid")])
        .arg(&config)
        .env("FERRID_LOG", "info")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let mut server = crate::binary::await_server(child);
    // A sign-in's worth of writes, then a clean stop (sled flushes and snapshots).
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let response = rt.block_on(crate::binary::client_credentials(&server.base, "web", WEB_SECRET));
    assert_eq!(response.status(), 200);
    let _ = std::process::Command::new("kill").arg(server.child.id().to_string()).status();
    server.child.wait().unwrap();

    let files = modes(&data);
    assert!(files.iter().any(|(p, _)| p.ends_with("db/db")), "{files:?}");
    let made = modes(&data).into_iter().chain(modes(&keys)).filter(|(p, _)| !p.ends_with("README.md"));
    for (path, mode) in made {
        let private = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, private, "{} is {mode:o}", path.display());
    }
    for folder in [&data, &keys] {
        let mode = std::fs::metadata(folder).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700, "{} is {mode:o}", folder.display());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("made the data dir private: mode 755 is now 700"), "{text}");
    assert!(text.contains("made the keys dir private: mode 755 is now 700"), "{text}");
    assert!(!text.contains("can be entered by other users"), "no warning at every start: {text}");
}

#[test]
fn an_open_data_dir_someone_else_owns_is_left_as_it_is_with_a_warning() {
    if !is_root() {
        eprintln!("skipped: only root can give a folder to another user (tests run as uid {})", uid());
        return;
    }
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::os::unix::fs::chown(&data, Some(65534), None).unwrap();
    let log = dir.path().join("ferrid.log");
    let server = crate::binary::serve_logging(&config, Some(&log), &[]);
    drop(server);
    assert_eq!(std::fs::metadata(&data).unwrap().permissions().mode() & 0o777, 0o777, "not ferrid's to change");
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("can be entered by other users") && text.contains("chmod 700"), "{text}");
}

fn is_root() -> bool {
    uid() == 0
}

fn uid() -> u32 {
    std::fs::metadata("/proc/self").map(|m| std::os::unix::fs::MetadataExt::uid(&m)).unwrap_or(u32::MAX)
}

/// How to run ferrid as a user mode bits apply to. Root ignores them, so
/// when the tests run as root, ferrid runs as `nobody` (through setpriv,
/// which execs, so killing the child kills ferrid); otherwise as the
/// user running the tests.
struct Unprivileged {
    /// The user's name, as ferrid's messages give it, and uid.
    name: String,
    uid: u32,
    /// Through setpriv (as root), or directly.
    setpriv: Option<Vec<String>>,
}

impl Unprivileged {
    /// Err says why ferrid cannot be run as such a user here.
    fn find() -> Result<Unprivileged, String> {
        if !is_root() {
            let name = output_of(std::process::Command::new("id").arg("-un"))?;
            return Ok(Unprivileged { name, uid: uid(), setpriv: None });
        }
        let id = |flag: &str| output_of(std::process::Command::new("id").args([flag, "nobody"]));
        let (uid, gid) = (id("-u")?, id("-g")?);
        let setpriv = ["--reuid=nobody", &format!("--regid={gid}"), "--clear-groups"].map(str::to_owned).to_vec();
        let uid = uid.parse().map_err(|e| format!("uid {uid}: {e}"))?;
        let found = Unprivileged { name: "nobody".into(), uid, setpriv: Some(setpriv) };
        // nobody must be able to run the binary where it was built.
        output_of(found.ferrid().arg("--version"))?;
        Ok(found)
    }

    fn ferrid(&self) -> std::process::Command {
        let bin = env!("CARGO_BIN_EXE_ferrid");
        let mut command = match &self.setpriv {
            Some(args) => {
                let mut command = std::process::Command::new("setpriv");
                command.args(args).arg("--").arg(bin);
                command
            }
            None => std::process::Command::new(bin),
        };
        command.env_remove("FERRID_PUBLIC_URL").env_remove("FERRID_LISTEN").env("FERRID_LOG", "warn");
        command
    }

    /// `ferrid serve`, which must refuse to start: its stderr.
    fn refused_start(&self, config: &std::path::Path) -> String {
        let mut child = self
            .ferrid()
            .arg("--config")
            .arg(config)
            .arg("serve")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while child.try_wait().unwrap().is_none() {
            if std::time::Instant::now() > deadline {
                let _ = child.kill();
                panic!("ferrid started on a folder it may not use");
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        let out = child.wait_with_output().unwrap();
        assert!(!out.status.success());
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}

fn output_of(command: &mut std::process::Command) -> Result<String, String> {
    let out = command.output().map_err(|e| format!("{command:?}: {e}"))?;
    if !out.status.success() {
        return Err(format!("{command:?}: {}", String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// Sets the mode of `path` and of everything under it that `pick` chooses.
fn set_modes(path: &std::path::Path, mode: u32, pick: fn(&std::path::Path) -> bool) {
    if pick(path) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            set_modes(&entry.unwrap().path(), mode, pick);
        }
    }
}

/// Gives `path` and everything under it to `uid` (as root).
fn chown_tree(path: &std::path::Path, uid: u32) {
    std::os::unix::fs::chown(path, Some(uid), None).unwrap();
    if path.is_dir() {
        for entry in std::fs::read_dir(path).unwrap() {
            chown_tree(&entry.unwrap().path(), uid);
        }
    }
}

/// The message names the user and the fix, and never calls the data damaged.
fn assert_permission_advice(stderr: &str, names: &str, fix: &str) {
    assert_eq!(stderr.lines().filter(|l| l.starts_with("ferrid:")).count(), 1, "{stderr}");
    assert!(stderr.contains(names), "should name {names}: {stderr}");
    assert!(stderr.contains(fix), "should say {fix}: {stderr}");
    assert!(stderr.contains("a matter of permissions, not damage"), "{stderr}");
    for discard in ["damaged", "backup", "move it away", "restore", "afresh"] {
        assert!(!stderr.contains(discard), "suggests {discard:?}: {stderr}");
    }
}

#[test]
fn a_data_dir_ferrid_may_not_use_is_a_permission_problem_with_its_fix_never_damage() {
    let who = match Unprivileged::find() {
        Ok(who) => who,
        Err(why) => {
            eprintln!("skipped: cannot run ferrid as a user that file modes apply to: {why}");
            return;
        }
    };
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let (data, keys) = (dir.path().join("data"), dir.path().join("keys"));
    // The user must reach the config and own the folders; the first start fills them.
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    for folder in [&data, &keys] {
        std::fs::create_dir(folder).unwrap();
        chown_tree(folder, who.uid);
    }
    let first = who.ferrid().arg("--config").arg(&config).arg("serve").stdout(std::process::Stdio::piped()).spawn();
    drop(crate::binary::await_server(first.unwrap()));
    let user = format!("{} (uid ", who.name);
    let data_text = data.display().to_string();
    let is_dir = |p: &std::path::Path| p.is_dir();
    let is_file = |p: &std::path::Path| p.is_file();

    // Mode 0500 on the data dir (its owner may not write in it).
    set_modes(&data, 0o500, |p| p.ends_with("data"));
    let stderr = who.refused_start(&config);
    assert_permission_advice(&stderr, &data_text, &format!("chmod -R u+rwX {data_text}"));
    assert!(stderr.contains(&user) && stderr.contains("mode 500"), "{stderr}");
    set_modes(&data, 0o700, is_dir);

    // The database's files 0400.
    set_modes(&data, 0o400, is_file);
    let stderr = who.refused_start(&config);
    assert_permission_advice(&stderr, &format!("{data_text}/db/"), &format!("chmod -R u+rwX {data_text}"));
    assert!(stderr.contains(&user) && stderr.contains("mode 400"), "{stderr}");
    set_modes(&data, 0o600, is_file);

    // Another owner: the data dir, then the keys dir (made by root, say).
    if who.setpriv.is_some() {
        for (folder, what) in [(&data, "the data dir"), (&keys, "the keys dir")] {
            chown_tree(folder, 0);
            let stderr = who.refused_start(&config);
            let folder_text = folder.display().to_string();
            let fix = format!("chown -R nobody {folder_text}");
            assert_permission_advice(&stderr, &format!("{what} {folder_text}"), &fix);
            assert!(stderr.contains("owned by root (uid 0)") && stderr.contains(&user), "{stderr}");
            chown_tree(folder, who.uid);
        }
    } else {
        eprintln!("part skipped: only root can give the data dir to another user (tests run as {})", who.name);
    }

    // Put right as the messages said, ferrid starts on the same data.
    let out = who.ferrid().arg("--config").arg(&config).args(["user", "list"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("admin"), "the first start's administrator is still there");
}
