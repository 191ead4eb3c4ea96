//! Integration tests: each test starts the real server (real sled, real
//! keys, real templates) on a free port and drives it over HTTP.

mod account;
mod account_changes;
mod admin_api;
mod architecture;
mod audit;
mod authorize;
mod backup;
mod binary;
mod cli;
mod cors;
mod crash;
mod discovery;
mod durability;
mod file_modes;
mod health;
mod helpers;
mod hostile;
mod keys;
mod limits;
mod log_safety;
mod metrics;
mod nodered;
mod nodered_bearer;
mod nodered_pat;
mod nodered_settings;
mod pats;
mod policy;
mod proxy;
mod rate_limits;
mod throttle;
mod tls;
mod token;
mod userinfo;
