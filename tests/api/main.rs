//! Fast API tests: each starts the real server in this process (real sled,
//! real keys, real templates) on port 0 and drives it over HTTP. The tests
//! with the real binary, Node-RED, strace and SIGKILL are in tests/e2e.

mod account;
mod account_changes;
mod admin_api;
mod architecture;
mod attacks;
mod audit;
mod authorize;
mod consent;
mod console;
mod console_attacks;
mod cors;
mod csp;
mod discovery;
mod docs;
mod fake_github;
mod forward_auth;
mod forward_auth_attacks;
mod health;
mod helpers;
mod hostile;
mod instances;
mod keys;
mod limits;
mod links;
mod links_attacks;
mod logout;
mod mail_attacks;
mod metrics;
mod mfa;
mod passkey_attacks;
mod passkey_sign_in;
mod passkeys;
mod pats;
mod policy;
mod proxy;
mod rate_limits;
mod reauth;
mod receiver;
mod sign_in_states;
mod source_attacks;
mod sources;
mod throttle;
mod token;
mod userinfo;
