//! `POST /admin/act`: every change the console makes. The form's `action`
//! names one of `action_list::ACTIONS`; its fields become the
//! `AdminCommand` the CLI would send. After a change the browser is sent
//! back to the page (303, with a notice) unless the answer holds a secret
//! to show once; an error re-renders the page with the message and changes
//! nothing.

use super::action_list::ACTIONS;
use super::pages::{Page, show};
use super::{Shown, administrator, run};
use crate::admin::views::AdminAnswer;
use crate::admin::{ADMIN_GROUP, AdminCommand, AppUpdate, names_admin_group};
use crate::domain::Username;
use crate::form::Params;
use crate::http::admin_api::status_of;
use crate::http::{AppState, RequestView, on_pool};
use crate::oidc::account::csrf_checked;
use crate::oidc::account::reauth::{self, Gate};
use crate::sessions::ActiveSession;
use crate::ui::PageError;
use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

/// What a form asks for: the command, the page it came from (shown again
/// on an error) and the page to go to afterwards.
struct Built {
    command: AdminCommand,
    back: Page,
    after: Page,
    /// A password made here, shown once after the command succeeds.
    password: Option<String>,
}

pub async fn act(req: HttpRequest, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    on_pool(&req, move |req| act_now(req, body, state)).await
}

fn act_now(req: &RequestView, body: web::Bytes, state: web::Data<AppState>) -> HttpResponse {
    // An administrator first: anyone else gets 403 whatever the form holds.
    let active = match administrator(req, &state) {
        Ok(active) => active,
        Err(response) => return *response,
    };
    let params = match csrf_checked(req, &body, &state) {
        Ok(params) => params,
        Err(response) => return *response,
    };
    let name = params.get("action").unwrap_or_default();
    let Some(action) = ACTIONS.iter().find(|a| a.name == name) else {
        return PageError::bad_request("Bad request", "The form asked for no known action.").render(&state.ui);
    };
    let built = match build(action.name, &params, &state, &active) {
        Ok(built) => built,
        Err((back, message)) => {
            return show(req, &state, &active, back, Shown::error(StatusCode::BAD_REQUEST, message));
        }
    };
    if action.privileged {
        let typed = params.get("confirm_password");
        match reauth::gate(req, &state, &active, typed, &built.back.path()) {
            Ok(Gate::Open) => {}
            Ok(Gate::WrongPassword) => {
                let refused = Shown::error(StatusCode::FORBIDDEN, "That is not your password: nothing was changed.");
                return show(req, &state, &active, built.back, refused);
            }
            Ok(Gate::Confirm(response)) | Err(response) => return *response,
        }
    }
    let Built { command, back, after, password } = built;
    let mail_it = params.get("mail") == Some("on");
    match run(&state, &active, command) {
        Ok(answer) => {
            let mut notice = action.notice.to_owned();
            if let (AdminAnswer::NewLink(link), true) = (&answer, mail_it) {
                notice = mail_link(&state, link).unwrap_or_else(|why| format!("{notice} {why}"));
            }
            let secret = match &answer {
                AdminAnswer::App(app) => app.client_secret.clone().map(|s| ("Client secret".to_owned(), s)),
                AdminAnswer::NewLink(link) => link.url.clone().map(|url| {
                    let what = match link.kind {
                        crate::store::LinkKind::Invitation => {
                            "Invitation link, for them to set up their account; it works once"
                        }
                        crate::store::LinkKind::Recovery => "Recovery link, for them to get back in; it works once",
                        crate::store::LinkKind::EmailCheck => "Address check link",
                    };
                    (what.to_owned(), url)
                }),
                _ => None,
            };
            let once = secret.or(password.map(|p| ("Password".to_owned(), p)));
            match once {
                Some(once) => {
                    let shown = Shown { notice: Some(notice), once: Some(once), ..Default::default() };
                    show(req, &state, &active, after, shown)
                }
                None => HttpResponse::SeeOther()
                    .insert_header((header::LOCATION, format!("{}?done={}", after.path(), action.name)))
                    .finish(),
            }
        }
        Err(e) => show(req, &state, &active, back, Shown::error(status_of(&e), e.to_string())),
    }
}

/// Mails a link just made to its user's address ("Mail it" on the invite
/// form); the notice to show, or why it was not sent. The mail goes after
/// the answer: a slow mail server does not hold the page.
fn mail_link(state: &AppState, link: &crate::admin::views::LinkView) -> Result<String, String> {
    let mailer = state.mailer.clone().ok_or("No mail was sent: ferrid has no smtp: settings.")?;
    let name = Username::parse(&link.username).map_err(|e| e.to_string())?;
    let user = state.store.user_by_name(&name).ok().flatten().ok_or("No mail was sent: no such user.")?;
    let url = link.url.as_deref().ok_or("No mail was sent: the link is gone.")?;
    let mail = crate::links::mail(&user, link.kind, url, state.config.public_url.as_str())
        .ok_or("No mail was sent: the user has no address.")?;
    let to = mail.to.clone();
    crate::mail::send_later(mailer, mail, format!("{:?} link for {}", link.kind, user.username));
    Ok(format!("User invited; the link is on its way to {to} (and here, once)."))
}

/// Lines of a text box, trimmed, without the empty ones.
fn lines(params: &Params, name: &str) -> Vec<String> {
    params.given(name).unwrap_or_default().lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect()
}

fn field(params: &Params, name: &str) -> String {
    params.get(name).unwrap_or_default().trim().to_owned()
}

/// The `username` field as ferrid stores names (`ADMIN` is the account
/// `admin`): compared raw, a name typed in upper case slipped past the
/// own-account check. One that does not parse is left for the command to
/// refuse with its reason.
fn username_field(params: &Params) -> String {
    let raw = field(params, "username");
    Username::parse(&raw).map(|name| name.to_string()).unwrap_or(raw)
}

/// A new random password and its bcrypt hash.
fn new_password(state: &AppState) -> Result<(String, String), String> {
    let password = crate::crypto::password::generate().map_err(|e| e.to_string())?;
    let hash = crate::crypto::password::hash(&password, state.config.password_hash_cost).map_err(|e| e.to_string())?;
    Ok((password, hash))
}

fn build(
    name: &str,
    params: &Params,
    state: &web::Data<AppState>,
    active: &ActiveSession,
) -> Result<Built, (Page, String)> {
    let username = username_field(params);
    let slug = field(params, "slug");
    let is_self = username == active.user.username.as_str();
    let simple = |command, back: Page| {
        let after = back.clone();
        Ok(Built { command, back, after, password: None })
    };
    match name {
        "user-add" => {
            let (password, password_hash) = new_password(state).map_err(|e| (Page::Users, e))?;
            let groups = params.all("groups").into_iter().map(str::to_owned).collect();
            let command = AdminCommand::UserAdd {
                username: username.clone(),
                email: Some(field(params, "email")),
                name: Some(field(params, "name")),
                groups,
                password_hash,
            };
            Ok(Built { command, back: Page::Users, after: Page::User(username), password: Some(password) })
        }
        "user-invite" => {
            let groups = params.all("groups").into_iter().map(str::to_owned).collect();
            let command = AdminCommand::UserInvite {
                username: username.clone(),
                email: Some(field(params, "email")),
                name: Some(field(params, "name")),
                groups,
            };
            Ok(Built { command, back: Page::Users, after: Page::User(username), password: None })
        }
        "user-link" => simple(AdminCommand::UserLink { username: username.clone() }, Page::User(username)),
        "link-revoke" => simple(AdminCommand::LinkRevoke { id: field(params, "id") }, Page::User(username)),
        "user-update" => {
            let email = params.given("email").map(str::to_owned);
            // The profile form always has the box; unticked is absent. Its
            // value is the address the page showed, the one it vouches for:
            // left ticked beside an address typed over it, it marks nothing.
            let vouched = params.get("email_verified").map(str::trim).filter(|v| !v.is_empty());
            let email_verified = Some(vouched.is_some_and(|v| email.as_deref().map(str::trim) == Some(v)));
            simple(
                AdminCommand::UserUpdate {
                    username: username.clone(),
                    name: params.given("name").map(str::to_owned),
                    email,
                    email_verified,
                },
                Page::User(username),
            )
        }
        "user-groups" => {
            let groups: Vec<String> = params.all("groups").into_iter().map(str::to_owned).collect();
            if is_self && !names_admin_group(&groups) {
                return Err((Page::User(username), lock_out()));
            }
            simple(AdminCommand::UserGroups { username: username.clone(), groups }, Page::User(username))
        }
        "user-logout" => simple(AdminCommand::UserLogout { username: username.clone() }, Page::User(username)),
        "user-enable" => {
            simple(AdminCommand::UserDisable { username: username.clone(), disabled: false }, Page::User(username))
        }
        "user-disable" | "user-delete" if is_self => Err((Page::User(username), lock_out())),
        "user-disable" => {
            simple(AdminCommand::UserDisable { username: username.clone(), disabled: true }, Page::User(username))
        }
        "user-password" => {
            let (password, password_hash) = new_password(state).map_err(|e| (Page::User(username.clone()), e))?;
            let command = AdminCommand::UserPasswd { username: username.clone(), password_hash };
            Ok(Built {
                command,
                back: Page::User(username.clone()),
                after: Page::User(username),
                password: Some(password),
            })
        }
        "user-mfa-reset" => simple(AdminCommand::UserMfaReset { username: username.clone() }, Page::User(username)),
        "user-delete" => Ok(Built {
            command: AdminCommand::UserDelete { username: username.clone() },
            back: Page::User(username),
            after: Page::Users,
            password: None,
        }),
        "group-add" => simple(
            AdminCommand::GroupAdd {
                name: field(params, "name"),
                description: Some(field(params, "description")).filter(|d| !d.is_empty()),
            },
            Page::Groups,
        ),
        "group-rename" => simple(
            AdminCommand::GroupRename { name: field(params, "name"), new_name: field(params, "new_name") },
            Page::Groups,
        ),
        "group-mfa" => simple(
            AdminCommand::GroupRequireMfa {
                group: field(params, "name"),
                required: params.get("required") == Some("on"),
            },
            Page::Groups,
        ),
        "group-remove" => simple(AdminCommand::GroupRemove { name: field(params, "name") }, Page::Groups),
        "app-add" if params.get("kind") == Some("proxy") => {
            let hosts = lines(params, "proxy_hosts");
            let command = AdminCommand::AppAddProxy {
                slug: slug.clone(),
                name: Some(field(params, "name")),
                hosts,
                bypass: lines(params, "bypass"),
            };
            Ok(Built { command, back: Page::Apps, after: Page::App(slug), password: None })
        }
        "app-add" => {
            let kind = params.get("kind").unwrap_or("confidential");
            let command = AdminCommand::AppAdd {
                slug: slug.clone(),
                name: Some(field(params, "name")).filter(|n| !n.is_empty()),
                client_id: None,
                public: kind == "public",
                redirect_uris: lines(params, "redirect_uris"),
                signing_alg: params.get("signing_alg").map(str::to_owned),
                machine: kind == "machine",
                switches: Default::default(),
            };
            Ok(Built { command, back: Page::Apps, after: Page::App(slug), password: None })
        }
        "app-update" => {
            let update = AppUpdate {
                slug: slug.clone(),
                name: Some(field(params, "name")),
                redirect_uris: Some(lines(params, "redirect_uris")),
                post_logout_redirect_uris: Some(lines(params, "post_logout_redirect_uris")),
                signing_alg: params.get("signing_alg").map(str::to_owned),
                allowed_groups: Some(params.all("allowed_groups").into_iter().map(str::to_owned).collect()),
                allowed_users: Some(vec![field(params, "allowed_users")]),
                claims: Some(lines(params, "claims")),
                consent: params.get("consent").map(str::to_owned),
                require_mfa: Some(params.get("require_mfa") == Some("on")),
                switches: switches(params),
            };
            simple(AdminCommand::AppUpdate(Box::new(update)), Page::App(slug))
        }
        "app-secret" => simple(AdminCommand::AppRotateSecret { slug: slug.clone() }, Page::App(slug)),
        "app-remove" => Ok(Built {
            command: AdminCommand::AppRemove { slug: slug.clone() },
            back: Page::App(slug),
            after: Page::Apps,
            password: None,
        }),
        "token-revoke" => simple(AdminCommand::PatRevoke { id: field(params, "id") }, Page::Tokens),
        "keys-rotate" => simple(AdminCommand::KeysRotate { alg: params.get("alg").map(str::to_owned) }, Page::Keys),
        _ => Err((Page::Overview, "The form asked for no known action.".into())),
    }
}

/// The switches on the application form. A confidential client's form has
/// the method boxes (and `client_auth` to say so, as unticked boxes send
/// nothing); a public client's has neither those nor PKCE, which it always
/// sends.
fn switches(params: &Params) -> crate::admin::ClientSwitches {
    let confidential = params.get("client_auth") == Some("shown");
    crate::admin::ClientSwitches {
        pkce: params.get("pkce").filter(|_| confidential).map(str::to_owned),
        token_endpoint_auth_methods: confidential
            .then(|| params.all("token_endpoint_auth_methods").into_iter().map(str::to_owned).collect()),
        id_token_claims: params.get("id_token_claims").map(str::to_owned),
        // A checkbox: absent when unticked, so the form says it was shown.
        device_flow: (params.get("device_flow_shown") == Some("yes")).then(|| params.get("device_flow") == Some("on")),
        refresh_reuse_interval: params.get("refresh_reuse_interval").map(str::to_owned),
    }
}

fn lock_out() -> String {
    format!(
        "You cannot disable, delete or take {ADMIN_GROUP} from your own account here: \
         another administrator (or the CLI) must."
    )
}
