//! ferrid: a small OpenID Connect / JWT identity provider.
//!
//! Layers, outermost first: `cli` → `startup`/`http` → `oidc` (one module
//! per endpoint) → `store`, `keys`, `jose`, `password`. Only `store` imports
//! sled, only `jose` imports josekit, only `ui` imports tera.

pub mod admin;
pub mod backchannel;
pub mod backup;
pub mod cli;
pub mod clock;
pub mod config;
pub mod consent;
pub mod console;
pub mod crypto;
pub mod domain;
pub mod error;
pub mod escape;
pub mod form;
pub mod fsutil;
pub mod http;
pub mod keys;
pub mod keystore;
pub mod links;
pub mod machine_tokens;
pub mod mail;
pub mod malloc;
pub mod metrics;
pub mod mfa;
pub mod nodered;
pub mod oidc;
pub mod passkeys;
pub mod pat;
pub mod paths;
pub mod published;
pub mod registration;
pub mod routes;
pub mod sessions;
pub mod signin;
pub mod sources;
pub mod startup;
pub mod store;
pub mod throttle;
pub mod tls;
pub mod tokens;
pub mod ui;
