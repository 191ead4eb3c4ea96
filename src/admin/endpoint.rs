//! Where the running server's admin API is: its URL and bearer token, in
//! `{data_dir}/admin.json` with mode 0600, so only the user who runs ferrid
//! (and root) can use it. The API itself is `http::admin_api`; the CLI's
//! side of it is `client`.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

pub const ADMIN_FILE: &str = "admin.json";

#[derive(Serialize, Deserialize)]
pub struct AdminEndpoint {
    pub url: String,
    pub token: String,
}

pub fn admin_file(data_dir: &Path) -> PathBuf {
    data_dir.join(ADMIN_FILE)
}

pub fn write_endpoint(data_dir: &Path, endpoint: &AdminEndpoint) -> std::io::Result<()> {
    let path = admin_file(data_dir);
    let _ = std::fs::remove_file(&path);
    crate::fsutil::write_new_file(&path, &serde_json::to_vec(endpoint).unwrap_or_default(), 0o600)
}
