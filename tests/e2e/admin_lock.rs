//! `serve` while a command holds the database: it waits, it does not fail.

use crate::binary::ferrid;
use crate::helpers::*;

#[test]
fn serve_waits_for_a_command_that_holds_the_database_instead_of_failing() {
    let crate::helpers::BinaryConfig { dir, port, public: _, path: config } = binary_config(None, |yaml| yaml);
    // This process holds the database, as a CLI command run meanwhile would.
    let held = ferrid::store::Store::open(&dir.path().join("data")).unwrap();
    let log = dir.path().join("ferrid.log");
    let mut child = ferrid()
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(std::process::Stdio::null())
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
    let discovery = format!("http://127.0.0.1:{port}/application/o/web/.well-known/openid-configuration");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while crate::binary::blocking_get(&discovery).is_none() {
        assert!(child.try_wait().unwrap().is_none(), "serve exited: {}", std::fs::read_to_string(&log).unwrap());
        assert!(std::time::Instant::now() < deadline, "serve did not start after the lock was released");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
}
