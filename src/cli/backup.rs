//! `backup` and `restore`: the store and signing keys to one file and back.

use super::shared::dispatch;
use crate::admin::AdminCommand;
use crate::config::Config;

pub(super) fn backup(config: &Config, file: &std::path::Path) -> Result<(), String> {
    if file.exists() {
        return Err(format!("{} exists; choose a new file name (nothing was written)", file.display()));
    }
    let value = dispatch(config, AdminCommand::Backup)?;
    let backup: crate::backup::Backup = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let bytes = crate::backup::encode(&backup);
    crate::fsutil::write_new_file(file, &bytes, 0o600).map_err(|e| format!("{}: {e}", file.display()))?;
    println!("wrote {} ({} bytes)", file.display(), bytes.len());
    Ok(())
}

pub(super) fn restore(config: &Config, file: &std::path::Path) -> Result<(), String> {
    let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
    let backup = crate::backup::decode(&bytes).map_err(|e| format!("{}: {e}", file.display()))?;
    // Into the store config.yaml names: a new sled database in data_dir, or
    // an empty PostgreSQL database (no round trip through sled).
    let (target, named) = match &config.store {
        crate::config::StoreChoice::Postgres(pg) => {
            let store = crate::store::Store::open_postgres((**pg).clone()).map_err(|e| e.to_string())?;
            (Some(store), "the PostgreSQL database".to_owned())
        }
        crate::config::StoreChoice::Sled { .. } => (None, config.data_dir.display().to_string()),
    };
    let restored = crate::backup::restore(&backup, &config.data_dir, &config.keys_dir, target.as_ref())
        .map_err(|e| e.to_string())?;
    println!(
        "restored {} users and {} applications into {named}; {} key files written to {}",
        restored.users,
        restored.apps,
        restored.keys_written,
        config.keys_dir.display()
    );
    Ok(())
}
