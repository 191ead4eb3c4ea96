//! Small filesystem helpers.

use std::os::unix::fs::DirBuilderExt;
use std::path::Path;

/// Creates `dir` (and parents) with mode 0700 if it does not exist. An
/// existing directory is left as it is: it may be shared on purpose.
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}
