//! `migrate`: every record into another, empty store (sled to PostgreSQL,
//! or back).

use crate::config::Config;
use crate::store::Store;
use std::path::PathBuf;

pub(super) fn run(config: &Config, to_postgres: Option<String>, to_sled: Option<PathBuf>) -> Result<(), String> {
    let source = crate::startup::open_store(config)
        .map_err(|e| if e.is_locked() { format!("{e}: stop ferrid before migrating") } else { e.to_string() })?;
    let into_sled = to_sled.is_some();
    let (target, named) = match (to_postgres, to_sled) {
        (Some(url), _) => {
            // The URL and password are read as the config reads them.
            let env = crate::config::ProcessEnv;
            let yaml = format!("store: {{ postgres: {} }}", serde_json::Value::String(url));
            let parsed = Config::from_yaml(&yaml, &env).map_err(|e| format!("--to-postgres: {e}"))?;
            let crate::config::StoreChoice::Postgres(pg) = parsed.store else {
                return Err("--to-postgres: not a PostgreSQL URL".into());
            };
            (Store::open_postgres(*pg).map_err(|e| e.to_string())?, "the PostgreSQL database".to_owned())
        }
        (None, Some(dir)) => {
            if dir.join("db").exists() {
                return Err(format!("{} already holds a database; migrate only into an empty one", dir.display()));
            }
            (Store::open(&dir).map_err(|e| e.to_string())?, dir.display().to_string())
        }
        (None, None) => return Err("give --to-postgres URL or --to-sled DIR".into()),
    };
    let report = source.copy_into(&target).map_err(|e| e.to_string())?;
    let total: usize = report.records.values().sum();
    println!("copied {total} records into {named}; counts and checksum match ({})", report.checksum);
    // Back to sled: its ferrid reads signing keys from files, not the database.
    if into_sled && matches!(config.store, crate::config::StoreChoice::Postgres(_)) {
        let keys = crate::keystore::KeyStore::of(config, &source).map_err(|e| e.to_string())?;
        let written = keys.export_to_files(&config.keys_dir).map_err(|e| e.to_string())?;
        println!("wrote {written} signing key files to {}", config.keys_dir.display());
    }
    for (tree, count) in &report.records {
        println!("  {tree:<16} {count}");
    }
    println!("next: set `store` in config.yaml to the target (docs/scaling.md), then start ferrid");
    Ok(())
}
