//! The sign-in as a state machine, tried from outside: every route that
//! reads a parked sign-in (`SignInRoute::ALL`, and the sign-out
//! confirmation beside them) from every state a parked sign-in can be in,
//! including another browser's, an expired one, one awaiting another
//! user's consent, one whose user changed password or was disabled, one
//! already done, and a parked sign-out. Only the legal transition goes on;
//! every other request gets an error page and changes nothing, parked
//! state included. The rows come from `SignInRoute::ALL`, so a new route
//! cannot be added without being tried here (`fields` must know it).

use crate::fake_github::FakeGithub;
use crate::helpers::*;
use crate::passkeys::discoverable_answer;
use ferrid::admin::AdminCommand;
use ferrid::oidc::SignInRoute;
use ferrid::store::LinkedIdentity;
use std::sync::atomic::{AtomicUsize, Ordering};
use webauthn_authenticator_rs::WebauthnAuthenticator;
use webauthn_authenticator_rs::prelude::{RequestChallengeResponse, Url};
use webauthn_authenticator_rs::softpasskey::SoftPasskey;

const SECURE_CB: &str = "https://secure.example/cb";
const ASKS_CB: &str = "https://asks.example/cb";

/// Every state a parked sign-in (or the token of one) can be in.
#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Password,
    /// Parked again by the "No access" page's "sign in as someone else".
    PasswordAfterNoAccess,
    /// A re-authentication of alice's session (password and code), before a
    /// privileged action; her passkey can answer it too.
    Reauthentication,
    Code,
    /// The second step of a sign-in to ferrid's own account page.
    AccountCode,
    Enrollment,
    Consent,
    /// A code step parked in another browser (the attacker has its URL).
    CodeOfAnotherBrowser,
    CodeExpired,
    /// A consent step for carol, in a browser now signed in as erin.
    ConsentOfAnotherUser,
    /// alice's password was set anew while her code page was open.
    CodeAfterPasswordChange,
    CodeAfterDisable,
    /// The code step was completed: its id is spent.
    Done,
    /// A sign-out confirmation's id.
    SignOutPending,
    /// Gone to sign in at GitHub (a source); GitHub's answer is awaited.
    Upstream,
    /// erin signed in on `/device` for a device's code: her approval is awaited.
    DeviceApproval,
}

const STATES: [State; 16] = [
    State::Password,
    State::PasswordAfterNoAccess,
    State::Reauthentication,
    State::Code,
    State::AccountCode,
    State::Enrollment,
    State::Consent,
    State::CodeOfAnotherBrowser,
    State::CodeExpired,
    State::ConsentOfAnotherUser,
    State::CodeAfterPasswordChange,
    State::CodeAfterDisable,
    State::Done,
    State::SignOutPending,
    State::Upstream,
    State::DeviceApproval,
];

impl State {
    /// The step a route must accept for this state to go on there; None for
    /// states from which nothing may go on.
    fn legal_step(self) -> Option<&'static str> {
        match self {
            State::Password | State::PasswordAfterNoAccess | State::Reauthentication => Some("AwaitingPassword"),
            State::Code | State::AccountCode => Some("AwaitingCode"),
            State::Enrollment => Some("AwaitingEnrollment"),
            State::Consent => Some("AwaitingConsent"),
            State::Upstream => Some("AwaitingUpstream"),
            State::DeviceApproval => Some("AwaitingDeviceApproval"),
            _ => None,
        }
    }
}

#[derive(Clone, Copy, Debug)]
enum Route {
    SignIn(SignInRoute),
    SignOutConfirm,
}

impl Route {
    fn all() -> Vec<Route> {
        let mut all: Vec<Route> = SignInRoute::ALL.iter().map(|r| Route::SignIn(*r)).collect();
        all.push(Route::SignOutConfirm);
        all
    }

    fn is_legal_from(self, state: State) -> bool {
        match self {
            // GitHub cannot be asked to sign alice in anew, and she has a
            // password: it may not confirm her (a refusal by rule, with
            // nothing changed, as the state's refusals).
            Route::SignIn(SignInRoute::SubmitSource) if state == State::Reauthentication => false,
            Route::SignIn(route) => state.legal_step() == Some(route.accepts()),
            Route::SignOutConfirm => state == State::SignOutPending,
        }
    }

    fn method_and_path(self) -> (&'static str, String) {
        match self {
            Route::SignIn(route) => (route.method(), route.path().replace("{slug}", "github")),
            Route::SignOutConfirm => ("POST", "/logout/confirm".to_owned()),
        }
    }
}

struct World {
    app: TestApp,
    alice: TestUser,
    alice_totp: String,
    alice_key: WebauthnAuthenticator<SoftPasskey>,
    /// The id of alice's passkey (base64url).
    alice_credential: String,
    carol: TestUser,
    dave: TestUser,
    erin: TestUser,
    fresh: AtomicUsize,
    /// GitHub (a local stand-in) as a source; its account is alice's.
    _github: FakeGithub,
}

/// A state, built in a browser of its own.
struct Parked {
    browser: reqwest::Client,
    tx: String,
    /// The browser's CSRF token (from the state's page).
    csrf: String,
    /// The user whose password an attacker would have.
    user: TestUser,
    /// The page's passkey options (code pages).
    passkey_options: Option<String>,
    /// The sign-in page's passkey options (a passkey alone).
    sign_in_options: Option<String>,
    /// The TOTP key an enrollment page showed.
    seed: Option<String>,
    /// GitHub's answer, to the source's redirect URI (`Upstream`).
    callback: Option<String>,
}

fn origin(app: &TestApp) -> Url {
    Url::parse(&app.address.replace("127.0.0.1", "localhost")).unwrap()
}

fn options_in(html: &str) -> Option<String> {
    let marker = r#"<script type="application/json" id="webauthn-options">"#;
    let start = html.find(marker)? + marker.len();
    Some(html[start..start + html[start..].find("</script>")?].to_owned())
}

async fn text(browser: &reqwest::Client, app: &TestApp, path: &str) -> String {
    let page = browser.get(app.url(path)).send().await.unwrap();
    assert_eq!(page.status(), 200, "{path}");
    page.text().await.unwrap()
}

fn tx_of(location: &str) -> String {
    query_of(&format!("http://x{location}"))["tx"].clone()
}

fn params_for<'a>(client: &'a str, cb: &'a str, pkce: &'a Pkce) -> Vec<(&'a str, &'a str)> {
    vec![
        ("response_type", "code"),
        ("client_id", client),
        ("redirect_uri", cb),
        ("scope", "openid"),
        ("state", "st"),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]
}

impl World {
    async fn new() -> World {
        let digest = ferrid::crypto::secrets::Digest::of(WEB_SECRET).to_hex();
        let github = FakeGithub::start(crate::sources::octocat()).await;
        let source = crate::sources::github_decl(&github, "github");
        let app = spawn_app_tuned(
            |yaml| {
            let yaml = yaml.replace("public_url: http://127.0.0.1", "public_url: http://localhost").replace(
                "rate_limits: { userinfo: 20 }",
                "rate_limits: { userinfo: 20, sign_in: 100000, authorize: 100000, pages: 100000 }",
            );
            format!(
                "{yaml}  - slug: secure\n    client_secret_sha256: {digest}\n    redirect_uris: [\"{SECURE_CB}\"]\n    \
                 require_mfa: true\n  - slug: asks\n    client_secret_sha256: {digest}\n    redirect_uris: \
                 [\"{ASKS_CB}\"]\n    consent: always\n  - slug: tv\n    public: true\n    device_flow: true\n"
            )
            },
            move |config| config.sources = vec![source],
        )
        .await;
        // In viewers: her passkey may sign in where erin's password does.
        let alice = app.add_user("alice", &["viewers"]);
        let carol = app.add_user("carol", &[]);
        let dave = app.add_user("dave", &[]);
        let erin = app.add_user("erin", &["viewers"]);
        let (alice_totp, alice_key, alice_credential) = give_alice_factors(&app, &alice).await;
        let fresh = AtomicUsize::new(0);
        let octocat =
            LinkedIdentity { source: "github".into(), subject: "583231".into(), login: "octocat".into(), linked_at: 0 };
        app.state.store.link_identity(&uuid::Uuid::parse_str(&alice.sub).unwrap(), octocat).unwrap();
        World { app, alice, alice_totp, alice_key, alice_credential, carol, dave, erin, fresh, _github: github }
    }

    /// The passkey options of a new sign-in's page (in a browser of its own).
    async fn sign_in_page(&self) -> String {
        let browser = browser();
        let pkce = Pkce::new();
        let params = web_params("openid", &pkce, "n", "s");
        let response = browser.get(self.app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
        options_in(&text(&browser, &self.app, &location(&response)).await).expect("passkey options")
    }

    /// A TOTP code for alice at a time step no earlier request used.
    fn alice_code(&self) -> String {
        self.app.clock.advance(30);
        oathtool(&self.alice_totp, self.app.clock.now())
    }

    /// The password at `client`, in `browser`; returns where it sent the browser.
    async fn password_at(&self, browser: &reqwest::Client, client: &str, cb: &str, user: &TestUser) -> String {
        let pkce = Pkce::new();
        let params = params_for(client, cb, &pkce);
        let response = browser.get(self.app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
        assert_eq!(response.status(), 303, "{}", response.text().await.unwrap());
        let response =
            sign_in_with(browser, &self.app.address, &location(&response), &user.username, &user.password).await;
        location(&response)
    }

    async fn code_step(&self) -> Parked {
        let browser = browser();
        let next = self.password_at(&browser, "web", WEB_CB, &self.alice).await;
        assert!(next.starts_with("/login/code?tx="), "{next}");
        let html = text(&browser, &self.app, &next).await;
        let passkey_options = options_in(&html);
        assert!(passkey_options.is_some(), "alice's code page offers her passkey");
        Parked {
            tx: tx_of(&next),
            csrf: hidden_field(&html, "csrf_token").unwrap(),
            browser,
            user: self.alice.clone(),
            passkey_options,
            sign_in_options: None,
            seed: None,
            callback: None,
        }
    }

    async fn build(&self, state: State) -> Parked {
        let app = &self.app;
        match state {
            State::Password => {
                let browser = browser();
                let pkce = Pkce::new();
                let response = browser
                    .get(app.url("/application/o/authorize/"))
                    .query(&web_params("openid", &pkce, "n", "s"))
                    .send()
                    .await
                    .unwrap();
                let html = text(&browser, app, &location(&response)).await;
                let (tx, csrf) = (hidden_field(&html, "tx").unwrap(), hidden_field(&html, "csrf_token").unwrap());
                let sign_in_options = options_in(&html);
                assert!(sign_in_options.is_some(), "the sign-in page offers a passkey sign-in");
                Parked {
                    browser,
                    tx,
                    csrf,
                    user: self.erin.clone(),
                    passkey_options: None,
                    sign_in_options,
                    seed: None,
                    callback: None,
                }
            }
            State::PasswordAfterNoAccess => {
                let browser = browser();
                let pkce = Pkce::new();
                let params = params_for("guarded", GUARDED_CB, &pkce);
                let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
                let page = sign_in_with(
                    &browser,
                    &app.address,
                    &location(&response),
                    &self.dave.username,
                    &self.dave.password,
                )
                .await;
                assert_eq!(page.status(), 403, "dave may not use guarded");
                let html = page.text().await.unwrap();
                let start = html.find("/login?tx=").expect("a way to sign in as someone else");
                let link = &html[start..start + html[start..].find('"').unwrap()];
                let html = text(&browser, app, link).await;
                let (tx, csrf) = (hidden_field(&html, "tx").unwrap(), hidden_field(&html, "csrf_token").unwrap());
                let sign_in_options = options_in(&html);
                Parked {
                    browser,
                    tx,
                    csrf,
                    user: self.erin.clone(),
                    passkey_options: None,
                    sign_in_options,
                    seed: None,
                    callback: None,
                }
            }
            State::Reauthentication => {
                // alice (password, code): her passkey can answer it too.
                let parked = self.code_step().await;
                let form = [("tx", parked.tx), ("csrf_token", parked.csrf), ("code", self.alice_code())];
                let response = parked.browser.post(app.url("/login/code")).form(&form).send().await.unwrap();
                assert!(location(&response).starts_with(WEB_CB), "{}", location(&response));
                let browser = parked.browser;
                let html = text(&browser, app, "/account/tokens").await;
                let csrf = hidden_field(&html, "csrf_token").unwrap();
                app.clock.advance(301);
                let form = [("csrf_token", csrf.as_str()), ("app", "web"), ("expires_days", "1")];
                let response = browser.post(app.url("/account/tokens")).form(&form).send().await.unwrap();
                let login = location(&response);
                assert!(login.starts_with("/login?tx="), "{login}");
                let html = text(&browser, app, &login).await;
                assert!(html.contains("Confirm it"), "the confirm page");
                let sign_in_options = options_in(&html);
                let (tx, user) = (tx_of(&login), self.alice.clone());
                Parked { tx, csrf, browser, user, passkey_options: None, sign_in_options, seed: None, callback: None }
            }
            State::Code => self.code_step().await,
            State::AccountCode => {
                let browser = browser();
                let response = browser.get(app.url("/account/")).send().await.unwrap();
                let response = sign_in_with(
                    &browser,
                    &app.address,
                    &location(&response),
                    &self.alice.username,
                    &self.alice.password,
                )
                .await;
                let next =
                    response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
                assert!(next.starts_with("/login/code?tx="), "{next}");
                let html = text(&browser, app, &next).await;
                Parked {
                    tx: tx_of(&next),
                    csrf: hidden_field(&html, "csrf_token").unwrap(),
                    browser,
                    user: self.alice.clone(),
                    passkey_options: options_in(&html),
                    sign_in_options: None,
                    seed: None,
                    callback: None,
                }
            }
            State::Enrollment => {
                // A new user each time: the legal enrollment gives its user a factor.
                let n = self.fresh.fetch_add(1, Ordering::Relaxed);
                let user = app.add_user(&format!("newcomer{n}"), &[]);
                let browser = browser();
                let next = self.password_at(&browser, "secure", SECURE_CB, &user).await;
                assert!(next.starts_with("/login/enroll?tx="), "{next}");
                let html = text(&browser, app, &next).await;
                Parked {
                    tx: tx_of(&next),
                    csrf: hidden_field(&html, "csrf_token").unwrap(),
                    browser,
                    user,
                    passkey_options: None,
                    sign_in_options: None,
                    seed: Some(secret_of(&html)),
                    callback: None,
                }
            }
            State::Consent => {
                let browser = browser();
                let next = self.password_at(&browser, "asks", ASKS_CB, &self.carol).await;
                assert!(next.starts_with("/consent?tx="), "{next}");
                let html = text(&browser, app, &next).await;
                Parked {
                    tx: tx_of(&next),
                    csrf: hidden_field(&html, "csrf_token").unwrap(),
                    browser,
                    user: self.carol.clone(),
                    passkey_options: None,
                    sign_in_options: None,
                    seed: None,
                    callback: None,
                }
            }
            State::CodeOfAnotherBrowser => {
                let victim = self.code_step().await;
                // The attacker's own browser, with a CSRF cookie and token of its own.
                let own = Box::pin(self.build(State::Password)).await;
                Parked { browser: own.browser, csrf: own.csrf, ..victim }
            }
            State::CodeExpired => {
                let parked = self.code_step().await;
                app.clock.advance(601);
                parked
            }
            State::ConsentOfAnotherUser => {
                let parked = Box::pin(self.build(State::Consent)).await;
                let pkce = Pkce::new();
                let mut params = params_for("web", WEB_CB, &pkce);
                params.push(("prompt", "login"));
                let response =
                    parked.browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
                let response = sign_in_with(
                    &parked.browser,
                    &app.address,
                    &location(&response),
                    &self.erin.username,
                    &self.erin.password,
                )
                .await;
                assert!(location(&response).starts_with(WEB_CB), "the browser is erin's now");
                parked
            }
            State::CodeAfterPasswordChange => {
                let parked = self.code_step().await;
                let password_hash = bcrypt::hash(&self.alice.password, 4).unwrap();
                app.admin(AdminCommand::UserPasswd { username: "alice".into(), password_hash }).unwrap();
                parked
            }
            State::CodeAfterDisable => {
                let parked = self.code_step().await;
                app.admin(AdminCommand::UserDisable { username: "alice".into(), disabled: true }).unwrap();
                parked
            }
            State::Done => {
                let parked = self.code_step().await;
                let form =
                    [("tx", parked.tx.clone()), ("csrf_token", parked.csrf.clone()), ("code", self.alice_code())];
                let response = parked.browser.post(app.url("/login/code")).form(&form).send().await.unwrap();
                assert!(location(&response).starts_with(WEB_CB), "the code step completes");
                parked
            }
            State::Upstream => {
                let parked = Box::pin(self.build(State::Password)).await;
                let form =
                    [("tx", parked.tx.clone()), ("csrf_token", parked.csrf.clone()), ("source", "github".into())];
                let response = parked.browser.post(app.url("/login/source")).form(&form).send().await.unwrap();
                assert_eq!(response.status(), 303, "off to GitHub");
                let at_github = parked.browser.get(location(&response)).send().await.unwrap();
                // To the redirect URI, on the host this browser holds its cookies for.
                let callback = location(&at_github).replace("//localhost:", "//127.0.0.1:");
                let tx = query_of(&callback)["state"].clone();
                Parked { tx, callback: Some(callback), ..parked }
            }
            State::DeviceApproval => {
                let asked: serde_json::Value = reqwest::Client::new()
                    .post(app.url("/application/o/device/"))
                    .form(&[("client_id", "tv"), ("scope", "openid")])
                    .send()
                    .await
                    .unwrap()
                    .json()
                    .await
                    .unwrap();
                let browser = browser();
                let html = text(&browser, app, "/device").await;
                let form = [
                    ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
                    ("code", asked["user_code"].as_str().unwrap().to_owned()),
                ];
                let response = browser.post(app.url("/device")).form(&form).send().await.unwrap();
                let response = sign_in_with(
                    &browser,
                    &app.address,
                    &location(&response),
                    &self.erin.username,
                    &self.erin.password,
                )
                .await;
                let next = location(&response);
                assert!(next.starts_with("/device/approve?tx="), "{next}");
                let html = text(&browser, app, &next).await;
                Parked {
                    tx: tx_of(&next),
                    csrf: hidden_field(&html, "csrf_token").unwrap(),
                    browser,
                    user: self.erin.clone(),
                    passkey_options: None,
                    sign_in_options: None,
                    seed: None,
                    callback: None,
                }
            }
            State::SignOutPending => {
                let browser = browser();
                let next = self.password_at(&browser, "web", WEB_CB, &self.erin).await;
                assert!(next.starts_with(WEB_CB), "{next}");
                let html = text(&browser, app, "/application/o/web/end-session/?client_id=web").await;
                let (tx, csrf) = (hidden_field(&html, "tx").unwrap(), hidden_field(&html, "csrf_token").unwrap());
                Parked {
                    browser,
                    tx,
                    csrf,
                    user: self.erin.clone(),
                    passkey_options: None,
                    sign_in_options: None,
                    seed: None,
                    callback: None,
                }
            }
        }
    }

    /// After the cell: what the state changed outside the sign-in is undone.
    fn restore(&self, state: State) {
        if state == State::CodeAfterDisable {
            self.app.admin(AdminCommand::UserDisable { username: "alice".into(), disabled: false }).unwrap();
        }
    }

    /// The form a route takes, filled in as the legal request would be
    /// (right password, right code, a valid assertion), so that a refusal
    /// is the state's doing, not a wrong answer's.
    async fn fields(&mut self, route: Route, parked: &Parked) -> Vec<(&'static str, String)> {
        let mut form = vec![("tx", parked.tx.clone()), ("csrf_token", parked.csrf.clone())];
        match route {
            Route::SignIn(SignInRoute::SubmitPassword) => {
                form.push(("username", parked.user.username.clone()));
                form.push(("password", parked.user.password.clone()));
            }
            Route::SignIn(SignInRoute::SubmitCode) => form.push(("code", self.alice_code())),
            Route::SignIn(SignInRoute::SubmitPasskey) => {
                let options = match &parked.passkey_options {
                    Some(options) => options.clone(),
                    // A valid assertion for another sign-in's challenge.
                    None => self.code_step().await.passkey_options.unwrap(),
                };
                let options: RequestChallengeResponse = serde_json::from_str(&options).unwrap();
                let answer = self.alice_key.do_authentication(origin(&self.app), options).unwrap();
                form.push(("credential", serde_json::to_string(&answer).unwrap()));
            }
            Route::SignIn(SignInRoute::SignInWithPasskey) => {
                let options = match &parked.sign_in_options {
                    Some(options) => options.clone(),
                    // A valid assertion for another sign-in's challenge.
                    None => self.sign_in_page().await,
                };
                let (key, credential, sub) = (&mut self.alice_key, &self.alice_credential, &self.alice.sub);
                form.push(("credential", discoverable_answer(key, origin(&self.app), &options, credential, sub)));
            }
            Route::SignIn(SignInRoute::SubmitEnroll) => {
                let code = match &parked.seed {
                    Some(seed) => oathtool(seed, self.app.clock.now()),
                    None => self.alice_code(),
                };
                form.push(("code", code));
            }
            Route::SignIn(SignInRoute::SubmitConsent) => form.push(("decision", "allow".into())),
            Route::SignIn(SignInRoute::SubmitDeviceApproval) => form.push(("decision", "approve".into())),
            Route::SignIn(SignInRoute::SubmitSource) => form.push(("source", "github".into())),
            Route::SignOutConfirm => form.push(("decision", "sign_out".into())),
            Route::SignIn(SignInRoute::ShowPassword)
            | Route::SignIn(SignInRoute::ShowCode)
            | Route::SignIn(SignInRoute::ShowEnroll)
            | Route::SignIn(SignInRoute::ShowConsent)
            | Route::SignIn(SignInRoute::ShowDeviceApproval)
            | Route::SignIn(SignInRoute::SourceCallback) => {}
        }
        form
    }
}

/// alice's TOTP (set up at sign-in to `secure`) and a passkey (added on
/// her account page).
async fn give_alice_factors(app: &TestApp, alice: &TestUser) -> (String, WebauthnAuthenticator<SoftPasskey>, String) {
    let browser = browser();
    let pkce = Pkce::new();
    let params = params_for("secure", SECURE_CB, &pkce);
    let response = browser.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), &alice.username, &alice.password).await;
    let html = text(&browser, app, &location(&response)).await;
    let secret = secret_of(&html);
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("code", oathtool(&secret, app.clock.now())),
    ];
    let response = browser.post(app.url("/login/enroll")).form(&form).send().await.unwrap();
    assert!(location(&response).starts_with(SECURE_CB), "alice has an authenticator app");

    let html = text(&browser, app, "/account/mfa").await;
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("name", "soft key"), ("current_password", alice.password.as_str())];
    let page = browser.post(app.url("/account/mfa/passkey")).form(&form).send().await.unwrap().text().await.unwrap();
    let options = serde_json::from_str(&options_in(&page).unwrap()).unwrap();
    let mut key = WebauthnAuthenticator::new(SoftPasskey::new(true));
    let answer = key.do_registration(origin(app), options).expect("the soft key registers");
    let form = [
        ("csrf_token", csrf),
        ("ceremony", hidden_field(&page, "ceremony").unwrap()),
        ("credential", serde_json::to_string(&answer).unwrap()),
    ];
    let response = browser.post(app.url("/account/mfa/passkey/finish")).form(&form).send().await.unwrap();
    assert_eq!(location(&response), "/account/mfa?done=passkey");
    (secret, key, serde_json::to_value(&answer.raw_id).unwrap().as_str().unwrap().to_owned())
}

#[tokio::test]
async fn every_sign_in_route_goes_on_only_from_the_state_it_accepts_and_changes_nothing_otherwise() {
    let mut world = World::new().await;
    let mut legal = 0;
    for route in Route::all() {
        for state in STATES {
            let parked = world.build(state).await;
            let form = world.fields(route, &parked).await;
            let before = world.app.state.store.fingerprint_with_parked().unwrap();
            let (method, path) = route.method_and_path();
            let url = match (route, &parked.callback) {
                // GitHub's own answer, code and all.
                (Route::SignIn(SignInRoute::SourceCallback), Some(callback)) => callback.clone(),
                (Route::SignIn(SignInRoute::SourceCallback), None) => {
                    world.app.url(&format!("{path}?state={}&code=code1", parked.tx))
                }
                _ => world.app.url(&format!("{path}?tx={}", parked.tx)),
            };
            let response = match method {
                "GET" => parked.browser.get(url).send().await,
                _ => parked.browser.post(world.app.url(&path)).form(&form).send().await,
            }
            .unwrap();
            let status = response.status().as_u16();
            let cell = format!("{method} {path} from {state:?}");
            if route.is_legal_from(state) {
                legal += 1;
                let next =
                    response.headers().get("location").map(|l| l.to_str().unwrap().to_owned()).unwrap_or_default();
                assert!(
                    status == 200 || (status == 303 && !next.is_empty()),
                    "{cell}: the legal step goes on, got {status} {next}"
                );
            } else {
                let after = world.app.state.store.fingerprint_with_parked().unwrap();
                let body = response.text().await.unwrap();
                assert!(status == 400 || status == 403, "{cell}: refused, got {status}: {body}");
                assert!(body.contains("Nothing was changed") || body.contains("refused"), "{cell}: {body}");
                assert_eq!(after, before, "{cell}: a refused request changed the store");
            }
            world.restore(state);
        }
    }
    // Each route has at least one state it accepts: none is dead code.
    assert!(legal >= Route::all().len(), "{legal} legal cells");
}

#[tokio::test]
async fn a_password_alone_cannot_set_up_a_new_factor_for_an_account_that_has_one() {
    // The reported attack: alice's password, then /login/enroll instead of
    // /login/code. No factor is created and no code is issued.
    let world = World::new().await;
    let parked = world.code_step().await;
    let factors = || world.app.admin(AdminCommand::UserMfa { username: "alice".into() }).unwrap();
    let before = factors();
    let enroll = parked.browser.get(world.app.url(&format!("/login/enroll?tx={}", parked.tx))).send().await.unwrap();
    assert_eq!(enroll.status(), 400);
    assert!(!enroll.text().await.unwrap().contains("totp-secret"), "no seed is shown");
    let form = [("tx", parked.tx.clone()), ("csrf_token", parked.csrf.clone()), ("code", "123456".to_owned())];
    let submitted = parked.browser.post(world.app.url("/login/enroll")).form(&form).send().await.unwrap();
    assert_eq!(submitted.status(), 400);
    assert_eq!(factors(), before, "alice's factors are as they were");
    // The real step still works.
    let form = [("tx", parked.tx.clone()), ("csrf_token", parked.csrf.clone()), ("code", world.alice_code())];
    let response = parked.browser.post(world.app.url("/login/code")).form(&form).send().await.unwrap();
    assert!(location(&response).starts_with(WEB_CB));
}
