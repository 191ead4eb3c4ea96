//! The route table: every path ferrid serves (spelled in `paths`), its
//! handler, and its per-route policy (rate-limit budget, CORS,
//! compression). Each listener's routes are here: the public server, the
//! loopback admin API and the plain-HTTP redirect listener.
//!
//! Only the public documents are compressed: a response that carries a
//! secret (tokens, CSRF fields, a new PAT) next to anything a client chose
//! is never compressed, so its length cannot leak the secret (BREACH); and
//! machine clients' token calls skip the layer.

use crate::http::rate_limit::LimitClass as Limit;
use crate::http::route_policy::{Cors, RoutePolicy, resource};
use crate::http::{admin_api, health, redirect};
use crate::paths;
use crate::{console, oidc};
use actix_web::web;

/// The public server.
pub fn public(cfg: &mut web::ServiceConfig) {
    let page = |path: &str, class| resource(path, RoutePolicy::page(class));
    let json = |path: &str, class| resource(path, RoutePolicy::json(class));
    let for_browsers = |path: &str, class| resource(path, RoutePolicy::json(class).with_cors(Cors::RegisteredOrigins));
    let public_document = |path: &str, handler| {
        resource(path, RoutePolicy::DOCUMENT.with_cors(Cors::AppOrigins)).wrap(crate::http::compress()).route(handler)
    };
    let asset = |path: &str, handler| web::resource(path).wrap(crate::http::compress()).route(handler);
    cfg.service(
        page(paths::AUTHORIZE, Limit::Authorize)
            .route(web::get().to(oidc::authorize::authorize))
            .route(web::post().to(oidc::authorize::authorize)),
    )
    .service(for_browsers(paths::TOKEN, Limit::Token).route(web::post().to(oidc::token::token)))
    .service(
        json(paths::DEVICE_AUTHORIZATION, Limit::Token)
            .route(web::post().to(oidc::device_authorization::device_authorization)),
    )
    .service(json(paths::INTROSPECT, Limit::Introspect).route(web::post().to(oidc::introspect::introspect)))
    .service(for_browsers(paths::REVOKE, Limit::Introspect).route(web::post().to(oidc::revoke::revoke)))
    .service(
        for_browsers(paths::USERINFO, Limit::Userinfo)
            .route(web::get().to(oidc::userinfo::userinfo))
            .route(web::post().to(oidc::userinfo::userinfo)),
    )
    .service(public_document(paths::DISCOVERY, web::get().to(oidc::discovery::discovery)))
    .service(public_document(paths::JWKS, web::get().to(oidc::jwks::jwks)))
    .service(public_document(paths::KEYS_PEM, web::get().to(oidc::jwks::pem)))
    .service(
        page(paths::END_SESSION, Limit::SignIn)
            .route(web::get().to(oidc::end_session::end_session))
            .route(web::post().to(oidc::end_session::end_session)),
    )
    // Registering a client spends an initial access token: the budget of
    // the routes that take guesses at a secret.
    .service(json(paths::REGISTER, Limit::SignIn).route(web::post().to(oidc::registration::register)))
    .service(
        json(paths::REGISTRATION, Limit::SignIn)
            .route(web::get().to(oidc::registration::read))
            .route(web::delete().to(oidc::registration::delete)),
    )
    .service(page(paths::LOGOUT_CONFIRM, Limit::SignIn).route(web::post().to(oidc::end_session::confirm)))
    .service(page(paths::ACCOUNT, Limit::Pages).route(web::get().to(oidc::account::home::show)))
    .service(page(paths::ACCOUNT_SIGN_OUT, Limit::Pages).route(web::post().to(oidc::account::home::sign_out)))
    .service(page(paths::ACCOUNT_SESSIONS_END, Limit::Pages).route(web::post().to(oidc::account::home::end_sessions)))
    .service(page(paths::ACCOUNT_MFA, Limit::Pages).route(web::get().to(oidc::account::factors::show)))
    .service(page(paths::ACCOUNT_MFA_TOTP, Limit::Pages).route(web::post().to(oidc::account::factors::add_totp)))
    .service(
        page(paths::ACCOUNT_MFA_TOTP_CONFIRM, Limit::Pages).route(web::post().to(oidc::account::factors::confirm_totp)),
    )
    .service(
        page(paths::ACCOUNT_MFA_RECOVERY, Limit::Pages).route(web::post().to(oidc::account::factors::recovery_codes)),
    )
    .service(page(paths::ACCOUNT_MFA_PASSKEY, Limit::Pages).route(web::post().to(oidc::account::factors::add_passkey)))
    .service(
        page(paths::ACCOUNT_MFA_PASSKEY_FINISH, Limit::Pages)
            .route(web::post().to(oidc::account::factors::finish_passkey)),
    )
    .service(page(paths::ACCOUNT_MFA_REMOVE, Limit::Pages).route(web::post().to(oidc::account::factors::remove)))
    .service(
        page(paths::ACCOUNT_PASSWORD_REMOVE, Limit::Pages)
            .route(web::post().to(oidc::account::factors::remove_password)),
    )
    .service(page(paths::ACCOUNT_PASSWORD, Limit::Pages).route(web::post().to(oidc::account::home::change_password)))
    .service(
        page(paths::ACCOUNT_CONSENTS_REVOKE, Limit::Pages).route(web::post().to(oidc::account::home::revoke_consent)),
    )
    .service(
        page(paths::ACCOUNT_TOKENS, Limit::Pages)
            .route(web::get().to(oidc::account::tokens::show))
            .route(web::post().to(oidc::account::tokens::create)),
    )
    .service(page(paths::ACCOUNT_TOKENS_REVOKE, Limit::Pages).route(web::post().to(oidc::account::tokens::revoke)))
    .service(page(paths::ACCOUNT_SOURCES_LINK, Limit::Pages).route(web::post().to(oidc::account::sources::link)))
    .service(page(paths::ACCOUNT_SOURCES_UNLINK, Limit::Pages).route(web::post().to(oidc::account::sources::unlink)))
    .service(
        page(paths::SETUP, Limit::SignIn)
            .route(web::get().to(oidc::links::show_setup))
            .route(web::post().to(oidc::links::submit_setup)),
    )
    .service(
        page(paths::RECOVER, Limit::SignIn)
            .route(web::get().to(oidc::links::show_recover))
            .route(web::post().to(oidc::links::submit_recover)),
    )
    .service(
        page(paths::VERIFY_EMAIL, Limit::SignIn)
            .route(web::get().to(oidc::links::show_verify))
            .route(web::post().to(oidc::links::submit_verify)),
    )
    .service(
        page(paths::FORGOT, Limit::SignIn)
            .route(web::get().to(oidc::forgot::show))
            .route(web::post().to(oidc::forgot::submit)),
    )
    .service(page(paths::ACCOUNT_VERIFY_EMAIL, Limit::Pages).route(web::post().to(oidc::account::home::verify_email)))
    .service(
        page(paths::LOGIN, Limit::SignIn)
            .route(web::get().to(oidc::login::show))
            .route(web::post().to(oidc::login::submit)),
    )
    .service(
        page(paths::LOGIN_CODE, Limit::SignIn)
            .route(web::get().to(oidc::second_factor::show_code))
            .route(web::post().to(oidc::second_factor::submit_code)),
    )
    .service(page(paths::LOGIN_PASSKEY, Limit::SignIn).route(web::post().to(oidc::second_factor::submit_passkey)))
    .service(page(paths::LOGIN_WITH_PASSKEY, Limit::SignIn).route(web::post().to(oidc::login::submit_passkey)))
    .service(page(paths::LOGIN_SOURCE, Limit::SignIn).route(web::post().to(oidc::source::start)))
    .service(page(paths::SOURCE_CALLBACK, Limit::SignIn).route(web::get().to(oidc::source::callback)))
    .service(
        page(paths::LOGIN_ENROLL, Limit::SignIn)
            .route(web::get().to(oidc::second_factor::show_enroll))
            .route(web::post().to(oidc::second_factor::submit_enroll)),
    )
    .service(
        page(paths::DEVICE, Limit::SignIn)
            .route(web::get().to(oidc::device_entry::show))
            .route(web::post().to(oidc::device_entry::submit)),
    )
    .service(
        page(paths::DEVICE_APPROVE, Limit::SignIn)
            .route(web::get().to(oidc::device_approval::show))
            .route(web::post().to(oidc::device_approval::submit)),
    )
    .service(
        page(paths::CONSENT, Limit::SignIn)
            .route(web::get().to(oidc::consent::show))
            .route(web::post().to(oidc::consent::submit)),
    )
    // Asked on every proxied request: no per-address budget (a wrong
    // credential is counted by the sign-in throttle instead).
    .service(
        resource(paths::FORWARD_AUTH, RoutePolicy::DOCUMENT).route(web::route().to(oidc::forward_auth::forward_auth)),
    )
    .service(
        resource(paths::AUTH_REQUEST, RoutePolicy::DOCUMENT).route(web::route().to(oidc::forward_auth::auth_request)),
    )
    .service(page(paths::PORTAL, Limit::Pages).route(web::get().to(oidc::forward_auth::portal)))
    .service(page(paths::ADMIN, Limit::Pages).route(web::get().to(console::overview)))
    .service(page(paths::ADMIN_USERS, Limit::Pages).route(web::get().to(console::users)))
    .service(page(paths::ADMIN_USER, Limit::Pages).route(web::get().to(console::user)))
    .service(page(paths::ADMIN_GROUPS, Limit::Pages).route(web::get().to(console::groups)))
    .service(page(paths::ADMIN_APPS, Limit::Pages).route(web::get().to(console::apps)))
    .service(page(paths::ADMIN_APP, Limit::Pages).route(web::get().to(console::app)))
    .service(page(paths::ADMIN_TOKENS, Limit::Pages).route(web::get().to(console::tokens)))
    .service(page(paths::ADMIN_KEYS, Limit::Pages).route(web::get().to(console::keys)))
    .service(page(paths::ADMIN_AUDIT, Limit::Pages).route(web::get().to(console::audit)))
    .service(page(paths::ADMIN_ACT, Limit::Pages).route(web::post().to(console::act)))
    .service(asset(paths::STYLESHEET, web::get().to(crate::ui::stylesheet)))
    .service(asset(paths::FORM_POST_SCRIPT, web::get().to(crate::ui::form_post_script)))
    .service(asset(paths::WEBAUTHN_SCRIPT, web::get().to(crate::ui::webauthn_script)))
    .service(asset(paths::COPY_SCRIPT, web::get().to(crate::ui::copy_script)))
    .route(paths::HEALTHZ, web::get().to(health::healthz))
    .route(paths::READYZ, web::get().to(health::readyz))
    .route(paths::METRICS, web::get().to(health::metrics));
}

/// The loopback admin API.
pub fn admin(cfg: &mut web::ServiceConfig) {
    cfg.route(paths::ADMIN_EXEC, web::post().to(admin_api::exec));
}

/// The plain-HTTP listener: everything redirects to `public_url`.
pub fn redirect_listener(cfg: &mut web::ServiceConfig) {
    cfg.default_service(web::to(redirect::redirect));
}
