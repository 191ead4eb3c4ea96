//! End-to-end tests: the real `ferrid` binary (CLI, start-up, crashes under
//! SIGKILL, fsyncs under strace, TLS files, logs), the real Node-RED from
//! npm (pinned by tests/e2e/package-lock.json) and the real JupyterHub from
//! PyPI (pinned by tests/e2e/requirements.txt). Slower than tests/api.

#[path = "../api/helpers.rs"]
mod helpers;

mod admin_lock;
mod backup;
mod binary;
mod browser;
mod browser_passkeys;
mod browser_sources;
mod cli;
mod console;
mod crash;
mod device_flow;
mod durability;
mod file_modes;
mod instances_crash;
mod jupyterhub;
mod log_safety;
mod mail;
mod mail_attacks;
mod migrate;
mod nodered;
mod nodered_bearer;
mod nodered_http;
mod nodered_pat;
mod nodered_settings;
mod proxies;
mod relying_parties;
mod sources;
mod story;
mod tls;
