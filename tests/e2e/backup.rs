//! `ferrid backup` while the server runs, `ferrid restore` into an empty
//! data dir, and the server on the restored data.

use crate::binary::*;
use crate::helpers::*;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

fn cli(config: &Path, args: &[&str]) -> std::process::Output {
    ferrid().arg("--config").arg(config).args(args).output().unwrap()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn a_backup_taken_while_serving_restores_users_apps_keys_and_tokens() {
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = serve(&config);
    let base = server.base.clone();

    let add = run_with_stdin(ferrid().arg("--config").arg(&config).args(["user", "add", "erin"]), "erin-pass-1234\n");
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    stdout(&cli(&config, &["app", "add", "grafana", "--redirect-uri", "https://grafana.lan/login/generic_oauth"]));
    let pat = stdout(&cli(&config, &["token", "create", "--user", "erin", "--app", "web"])).trim().to_owned();
    let access_token = rt.block_on(async {
        let response = client_credentials(&base, "web", WEB_SECRET).await;
        response.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    });

    let file = dir.path().join("ferrid.backup");
    stdout(&cli(&config, &["backup", file.to_str().unwrap()]));
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert!(!cli(&config, &["backup", file.to_str().unwrap()]).status.success(), "never overwrites");
    // Made after the backup: must not come back.
    let late = run_with_stdin(ferrid().arg("--config").arg(&config).args(["user", "add", "late"]), "late-pass-1234\n");
    assert!(late.status.success());
    drop(server);

    // A damaged backup is refused before anything is written.
    let (restored_data, restored_keys) = (dir.path().join("restored-data"), dir.path().join("restored-keys"));
    let yaml = std::fs::read_to_string(&config).unwrap();
    let restored_yaml = yaml
        .replace(&dir.path().join("data").display().to_string(), &restored_data.display().to_string())
        .replace(&dir.path().join("keys").display().to_string(), &restored_keys.display().to_string());
    assert_ne!(yaml, restored_yaml);
    let restored_config = dir.path().join("restored.yaml");
    std::fs::write(&restored_config, restored_yaml).unwrap();
    let mut damaged = std::fs::read(&file).unwrap();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    let damaged_file = dir.path().join("damaged.backup");
    std::fs::write(&damaged_file, &damaged).unwrap();
    let refused = cli(&restored_config, &["restore", damaged_file.to_str().unwrap()]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("checksum"));
    assert!(!restored_data.exists() && !restored_keys.exists(), "nothing written for a damaged backup");

    let restored = stdout(&cli(&restored_config, &["restore", file.to_str().unwrap()]));
    assert!(restored.contains("restored 2 users and"), "{restored}");
    let again = cli(&restored_config, &["restore", file.to_str().unwrap()]);
    assert!(!again.status.success(), "restore needs an empty data dir");
    assert!(String::from_utf8_lossy(&again.stderr).contains("already holds a database"));

    // On another port: the issuer is public_url's, so earlier tokens still verify.
    let server = serve(&restored_config);
    let base = server.base.clone();
    let users = stdout(&cli(&restored_config, &["user", "list"]));
    assert!(users.contains("erin") && users.contains("admin") && !users.contains("late"), "{users}");
    assert!(stdout(&cli(&restored_config, &["app", "list"])).contains("grafana"));
    rt.block_on(async {
        let pat_state = introspect_as_web(&base, &pat).await;
        assert_eq!(pat_state["active"], true, "the PAT handed out before the backup works: {pat_state}");
        assert_eq!(pat_state["username"], "erin");
        let jwt_state = introspect_as_web(&base, &access_token).await;
        assert_eq!(jwt_state["active"], true, "a JWT signed before the backup verifies: {jwt_state}");
    });
}

#[test]
fn a_sled_backup_restores_straight_into_postgresql_and_its_tokens_still_work() {
    use crate::helpers::postgres_server::{OwnServer, PostgresServer};
    let BinaryConfig { dir, path: config, .. } = binary_config(None, |yaml| yaml);
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let server = serve(&config);
    let add = run_with_stdin(ferrid().arg("--config").arg(&config).args(["user", "add", "erin"]), "erin-pass-1234\n");
    assert!(add.status.success(), "{}", String::from_utf8_lossy(&add.stderr));
    let pat = stdout(&cli(&config, &["token", "create", "--user", "erin", "--app", "web"])).trim().to_owned();
    let access_token = rt.block_on(async {
        let response = client_credentials(&server.base, "web", WEB_SECRET).await;
        response.json::<serde_json::Value>().await.unwrap()["access_token"].as_str().unwrap().to_owned()
    });
    let file = dir.path().join("ferrid.backup");
    stdout(&cli(&config, &["backup", file.to_str().unwrap()]));
    drop(server);

    // The same config, on an empty PostgreSQL database and new key folder.
    let database = OwnServer(PostgresServer::start(false));
    let url = database.0.new_database();
    let restored_keys = dir.path().join("pg-keys");
    let yaml: String = std::fs::read_to_string(&config)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("store:"))
        .map(|l| format!("{l}\n"))
        .collect();
    let yaml = yaml.replace(&dir.path().join("keys").display().to_string(), &restored_keys.display().to_string());
    let pg_config = dir.path().join("pg.yaml");
    std::fs::write(&pg_config, format!("{yaml}store: {{ postgres: \"{url}\" }}\n")).unwrap();
    let restored = stdout(&cli(&pg_config, &["restore", file.to_str().unwrap()]));
    assert!(
        restored.contains("restored 2 users and") && restored.contains("into the PostgreSQL database"),
        "{restored}"
    );
    let again = cli(&pg_config, &["restore", file.to_str().unwrap()]);
    assert!(!again.status.success(), "only into an empty database");
    assert!(
        String::from_utf8_lossy(&again.stderr).contains("already holds records"),
        "{}",
        String::from_utf8_lossy(&again.stderr)
    );

    let server = serve(&pg_config);
    assert!(stdout(&cli(&pg_config, &["user", "list"])).contains("erin"));
    rt.block_on(async {
        assert_eq!(introspect_as_web(&server.base, &pat).await["active"], true, "the PAT from before");
        assert_eq!(introspect_as_web(&server.base, &access_token).await["active"], true, "a JWT from before");
    });
}
