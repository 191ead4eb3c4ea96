//! The console's pages. Each reads through `admin::execute` (the CLI's
//! commands) and renders one template; `actions` renders them too, with an
//! error or a secret shown once.

use super::{Shown, administrator, run};
use crate::admin::{AdminCommand, AdminError};
use crate::http::admin_api::status_of;
use crate::http::{AppState, RequestView, on_pool};
use crate::oidc::account::render;
use crate::sessions::ActiveSession;
use crate::ui::PageError;
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use serde_json::{Value, json};

/// The audit page's filter, from its query string.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub(super) struct AuditFilter {
    user: Option<String>,
    app: Option<String>,
    kind: Option<String>,
    days: Option<i64>,
}

/// Every console page.
#[derive(Clone)]
pub(super) enum Page {
    Overview,
    Users,
    User(String),
    Groups,
    Apps,
    App(String),
    Tokens,
    Keys,
    Audit(AuditFilter),
}

impl Page {
    fn section(&self) -> &'static str {
        match self {
            Page::Overview => "overview",
            Page::Users | Page::User(_) => "users",
            Page::Groups => "groups",
            Page::Apps | Page::App(_) => "apps",
            Page::Tokens => "tokens",
            Page::Keys => "keys",
            Page::Audit(_) => "audit",
        }
    }

    /// Where the page is, for the redirect after a change.
    pub(super) fn path(&self) -> String {
        let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
        match self {
            Page::Overview => crate::paths::ADMIN.into(),
            Page::Users => crate::paths::ADMIN_USERS.into(),
            Page::User(name) => crate::paths::ADMIN_USER.replace("{username}", &encode(name)),
            Page::Groups => crate::paths::ADMIN_GROUPS.into(),
            Page::Apps => crate::paths::ADMIN_APPS.into(),
            Page::App(slug) => crate::paths::ADMIN_APP.replace("{slug}", &encode(slug)),
            Page::Tokens => crate::paths::ADMIN_TOKENS.into(),
            Page::Keys => crate::paths::ADMIN_KEYS.into(),
            Page::Audit(_) => crate::paths::ADMIN_AUDIT.into(),
        }
    }
}

/// Days the audit page and the overview's chart cover.
const CHART_DAYS: i64 = 14;
/// The audit page lists at most this many events, newest first.
const AUDIT_ROWS: usize = 200;
const KINDS: &[&str] = &[
    "sign_in",
    "sign_in_failed",
    "sign_in_locked",
    "access_denied",
    "token_issued",
    "code_reused",
    "refresh_reused",
    "token_revoked",
    "pat_created",
    "pat_used",
    "pat_revoked",
    "user_changed",
    "app_changed",
    "keys_rotated",
    "session_ended",
    "logout_not_delivered",
    "consent_given",
    "consent_revoked",
    "mfa_changed",
    "mfa_failed",
    "recovery_code_used",
    "app_registered",
    "app_deregistered",
    "registration_token_changed",
];

async fn get(req: HttpRequest, state: web::Data<AppState>, page: Page) -> HttpResponse {
    on_pool(&req, move |req| get_now(req, state, page)).await
}

fn get_now(req: &RequestView, state: web::Data<AppState>, page: Page) -> HttpResponse {
    let active = match administrator(req, &state) {
        Ok(active) => active,
        Err(response) => return *response,
    };
    #[derive(serde::Deserialize)]
    struct Done {
        done: Option<String>,
    }
    let done = web::Query::<Done>::from_query(req.query_string()).ok().and_then(|q| q.into_inner().done);
    let notice = done.as_deref().and_then(super::action_list::notice_for).map(str::to_owned);
    show(req, &state, &active, page, Shown { notice, ..Default::default() })
}

pub async fn overview(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    get(req, state, Page::Overview).await
}
pub async fn users(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    get(req, state, Page::Users).await
}
pub async fn user(req: HttpRequest, state: web::Data<AppState>, name: web::Path<String>) -> HttpResponse {
    get(req, state, Page::User(name.into_inner())).await
}
pub async fn groups(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    get(req, state, Page::Groups).await
}
pub async fn apps(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    get(req, state, Page::Apps).await
}
pub async fn app(req: HttpRequest, state: web::Data<AppState>, slug: web::Path<String>) -> HttpResponse {
    get(req, state, Page::App(slug.into_inner())).await
}
pub async fn tokens(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    get(req, state, Page::Tokens).await
}
pub async fn keys(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    get(req, state, Page::Keys).await
}
pub async fn audit(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let filter = web::Query::<AuditFilter>::from_query(req.query_string()).map(|q| q.into_inner()).unwrap_or_default();
    get(req, state, Page::Audit(filter)).await
}

/// Renders `page` for `active`, with what `shown` says at the top.
pub(super) fn show(
    req: &RequestView,
    state: &web::Data<AppState>,
    active: &ActiveSession,
    page: Page,
    shown: Shown,
) -> HttpResponse {
    let built = match &page {
        Page::Overview => overview_context(state, active).map(|c| ("admin_overview.html", c)),
        Page::Users => users_context(state, active).map(|c| ("admin_users.html", c)),
        Page::User(name) => user_context(state, active, name).map(|c| ("admin_user.html", c)),
        Page::Groups => groups_context(state, active).map(|c| ("admin_groups.html", c)),
        Page::Apps => apps_context(state, active).map(|c| ("admin_apps.html", c)),
        Page::App(slug) => app_context(state, active, slug, values_target(req)).map(|c| ("admin_app.html", c)),
        Page::Tokens => run(state, active, AdminCommand::PatList { username: None })
            .map(|tokens| ("admin_tokens.html", json!({ "tokens": tokens.to_json() }))),
        Page::Keys => run(state, active, AdminCommand::KeysList)
            .map(|keys| ("admin_keys.html", json!({ "keys": keys.to_json(), "algs": ["RS256", "ES256", "EdDSA"] }))),
        Page::Audit(filter) => audit_context(state, active, filter).map(|c| ("admin_audit.html", c)),
    };
    let (template, mut context) = match built {
        Ok(built) => built,
        Err(e) => {
            let status = status_of(&e);
            if status.is_server_error() {
                return PageError::server(e).render(&state.ui);
            }
            return PageError::new(status, "Not here", e.to_string()).render(&state.ui);
        }
    };
    context["section"] = json!(page.section());
    context["notice"] = json!(shown.notice);
    context["error"] = json!(shown.error);
    if let Some((what, value)) = shown.once {
        // A link can go to a phone: its QR code beside it (drawn here, as
        // the TOTP page draws its own: no image request).
        let qr = value.starts_with("http").then(|| crate::ui::qr_svg(&value));
        context["once"] = json!({ "what": what, "value": value, "qr": qr });
    }
    render(req, state, active, shown.status.unwrap_or(StatusCode::OK), template, context)
}

fn overview_context(state: &web::Data<AppState>, active: &ActiveSession) -> Result<Value, AdminError> {
    let now = state.clock.now();
    let users = run(state, active, AdminCommand::UserList)?.to_json();
    let apps = run(state, active, AdminCommand::AppList)?.to_json();
    let groups = run(state, active, AdminCommand::GroupList)?.to_json();
    let tokens = run(state, active, AdminCommand::PatList { username: None })?.to_json();
    let since = now - CHART_DAYS * 86_400;
    let events = state.store.audit_since(since).map_err(AdminError::from)?;
    let count = |v: &Value| v.as_array().map_or(0, Vec::len);
    let active_tokens = tokens.as_array().map_or(0, |t| t.iter().filter(|t| t["status"] == "active").count());
    let disabled = users.as_array().map_or(0, |u| u.iter().filter(|u| u["disabled"] == true).count());
    let recent: Vec<Value> =
        events.iter().rev().take(10).map(crate::admin::views::AuditView::of).map(|v| json!(v)).collect();
    Ok(json!({
        "counts": {
            "users": count(&users),
            "disabled": disabled,
            "groups": count(&groups),
            "apps": count(&apps),
            "tokens": active_tokens,
            "sessions": state.store.session_count(),
        },
        "chart": super::chart::daily(&events, now, CHART_DAYS),
        "events": recent,
        "with_address": false,
        "sources": sources_context(state),
    }))
}

/// The sign-in sources config.yaml declares (read-only here): what each
/// is, the redirect URI to register there, its rules, and how many
/// accounts are linked to it.
fn sources_context(state: &AppState) -> Vec<Value> {
    // One read of the users, whatever the number of sources.
    let users = state.store.users().unwrap_or_default();
    let linked = |slug: &str| users.iter().filter(|u| u.identities.iter().any(|i| i.source == slug)).count();
    state
        .sources
        .all()
        .map(|source| {
            let kind = match &source.kind {
                crate::config::SourceKind::Github { web_url, .. } => format!("GitHub ({web_url})"),
                crate::config::SourceKind::Oidc { issuer, .. } => format!("OpenID Connect ({issuer})"),
            };
            let mut rules = Vec::new();
            if source.link_by_email {
                rules.push("links by verified address".to_owned());
            }
            if source.create_users {
                let groups: Vec<&str> = source.default_groups.iter().map(|g| g.as_str()).collect();
                rules.push(if groups.is_empty() {
                    "makes accounts".to_owned()
                } else {
                    format!("makes accounts in {}", groups.join(", "))
                });
            }
            for (upstream, ours) in &source.group_map {
                rules.push(format!("{upstream} → {ours}"));
            }
            if source.trust_upstream_mfa {
                rules.push("trusts its second factor".to_owned());
            }
            let path = crate::paths::for_app(crate::paths::SOURCE_CALLBACK, source.slug.as_str());
            json!({
                "name": source.name,
                "slug": source.slug.as_str(),
                "kind": kind,
                "redirect_uri": state.config.public_url.endpoint(&path),
                "rules": if rules.is_empty() { "linked accounts only".to_owned() } else { rules.join("; ") },
                "linked": linked(source.slug.as_str()),
            })
        })
        .collect()
}

/// Groups for check boxes: name, description, and whether `member_of` has it.
fn group_choices(groups: &Value, member_of: &Value) -> Vec<Value> {
    let mine: Vec<&str> = member_of.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    groups
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let name = g["name"].as_str().unwrap_or_default();
            json!({ "name": name, "description": g["description"], "checked": mine.contains(&name) })
        })
        .collect()
}

fn users_context(state: &web::Data<AppState>, active: &ActiveSession) -> Result<Value, AdminError> {
    let users = run(state, active, AdminCommand::UserList)?.to_json();
    let groups = run(state, active, AdminCommand::GroupList)?.to_json();
    Ok(json!({ "users": users, "groups": group_choices(&groups, &json!([])), "can_mail": state.mailer.is_some() }))
}

fn user_context(state: &web::Data<AppState>, active: &ActiveSession, name: &str) -> Result<Value, AdminError> {
    // `/admin/users/ALICE` is alice, as everywhere else names are read.
    let normalised = crate::domain::Username::parse(name).map(|n| n.to_string());
    let name = normalised.as_deref().unwrap_or(name);
    let found = run(state, active, AdminCommand::UserList)?.to_json();
    let user = found
        .as_array()
        .and_then(|users| users.iter().find(|u| u["username"] == name))
        .cloned()
        .ok_or_else(|| AdminError::NotFound(format!("no user named {name}")))?;
    let groups = run(state, active, AdminCommand::GroupList)?.to_json();
    let username = name.to_owned();
    let sessions = run(state, active, AdminCommand::UserSessions { username: username.clone() })?.to_json();
    // Unix times, as the CLI's JSON has them: the page's `when` shows them.
    let factors = run(state, active, AdminCommand::UserMfa { username: username.clone() })?.to_json();
    let links = run(state, active, AdminCommand::LinkList { username: username.clone() })?.to_json();
    let tokens = run(state, active, AdminCommand::PatList { username: Some(username) })?.to_json();
    Ok(json!({
        "user": user,
        "is_self": name == active.user.username.as_str(),
        "groups": group_choices(&groups, &user["groups"]),
        "sessions": sessions,
        "factors": factors,
        "tokens": tokens,
        "links": links,
    }))
}

fn groups_context(state: &web::Data<AppState>, active: &ActiveSession) -> Result<Value, AdminError> {
    let groups = run(state, active, AdminCommand::GroupList)?.to_json();
    let users = run(state, active, AdminCommand::UserList)?.to_json();
    let members = |name: &str| {
        users
            .as_array()
            .into_iter()
            .flatten()
            .filter(|u| u["groups"].as_array().is_some_and(|g| g.iter().any(|g| g == name)))
            .count()
    };
    let groups: Vec<Value> = groups
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            let mut g = g.clone();
            let name = g["name"].as_str().unwrap_or_default();
            let (count, built_in) = (members(name), name == crate::admin::ADMIN_GROUP);
            g["members"] = json!(count);
            // No rename or remove form for it: `admin::guard` refuses both.
            g["built_in"] = json!(built_in);
            g
        })
        .collect();
    Ok(json!({ "groups": groups }))
}

fn apps_context(state: &web::Data<AppState>, active: &ActiveSession) -> Result<Value, AdminError> {
    let apps = run(state, active, AdminCommand::AppList)?.to_json();
    Ok(json!({ "apps": apps, "algs": ["RS256", "ES256", "EdDSA"] }))
}

/// `?for=grafana` on an application's page: the values under that
/// application's names. Anything else shows OpenID Connect's own.
fn values_target(req: &RequestView) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct For {
        r#for: Option<String>,
    }
    let asked = web::Query::<For>::from_query(req.query_string()).ok().and_then(|q| q.into_inner().r#for)?;
    crate::admin::VALUE_TARGETS.iter().find(|t| **t == asked).map(|t| (*t).to_owned())
}

fn app_context(
    state: &web::Data<AppState>,
    active: &ActiveSession,
    slug: &str,
    target: Option<String>,
) -> Result<Value, AdminError> {
    let app = run(state, active, AdminCommand::AppShow { slug: slug.to_owned() })?.to_json();
    // What to paste into the application; a proxy application has nothing.
    let values = match app["forward_auth_endpoint"].is_string() {
        true => Value::Null,
        false => run(state, active, AdminCommand::AppValues { slug: slug.to_owned(), target })?.to_json(),
    };
    let methods: Vec<&str> =
        app["token_endpoint_auth_methods"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let auth_methods: Vec<Value> = ["client_secret_basic", "client_secret_post"]
        .iter()
        .map(|m| json!({ "name": m, "checked": methods.contains(m) }))
        .collect();
    let groups = run(state, active, AdminCommand::GroupList)?.to_json();
    let lines =
        |key: &str| app[key].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>().join("\n");
    let users = app["allowed_users"].as_array().into_iter().flatten().filter_map(Value::as_str).collect::<Vec<_>>();
    // What `ferrid nodered setup` writes, for an app Node-RED can sign in
    // with (confidential, Node-RED's callback, a permissions claim).
    let options = crate::nodered::Options { claim: None, tokens: false, introspect: false };
    let nodered = crate::nodered::setup_module(&app, &options).ok();
    Ok(json!({
        "nodered_module": nodered,
        "nodered_line": crate::nodered::SETUP_LINE,
        "copy": true,
        "app": app,
        "redirect_uris": lines("redirect_uris"),
        "post_logout_redirect_uris": lines("post_logout_redirect_uris"),
        "claim_mappings": lines("claim_mappings"),
        "allowed_users": users.join(", "),
        "groups": group_choices(&groups, &app["allowed_groups"]),
        "algs": ["RS256", "ES256", "EdDSA"],
        "consents": ["implicit", "once", "always"],
        "values": values,
        "value_targets": crate::admin::VALUE_TARGETS,
        "pkce_choices": ["optional", "required"],
        "auth_methods": auth_methods,
        "id_token_choices": ["full", "minimal"],
    }))
}

fn audit_context(
    state: &web::Data<AppState>,
    active: &ActiveSession,
    filter: &AuditFilter,
) -> Result<Value, AdminError> {
    let now = state.clock.now();
    let days = filter.days.unwrap_or(CHART_DAYS).clamp(1, 90);
    let blank = |v: &Option<String>| v.as_deref().map(str::trim).filter(|v| !v.is_empty()).map(str::to_owned);
    // The chart counts sign-ins and failures whatever kind the table shows.
    let command = AdminCommand::AuditList {
        since: now - days * 86_400,
        user: blank(&filter.user),
        app: blank(&filter.app),
        kind: None,
    };
    let events = match run(state, active, command)? {
        crate::admin::views::AdminAnswer::Audit(events) => events,
        _ => Vec::new(),
    };
    let kind = blank(&filter.kind);
    let chosen: Vec<&crate::admin::views::AuditView> =
        events.iter().filter(|e| kind.as_deref().is_none_or(|k| json!(e.event.kind).as_str() == Some(k))).collect();
    let plain: Vec<crate::store::AuditEvent> = events.iter().map(|e| e.event.clone()).collect();
    let rows: Vec<Value> = chosen.iter().rev().take(AUDIT_ROWS).map(|e| json!(e)).collect();
    Ok(json!({
        "filter": {
            "user": blank(&filter.user),
            "app": blank(&filter.app),
            "kind": kind,
            "days": days,
        },
        "kinds": KINDS,
        "day_choices": [1, 7, 14, 30, 90],
        "chart": super::chart::daily(&plain, now, days.min(31)),
        "events": rows,
        "with_address": true,
        "shown": rows.len(),
        "total": chosen.len(),
    }))
}
