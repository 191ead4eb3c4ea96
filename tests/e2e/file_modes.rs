//! Files ferrid writes are private (0600) whatever the umask, and a data
//! dir others can enter is named in a warning.

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
fn under_umask_022_in_an_open_data_dir_every_file_is_0600_and_the_dir_is_named_in_a_warning() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).unwrap();
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
    for (path, mode) in modes(&data).into_iter().chain(modes(&dir.path().join("keys"))) {
        let private = if path.is_dir() { 0o700 } else { 0o600 };
        assert_eq!(mode, private, "{} is {mode:o}", path.display());
    }
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("the data dir") && text.contains("chmod 700"), "{text}");
}
