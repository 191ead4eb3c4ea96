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
    let restored = crate::backup::restore(&backup, &config.data_dir, &config.keys_dir).map_err(|e| e.to_string())?;
    println!(
        "restored {} users and {} applications into {}; {} key files written to {}",
        restored.users,
        restored.apps,
        config.data_dir.display(),
        restored.keys_written,
        config.keys_dir.display()
    );
    Ok(())
}
