//! `serve` while a command holds the database: it waits, it does not fail.

use crate::binary::ferrid;
use crate::helpers::*;

#[test]
fn serve_waits_for_a_command_that_holds_the_database_instead_of_failing() {
    let crate::helpers::BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    // This process holds the database, as a CLI command run meanwhile would.
    let held = ferrid::store::Store::open(&dir.path().join("data")).unwrap();
    let log = dir.path().join("ferrid.log");
    let mut child = ferrid()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(std::process::Stdio::piped())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !std::fs::read_to_string(&log).unwrap_or_default().contains("waiting up to") {
        assert!(std::time::Instant::now() < deadline, "no waiting line: {}", std::fs::read_to_string(&log).unwrap());
        assert!(child.try_wait().unwrap().is_none(), "serve gave up: {}", std::fs::read_to_string(&log).unwrap());
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    drop(held);
    // It goes on to listen and answer (await_server panics if it does not).
    let server = crate::binary::await_server(child);
    assert!(crate::binary::blocking_get(&server.url("/healthz")).is_some());
}
