//! `ferrid migrate` with the real binary: sled to PostgreSQL and back,
//! each time served by ferrid afterwards, and a full target refused.

use crate::binary::*;
use crate::helpers::*;
use std::process::Command;

fn run(config: &std::path::Path, args: &[&str]) -> std::process::Output {
    ferrid().arg("--config").arg(config).args(args).output().unwrap()
}

fn users(config: &std::path::Path) -> String {
    let out = run(config, &["user", "list"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_sled_store_moves_to_postgresql_and_back_and_is_served_each_time() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    drop(serve(&config)); // first start: the admin user, keys
    let out = run_with_stdin(
        Command::new(env!("CARGO_BIN_EXE_ferrid")).arg("--config").arg(&config).args(["user", "add", "carol"]),
        "carol-password-1\n",
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    // While ferrid runs on sled, migrating is refused: stop it first.
    let server = serve(&config);
    let url = postgres_server::new_database();
    let busy = run(&config, &["migrate", "--to-postgres", &url]);
    assert!(!busy.status.success() && String::from_utf8_lossy(&busy.stderr).contains("stop ferrid before migrating"));
    drop(server);

    let out = run(&config, &["migrate", "--to-postgres", &url]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("counts and checksum match") && said.contains("users"), "{said}");
    let again = run(&config, &["migrate", "--to-postgres", &url]);
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds records"), "a full target is refused");

    // ferrid on PostgreSQL: the same users, served.
    let yaml = std::fs::read_to_string(&config).unwrap();
    let on_postgres = dir.path().join("postgres.yaml");
    std::fs::write(&on_postgres, format!("store: {{ postgres: \"{url}\" }}\n{yaml}")).unwrap();
    let server = serve(&on_postgres);
    assert!(users(&on_postgres).contains("carol"));
    // A key made while on PostgreSQL lives in the database...
    let out = run(&on_postgres, &["keys", "rotate", "--alg", "ES256"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let made_on_postgres = String::from_utf8_lossy(&out.stdout).split_whitespace().nth(3).unwrap().to_owned();
    drop(server);

    // And back to a new sled folder.
    let back = dir.path().join("data-again");
    let out = run(&on_postgres, &["migrate", "--to-sled", back.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let on_sled = dir.path().join("sled.yaml");
    let data_line = yaml.lines().find(|l| l.starts_with("data_dir:")).unwrap();
    std::fs::write(&on_sled, yaml.replace(data_line, &format!("data_dir: {}", back.display()))).unwrap();
    let server = serve(&on_sled);
    let listed = users(&on_sled);
    assert!(listed.contains("carol") && listed.contains("admin"), "{listed}");
    // ...and comes back as a key file.
    let keys = String::from_utf8_lossy(&run(&on_sled, &["keys", "list"]).stdout).into_owned();
    assert!(keys.contains(&made_on_postgres), "{made_on_postgres} in {keys}");
    drop(server);
}
