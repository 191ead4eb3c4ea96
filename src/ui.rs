//! HTML pages, rendered with tera. The defaults are compiled in; a file of
//! the same name in `templates_dir` replaces one.

use actix_web::HttpResponse;
use actix_web::http::{StatusCode, header};
use std::borrow::Cow;
use std::path::{Path, PathBuf};

const TEMPLATES: [(&str, &str); 38] = [
    ("base.html", include_str!("../templates/base.html")),
    ("shell.html", include_str!("../templates/shell.html")),
    ("login.html", include_str!("../templates/login.html")),
    ("login_code.html", include_str!("../templates/login_code.html")),
    ("login_enroll.html", include_str!("../templates/login_enroll.html")),
    ("recovery_used.html", include_str!("../templates/recovery_used.html")),
    ("error.html", include_str!("../templates/error.html")),
    ("form_post.html", include_str!("../templates/form_post.html")),
    ("continue.html", include_str!("../templates/continue.html")),
    ("account.html", include_str!("../templates/account.html")),
    ("account_tokens.html", include_str!("../templates/account_tokens.html")),
    ("account_mfa.html", include_str!("../templates/account_mfa.html")),
    ("account_mfa_enroll.html", include_str!("../templates/account_mfa_enroll.html")),
    ("account_mfa_codes.html", include_str!("../templates/account_mfa_codes.html")),
    ("account_mfa_passkey.html", include_str!("../templates/account_mfa_passkey.html")),
    ("consent.html", include_str!("../templates/consent.html")),
    ("device.html", include_str!("../templates/device.html")),
    ("device_approve.html", include_str!("../templates/device_approve.html")),
    ("device_done.html", include_str!("../templates/device_done.html")),
    ("no_access.html", include_str!("../templates/no_access.html")),
    ("logout_confirm.html", include_str!("../templates/logout_confirm.html")),
    ("signed_out.html", include_str!("../templates/signed_out.html")),
    ("setup.html", include_str!("../templates/setup.html")),
    ("recover.html", include_str!("../templates/recover.html")),
    ("verify_email.html", include_str!("../templates/verify_email.html")),
    ("forgot.html", include_str!("../templates/forgot.html")),
    ("admin_layout.html", include_str!("../templates/admin_layout.html")),
    ("admin_chart.html", include_str!("../templates/admin_chart.html")),
    ("admin_events.html", include_str!("../templates/admin_events.html")),
    ("admin_overview.html", include_str!("../templates/admin_overview.html")),
    ("admin_users.html", include_str!("../templates/admin_users.html")),
    ("admin_user.html", include_str!("../templates/admin_user.html")),
    ("admin_groups.html", include_str!("../templates/admin_groups.html")),
    ("admin_apps.html", include_str!("../templates/admin_apps.html")),
    ("admin_app.html", include_str!("../templates/admin_app.html")),
    ("admin_tokens.html", include_str!("../templates/admin_tokens.html")),
    ("admin_keys.html", include_str!("../templates/admin_keys.html")),
    ("admin_audit.html", include_str!("../templates/admin_audit.html")),
];

/// The paths templates may use, as `{{ paths.login }}` and so on.
static PAGE_PATHS: std::sync::LazyLock<serde_json::Value> = std::sync::LazyLock::new(|| {
    serde_json::json!({
        "login": crate::paths::LOGIN,
        "login_code": crate::paths::LOGIN_CODE,
        "login_enroll": crate::paths::LOGIN_ENROLL,
        "login_passkey": crate::paths::LOGIN_PASSKEY,
        "login_with_passkey": crate::paths::LOGIN_WITH_PASSKEY,
        "login_source": crate::paths::LOGIN_SOURCE,
        "account_sources_link": crate::paths::ACCOUNT_SOURCES_LINK,
        "account_sources_unlink": crate::paths::ACCOUNT_SOURCES_UNLINK,
        "account_mfa_passkey": crate::paths::ACCOUNT_MFA_PASSKEY,
        "account_mfa_passkey_finish": crate::paths::ACCOUNT_MFA_PASSKEY_FINISH,
        "webauthn_script": crate::paths::WEBAUTHN_SCRIPT,
        "copy_script": crate::paths::COPY_SCRIPT,
        "consent": crate::paths::CONSENT,
        "device": crate::paths::DEVICE,
        "device_approve": crate::paths::DEVICE_APPROVE,
        "logout_confirm": crate::paths::LOGOUT_CONFIRM,
        "account": crate::paths::ACCOUNT,
        "account_sign_out": crate::paths::ACCOUNT_SIGN_OUT,
        "account_sessions_end": crate::paths::ACCOUNT_SESSIONS_END,
        "account_consents_revoke": crate::paths::ACCOUNT_CONSENTS_REVOKE,
        "account_password": crate::paths::ACCOUNT_PASSWORD,
        "account_password_remove": crate::paths::ACCOUNT_PASSWORD_REMOVE,
        "account_mfa": crate::paths::ACCOUNT_MFA,
        "account_mfa_totp": crate::paths::ACCOUNT_MFA_TOTP,
        "account_mfa_totp_confirm": crate::paths::ACCOUNT_MFA_TOTP_CONFIRM,
        "account_mfa_recovery": crate::paths::ACCOUNT_MFA_RECOVERY,
        "account_mfa_remove": crate::paths::ACCOUNT_MFA_REMOVE,
        "account_tokens": crate::paths::ACCOUNT_TOKENS,
        "account_tokens_revoke": crate::paths::ACCOUNT_TOKENS_REVOKE,
        "account_verify_email": crate::paths::ACCOUNT_VERIFY_EMAIL,
        "forgot": crate::paths::FORGOT,
        "admin": crate::paths::ADMIN,
        "admin_users": crate::paths::ADMIN_USERS,
        "admin_groups": crate::paths::ADMIN_GROUPS,
        "admin_apps": crate::paths::ADMIN_APPS,
        "admin_tokens": crate::paths::ADMIN_TOKENS,
        "admin_keys": crate::paths::ADMIN_KEYS,
        "admin_audit": crate::paths::ADMIN_AUDIT,
        "admin_act": crate::paths::ADMIN_ACT,
        "stylesheet": crate::paths::STYLESHEET,
        "form_post_script": crate::paths::FORM_POST_SCRIPT,
    })
});

const STYLESHEET: &str = include_str!("../templates/static/ferrid.css");
const FORM_POST_SCRIPT: &str = include_str!("../templates/static/form_post.js");
const WEBAUTHN_SCRIPT: &str = include_str!("../templates/static/webauthn.js");
const COPY_SCRIPT: &str = include_str!("../templates/static/copy.js");

#[derive(Debug, thiserror::Error)]
pub enum UiError {
    #[error("template {path}: {source}")]
    Read { path: PathBuf, source: std::io::Error },
    #[error("templates: {0}")]
    Tera(String),
}

pub struct Ui {
    tera: tera::Tera,
}

impl Ui {
    pub fn load(templates_dir: Option<&Path>) -> Result<Ui, UiError> {
        let mut sources = Vec::with_capacity(TEMPLATES.len());
        for (name, default) in TEMPLATES {
            let path = templates_dir.map(|d| d.join(name));
            let text = match path {
                Some(path) if path.is_file() => {
                    std::fs::read_to_string(&path).map_err(|source| UiError::Read { path, source })?
                }
                _ => default.to_owned(),
            };
            sources.push((name, text));
        }
        let mut tera = tera::Tera::new();
        tera.autoescape_on([".html"]);
        tera.register_filter("when", when);
        tera.add_raw_templates(sources.iter().map(|(n, t)| (*n, t.as_str())))
            .map_err(|e| UiError::Tera(e.to_string()))?;
        Ok(Ui { tera })
    }

    /// Renders `name` with `context`, plus `paths`: the paths pages link and
    /// post to, from `crate::paths` (so no template spells one).
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, UiError> {
        let mut context = tera::Context::from_serialize(context).map_err(|e| UiError::Tera(e.to_string()))?;
        context.insert("paths", &*PAGE_PATHS);
        self.tera.render(name, &context).map_err(|e| UiError::Tera(e.to_string()))
    }

    /// A page with a strict CSP. `form_target` is an extra CSP source a form
    /// on the page may submit (or be redirected) to: the client's redirect
    /// URI, as `RedirectUri::csp_source` spells it (an origin, or `myapp:`).
    pub fn page(
        &self,
        status: StatusCode,
        name: &str,
        context: &serde_json::Value,
        form_target: Option<&str>,
    ) -> HttpResponse {
        let html = match self.render(name, context) {
            Ok(html) => html,
            Err(e) => {
                tracing::error!(error = %e, template = name, "cannot render page");
                return HttpResponse::InternalServerError()
                    .content_type("text/plain; charset=utf-8")
                    .body("ferrid could not render this page; see the server log.");
            }
        };
        let csp = format!(
            "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self'; \
             form-action 'self'{}; frame-ancestors 'none'; base-uri 'none'",
            form_target.map(|t| format!(" {t}")).unwrap_or_default()
        );
        HttpResponse::build(status)
            .content_type("text/html; charset=utf-8")
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::CONTENT_SECURITY_POLICY, csp))
            .body(html)
    }
}

/// `{{ t | when }}`: a unix time or an RFC 3339 string as
/// `<time datetime=ISO title=ISO>3 minutes ago</time>`, so every page shows
/// times one way (`clock::relative`) and the exact time is a hover away.
fn when(value: tera::Value, _: tera::Kwargs, _: &tera::State) -> tera::Value {
    let unix = value.as_i64().or_else(|| value.as_str().and_then(crate::clock::parse_rfc3339));
    let Some(unix) = unix else {
        // Not a time (an empty field): shown as it is, and escaped as usual.
        return value;
    };
    let iso = crate::clock::rfc3339(unix);
    let text = crate::clock::relative(unix, crate::clock::Clock::system().now());
    tera::Value::safe_string(&format!(r#"<time datetime="{iso}" title="{iso}">{text}</time>"#))
}

/// Every error a person sees: one type, rendered as the one error page.
/// Used where redirecting back to the client would be unsafe (before the
/// client and redirect URI are verified) and on ferrid's own pages.
#[derive(Debug)]
pub struct PageError {
    pub status: StatusCode,
    pub title: Cow<'static, str>,
    pub message: Cow<'static, str>,
}

impl PageError {
    pub fn new(status: StatusCode, title: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        PageError { status, title: title.into(), message: message.into() }
    }

    pub fn bad_request(title: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, title, message)
    }

    pub fn forbidden(title: impl Into<Cow<'static, str>>, message: impl Into<Cow<'static, str>>) -> Self {
        Self::new(StatusCode::FORBIDDEN, title, message)
    }

    /// Logs `cause`; the page says nothing about it. A database that
    /// cannot be reached (PostgreSQL away, through whatever error wraps it)
    /// is a 503 that says so, as the OAuth endpoints' is: it comes back.
    pub fn server(cause: impl std::fmt::Display) -> Self {
        let cause = cause.to_string();
        if cause.contains(crate::store::UNAVAILABLE) {
            tracing::warn!(error = %cause, "a page waits for the database");
            return Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "The database is not reachable",
                "ferrid cannot reach its database just now. Try again in a moment.",
            );
        }
        tracing::error!(error = %cause, "a page failed with a server error");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong", "Please try again later.")
    }

    pub fn render(&self, ui: &Ui) -> HttpResponse {
        let context = serde_json::json!({ "title": self.title, "message": self.message });
        let mut response = ui.page(self.status, "error.html", &context, None);
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from_static("5"));
        }
        response
    }
}

/// A QR code of `text` as inline SVG (no image request, nothing for the CSP
/// to allow), for an authenticator app to scan. Empty if the text is too
/// long for a QR code (an otpauth URI never is).
pub fn qr_svg(text: &str) -> String {
    match qrcode::QrCode::new(text.as_bytes()) {
        Ok(code) => code
            .render::<qrcode::render::svg::Color<'_>>()
            .min_dimensions(200, 200)
            .quiet_zone(true)
            .build()
            // The XML declaration is not allowed inside an HTML page.
            .split_once("?>")
            .map(|(_, svg)| svg.to_owned())
            .unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// `paths::STYLESHEET`: the one stylesheet every page uses.
pub async fn stylesheet() -> HttpResponse {
    asset("text/css; charset=utf-8", STYLESHEET)
}

/// `paths::WEBAUTHN_SCRIPT`: the passkey ceremonies.
pub async fn webauthn_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", WEBAUTHN_SCRIPT)
}

/// `paths::COPY_SCRIPT`: the copy buttons beside a secret or settings.
pub async fn copy_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", COPY_SCRIPT)
}

/// JSON to put inside a `<script type="application/json">` block: `<` is
/// escaped, so no value (a user's display name) can close the block.
pub fn json_in_html(value: &serde_json::Value) -> String {
    value.to_string().replace('<', "\\u003c")
}

/// `paths::FORM_POST_SCRIPT`: submits the form_post response page.
pub async fn form_post_script() -> HttpResponse {
    asset("text/javascript; charset=utf-8", FORM_POST_SCRIPT)
}

fn asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "public, max-age=3600"))
        .body(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_in_templates_dir_replaces_the_built_in_page_and_output_is_escaped() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("error.html"), "<p>custom: {{ message }}</p>").unwrap();
        let ui = Ui::load(Some(dir.path())).unwrap();
        let html = ui.render("error.html", &serde_json::json!({ "title": "t", "message": "<script>" })).unwrap();
        assert_eq!(html, "<p>custom: &lt;script&gt;</p>");
        let builtin =
            Ui::load(None).unwrap().render("error.html", &serde_json::json!({ "title": "t", "message": "m" }));
        assert!(builtin.unwrap().contains("<h1>t</h1>"));
    }
}
