//! Reading a config: the file's YAML into the raw form, relative paths
//! made relative to the file, then `validate` into a [`Config`].

use super::raw::RawConfig;
use super::{Config, ConfigError, Env, validate};
use std::path::{Path, PathBuf};

impl Config {
    /// Reads the file. Relative paths in it (`data_dir`, `keys_dir`,
    /// `templates_dir`, the TLS files, and the defaults `./data` and
    /// `./keys`) mean the folder beside the file, wherever the command runs
    /// from; paths from the environment (`FERRID_DATA_DIR`…) are as given.
    pub fn load(path: &Path, env: &dyn Env) -> Result<Config, ConfigError> {
        let text =
            std::fs::read_to_string(path).map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        let base = path.parent().map(|p| if p.as_os_str().is_empty() { Path::new(".") } else { p });
        Config::parse(&text, env, base).map_err(|e| match e {
            ConfigError::Syntax { message, .. } => ConfigError::Syntax { path: path.to_owned(), message },
            other => other,
        })
    }

    pub fn from_yaml(text: &str, env: &dyn Env) -> Result<Config, ConfigError> {
        Config::parse(text, env, None)
    }

    fn parse(text: &str, env: &dyn Env, base: Option<&Path>) -> Result<Config, ConfigError> {
        let mut raw: RawConfig = if text.trim().is_empty() {
            RawConfig::default()
        } else {
            serde_saphyr::from_str(text)
                .map_err(|e| ConfigError::Syntax { path: PathBuf::new(), message: e.to_string() })?
        };
        if let Some(base) = base {
            let beside = |p: PathBuf| if p.is_relative() { tidy(&base.join(p)) } else { p };
            raw.data_dir = Some(beside(raw.data_dir.take().unwrap_or_else(|| "./data".into())));
            raw.keys_dir = Some(beside(raw.keys_dir.take().unwrap_or_else(|| "./keys".into())));
            raw.templates_dir = raw.templates_dir.take().map(beside);
            if let Some(tls) = raw.tls.as_mut() {
                tls.cert = beside(std::mem::take(&mut tls.cert));
                tls.key = beside(std::mem::take(&mut tls.key));
            }
            if let Some(smtp) = raw.smtp.as_mut() {
                smtp.ca_file = smtp.ca_file.take().map(beside);
            }
        }
        validate::validate(raw, env)
    }
}

/// `path` without its `.` components (`././data` is `./data`), as the
/// messages that name it print it.
fn tidy(path: &Path) -> PathBuf {
    let kept: PathBuf = path.components().filter(|c| *c != std::path::Component::CurDir).collect();
    if kept.is_relative() { Path::new(".").join(kept) } else { kept }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_beside_the_config_file_print_without_dot_segments() {
        assert_eq!(tidy(Path::new("././data")), Path::new("./data"));
        assert_eq!(tidy(Path::new("/etc/ferrid/./keys")), Path::new("/etc/ferrid/keys"));
        assert_eq!(tidy(Path::new("conf/./data")), Path::new("./conf/data"));
    }
}
