//! Attacks on signing in through a source, from outside, over HTTP: login
//! CSRF, replayed and racing answers, id_tokens that do not check out,
//! `iss` mix-ups, claims mixed between the id_token and userinfo, linking
//! by address, names and groups of new accounts, re-authentication, and a
//! provider that answers too much.
//!
//! The provider is `Evil`: a small OpenID provider in this process whose
//! answers each test scripts (its own keys, or none, or another's; any
//! claims; `iss` or not). It is lax where a real provider is strict (a
//! code may be redeemed more than once, PKCE is not checked), so that
//! ferrid's own checks are what is tested. GitHub is `fake_github`.

use crate::fake_github::{FakeGithub, GithubUser};
use crate::helpers::*;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use ferrid::admin::AdminCommand;
use ferrid::config::{SourceDecl, SourceKind};
use ferrid::crypto::secrets::b64url;
use ferrid::domain::{GroupName, Slug};
use josekit::jwk::Jwk;
use josekit::jws::JwsSigner;
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

const EVIL_CLIENT: &str = "ferrid";
const EVIL_SECRET: &str = "evil-client-secret-0123456789";
/// What the evil provider's access tokens start with (so a page or log
/// that shows one is caught).
const ACCESS_TOKEN_PREFIX: &str = "evil-access-token-";

/// How the token endpoint answers.
#[derive(Clone, Debug, PartialEq)]
enum TokenMode {
    /// An id_token signed with the key its JWKS publishes.
    Signed,
    /// `alg: none`, no signature.
    AlgNone,
    /// Signed with a key of its own, under the published key's `kid`.
    ForeignKey,
    /// HS256 with the published public key as the secret (key confusion).
    Hmac,
    /// A 307 to this URL (which records what reaches it).
    RedirectTo(String),
}

/// What the authorization response carries as RFC 9207's `iss`.
#[derive(Clone, Debug)]
enum IssParam {
    Own,
    Absent,
    Other(String),
}

/// What the evil provider says; changed by each test between sign-ins.
#[derive(Clone, Debug)]
struct Script {
    sub: String,
    /// Merged over the id_token's usual claims; a null removes one.
    id_claims: Value,
    /// The userinfo answer (None: the subject alone).
    userinfo: Option<Value>,
    userinfo_status: u16,
    token: TokenMode,
    iss_param: IssParam,
    /// `authorization_response_iss_parameter_supported`.
    advertise_iss: bool,
    /// The issuer the discovery document names (None: its own).
    discovery_issuer: Option<String>,
    /// Discovery answers this many bytes, chunked (no length).
    huge_discovery: Option<usize>,
    /// Discovery answers only when `Evil::release` is called.
    hang_discovery: bool,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            sub: "evil-sub-1".into(),
            id_claims: json!({}),
            userinfo: None,
            userinfo_status: 200,
            token: TokenMode::Signed,
            iss_param: IssParam::Own,
            advertise_iss: false,
            discovery_issuer: None,
            huge_discovery: None,
            hang_discovery: false,
        }
    }
}

struct Book {
    url: String,
    script: Script,
    key: Jwk,
    public: Jwk,
    foreign: Jwk,
    /// code → the authorization request's query.
    codes: HashMap<String, HashMap<String, String>>,
    authorizes: Vec<HashMap<String, String>>,
    token_calls: usize,
    /// What reached `/sink` (where a redirecting token endpoint points).
    sink: Vec<String>,
}

struct Evil {
    /// Its issuer too.
    url: String,
    book: Arc<Mutex<Book>>,
    streamed: Arc<AtomicUsize>,
    /// Set true: a hanging discovery answers.
    release: tokio::sync::watch::Sender<bool>,
    /// How many discovery requests came (and hang, if they do).
    discoveries: tokio::sync::watch::Receiver<usize>,
    _server: actix_web::dev::ServerHandle,
}

fn es256_pair(kid: &str) -> (Jwk, Jwk) {
    let pair = josekit::jws::ES256.generate_key_pair().unwrap();
    let mut private = pair.to_jwk_private_key();
    let mut public = pair.to_jwk_public_key();
    private.set_key_id(kid);
    public.set_key_id(kid);
    public.set_algorithm("ES256");
    public.set_key_use("sig");
    (private, public)
}

impl Evil {
    async fn start(script: Script) -> Evil {
        let (key, public) = es256_pair("k1");
        let (foreign, _) = es256_pair("k1");
        let book = Arc::new(Mutex::new(Book {
            url: String::new(),
            script,
            key,
            public,
            foreign,
            codes: HashMap::new(),
            authorizes: vec![],
            token_calls: 0,
            sink: vec![],
        }));
        let streamed = Arc::new(AtomicUsize::new(0));
        let shared = web::Data::from(book.clone());
        let counter = web::Data::from(streamed.clone());
        let (release, released) = tokio::sync::watch::channel(false);
        let released = web::Data::new(released);
        let (hits, discoveries) = tokio::sync::watch::channel(0usize);
        let hits = web::Data::new(hits);
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .app_data(counter.clone())
                .app_data(released.clone())
                .app_data(hits.clone())
                .route("/.well-known/openid-configuration", web::get().to(discovery))
                .route("/authorize", web::get().to(authorize))
                .route("/token", web::post().to(token))
                .route("/userinfo", web::get().to(userinfo))
                .route("/jwks", web::get().to(jwks))
                .route("/sink", web::to(sink))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://127.0.0.1:{}", server.addrs()[0].port());
        book.lock().unwrap().url = url.clone();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Evil { url, book, streamed, release, discoveries, _server: handle }
    }

    fn script(&self, edit: impl FnOnce(&mut Script)) {
        edit(&mut self.book.lock().unwrap().script);
    }

    fn set(&self, script: Script) {
        self.book.lock().unwrap().script = script;
    }

    fn last_authorize(&self) -> HashMap<String, String> {
        self.book.lock().unwrap().authorizes.last().cloned().unwrap_or_default()
    }

    fn token_calls(&self) -> usize {
        self.book.lock().unwrap().token_calls
    }

    fn sink(&self) -> Vec<String> {
        self.book.lock().unwrap().sink.clone()
    }

    fn decl(&self, slug: &str) -> SourceDecl {
        SourceDecl {
            slug: Slug::parse(slug).unwrap(),
            name: "Evil".into(),
            kind: SourceKind::Oidc {
                issuer: self.url.clone(),
                scopes: vec!["openid".into(), "profile".into(), "email".into()],
                username_claim: "preferred_username".into(),
                groups_claim: Some("groups".into()),
            },
            client_id: EVIL_CLIENT.into(),
            client_secret: EVIL_SECRET.into(),
            link_by_email: true,
            create_users: false,
            default_groups: vec![],
            group_map: vec![],
            trust_upstream_mfa: false,
        }
    }
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect()
}

async fn discovery(
    book: web::Data<Mutex<Book>>,
    streamed: web::Data<AtomicUsize>,
    released: web::Data<tokio::sync::watch::Receiver<bool>>,
    hits: web::Data<tokio::sync::watch::Sender<usize>>,
) -> HttpResponse {
    hits.send_modify(|n| *n += 1);
    let (url, script) = {
        let book = book.lock().unwrap();
        (book.url.clone(), book.script.clone())
    };
    if script.hang_discovery {
        let mut released = released.get_ref().clone();
        let _ = released.wait_for(|r| *r).await;
        return HttpResponse::ServiceUnavailable().finish();
    }
    if let Some(total) = script.huge_discovery {
        const CHUNK: usize = 64 * 1024;
        let counter = streamed.into_inner();
        let body = futures_util::stream::unfold(0usize, move |sent| {
            let counter = counter.clone();
            async move {
                if sent >= total {
                    return None;
                }
                counter.fetch_add(CHUNK, Ordering::SeqCst);
                Some((Ok::<_, std::io::Error>(web::Bytes::from(vec![b' '; CHUNK])), sent + CHUNK))
            }
        });
        return HttpResponse::Ok().content_type("application/json").streaming(body);
    }
    HttpResponse::Ok().json(json!({
        "issuer": script.discovery_issuer.clone().unwrap_or_else(|| url.clone()),
        "authorization_endpoint": format!("{url}/authorize"),
        "token_endpoint": format!("{url}/token"),
        "userinfo_endpoint": format!("{url}/userinfo"),
        "jwks_uri": format!("{url}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["ES256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic"],
        "authorization_response_iss_parameter_supported": script.advertise_iss,
    }))
}

async fn authorize(req: HttpRequest, book: web::Data<Mutex<Book>>) -> HttpResponse {
    let q = query(&req);
    let mut book = book.lock().unwrap();
    book.authorizes.push(q.clone());
    let code = format!("evil-code-{}", book.authorizes.len());
    book.codes.insert(code.clone(), q.clone());
    let mut back = url::Url::parse(q.get("redirect_uri").map(String::as_str).unwrap_or("http://invalid/")).unwrap();
    back.query_pairs_mut().append_pair("code", &code).append_pair("state", q.get("state").map_or("", |s| s.as_str()));
    match &book.script.iss_param {
        IssParam::Own => {
            let url = book.url.clone();
            back.query_pairs_mut().append_pair("iss", &url);
        }
        IssParam::Other(other) => {
            back.query_pairs_mut().append_pair("iss", other);
        }
        IssParam::Absent => {}
    }
    HttpResponse::Found().insert_header(("location", back.to_string())).finish()
}

fn jws(header: &Value, claims: &Value, sign: impl FnOnce(&[u8]) -> Vec<u8>) -> String {
    let input = format!("{}.{}", b64url(header.to_string().as_bytes()), b64url(claims.to_string().as_bytes()));
    let signature = sign(input.as_bytes());
    format!("{input}.{}", b64url(&signature))
}

fn now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() as i64
}

async fn token(
    req: HttpRequest,
    form: web::Form<HashMap<String, String>>,
    book: web::Data<Mutex<Book>>,
) -> HttpResponse {
    let mut book = book.lock().unwrap();
    book.token_calls += 1;
    let script = book.script.clone();
    if let TokenMode::RedirectTo(to) = &script.token {
        return HttpResponse::TemporaryRedirect().insert_header(("location", to.clone())).finish();
    }
    let basic = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default();
    if basic != basic_auth(EVIL_CLIENT, EVIL_SECRET) {
        return HttpResponse::Unauthorized().json(json!({ "error": "invalid_client" }));
    }
    // Lax: the code is not used up, and PKCE is not checked.
    let Some(asked) = book.codes.get(form.get("code").map_or("", |c| c.as_str())).cloned() else {
        return HttpResponse::BadRequest().json(json!({ "error": "invalid_grant" }));
    };
    let now = now();
    let mut claims = json!({
        "iss": book.url,
        "aud": EVIL_CLIENT,
        "sub": script.sub,
        "exp": now + 600,
        "iat": now,
        "auth_time": now,
        "preferred_username": script.sub,
        "nonce": asked.get("nonce").cloned().unwrap_or_default(),
    });
    for (name, value) in script.id_claims.as_object().unwrap() {
        if value.is_null() {
            claims.as_object_mut().unwrap().remove(name);
        } else {
            claims[name] = value.clone();
        }
    }
    let id_token = match script.token {
        TokenMode::Signed => {
            let signer = josekit::jws::ES256.signer_from_jwk(&book.key).unwrap();
            jws(&json!({ "alg": "ES256", "kid": "k1", "typ": "JWT" }), &claims, |input| signer.sign(input).unwrap())
        }
        TokenMode::ForeignKey => {
            let signer = josekit::jws::ES256.signer_from_jwk(&book.foreign).unwrap();
            jws(&json!({ "alg": "ES256", "kid": "k1", "typ": "JWT" }), &claims, |input| signer.sign(input).unwrap())
        }
        TokenMode::AlgNone => jws(&json!({ "alg": "none", "kid": "k1" }), &claims, |_| vec![]),
        TokenMode::Hmac => {
            let secret = serde_json::to_string(book.public.as_ref()).unwrap();
            let signer = josekit::jws::HS256.signer_from_bytes(secret.as_bytes()).unwrap();
            jws(&json!({ "alg": "HS256", "kid": "k1", "typ": "JWT" }), &claims, |input| signer.sign(input).unwrap())
        }
        TokenMode::RedirectTo(_) => unreachable!(),
    };
    let access_token = format!("{ACCESS_TOKEN_PREFIX}{}", book.token_calls);
    HttpResponse::Ok().json(json!({
        "access_token": access_token,
        "token_type": "Bearer",
        "expires_in": 600,
        "id_token": id_token,
    }))
}

async fn userinfo(book: web::Data<Mutex<Book>>) -> HttpResponse {
    let script = book.lock().unwrap().script.clone();
    match script.userinfo {
        Some(info) => {
            HttpResponse::build(actix_web::http::StatusCode::from_u16(script.userinfo_status).unwrap()).json(info)
        }
        None => HttpResponse::Ok().json(json!({ "sub": script.sub })),
    }
}

async fn jwks(book: web::Data<Mutex<Book>>) -> HttpResponse {
    let public = Value::Object(book.lock().unwrap().public.as_ref().clone());
    HttpResponse::Ok().json(json!({ "keys": [public] }))
}

async fn sink(req: HttpRequest, body: web::Bytes, book: web::Data<Mutex<Book>>) -> HttpResponse {
    let auth = req.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or_default().to_owned();
    book.lock().unwrap().sink.push(format!("{} {auth} {}", req.uri(), String::from_utf8_lossy(&body)));
    HttpResponse::Ok().json(json!({ "access_token": "x", "id_token": "x" }))
}

// ----- the ferrid under test, and a browser's sign-in -----

/// The ferrid under test, as the browser reaches it.
fn local(app: &TestApp, path: &str) -> String {
    format!("{}{path}", app.address.replace("127.0.0.1", "localhost"))
}

/// The ferrid under test at `localhost`, with `sources` and extra
/// applications (YAML list items).
async fn local_app(sources: Vec<SourceDecl>, extra_apps: &str) -> TestApp {
    spawn_app_tuned(
        |yaml| {
            format!("{yaml}{extra_apps}")
                .replace("public_url: http://127.0.0.1", "public_url: http://localhost")
                .replace(
                    "rate_limits: { userinfo: 20 }",
                    "rate_limits: { userinfo: 20, sign_in: 100000, authorize: 100000, pages: 100000 }",
                )
        },
        move |config| config.sources = sources,
    )
    .await
}

fn set_email(app: &TestApp, username: &str, email: &str, verified: bool) {
    app.admin(AdminCommand::UserUpdate {
        username: username.into(),
        name: None,
        email: Some(email.into()),
        email_verified: Some(verified),
    })
    .unwrap();
}

fn user(app: &TestApp, name: &str) -> Option<ferrid::store::User> {
    app.state.store.user_by_name(&ferrid::domain::Username::parse(name).unwrap()).unwrap()
}

fn user_count(app: &TestApp) -> usize {
    app.state.store.users().unwrap().len()
}

/// The sign-in page of a new authorization request to `client`, in `browser`.
async fn sign_in_page(app: &TestApp, browser: &reqwest::Client, client: (&str, &str), pkce: &Pkce) -> String {
    let params = [
        ("response_type", "code"),
        ("client_id", client.0),
        ("redirect_uri", client.1),
        ("scope", "openid email profile"),
        ("state", "st"),
        ("nonce", "n"),
        ("code_challenge", pkce.challenge.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let response = browser.get(local(app, "/application/o/authorize/")).query(&params).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let page = browser.get(local(app, &location(&response))).send().await.unwrap();
    assert_eq!(page.status(), 200);
    page.text().await.unwrap()
}

/// Presses the page's button for `source`.
async fn press(app: &TestApp, browser: &reqwest::Client, html: &str, source: &str) -> reqwest::Response {
    let form = [
        ("tx", hidden_field(html, "tx").unwrap()),
        ("csrf_token", hidden_field(html, "csrf_token").unwrap()),
        ("source", source.to_owned()),
    ];
    browser.post(local(app, "/login/source")).form(&form).send().await.unwrap()
}

/// At the provider (it approves at once): its answer, a URL of ferrid's callback.
async fn at_provider(browser: &reqwest::Client, authorize: &str) -> String {
    let response = browser.get(authorize).send().await.unwrap();
    assert_eq!(response.status(), 302, "the provider approves");
    location(&response)
}

/// A sign-in to `client` through `source` up to the provider's answer
/// (not yet delivered to ferrid).
async fn answer_for(
    app: &TestApp,
    browser: &reqwest::Client,
    client: (&str, &str),
    source: &str,
    pkce: &Pkce,
) -> String {
    let html = sign_in_page(app, browser, client, pkce).await;
    let response = press(app, browser, &html, source).await;
    assert_eq!(response.status(), 303, "off to the provider");
    at_provider(browser, &location(&response)).await
}

/// A whole sign-in to `web` through `source`: the callback's response.
async fn through(app: &TestApp, browser: &reqwest::Client, source: &str, pkce: &Pkce) -> reqwest::Response {
    let back = answer_for(app, browser, ("web", WEB_CB), source, pkce).await;
    browser.get(back).send().await.unwrap()
}

/// The `sub` ferrid's id_token gives `web`, if `response` went back to it
/// with a code.
async fn signed_in_as(app: &TestApp, response: &reqwest::Response, pkce: &Pkce) -> Option<String> {
    let next = response.headers().get("location")?.to_str().ok()?.to_owned();
    if !next.starts_with(WEB_CB) {
        return None;
    }
    let code = query_of(&next).get("code")?.clone();
    let tokens: Value = app.redeem_web_code(&code, pkce).await.json().await.unwrap();
    Some(claims_of(tokens["id_token"].as_str()?)["sub"].as_str()?.to_owned())
}

fn claims_of(jwt: &str) -> Value {
    let payload = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&ferrid::crypto::secrets::b64url_decode(payload).unwrap()).unwrap()
}

async fn body(response: reqwest::Response) -> (u16, String) {
    (response.status().as_u16(), response.text().await.unwrap())
}

/// A ferrid with the evil provider as its source `evil`, changed by `edit`.
async fn with_evil(script: Script, edit: impl FnOnce(&mut SourceDecl), extra_apps: &str) -> (TestApp, Evil) {
    let evil = Evil::start(script).await;
    let mut decl = evil.decl("evil");
    edit(&mut decl);
    (local_app(vec![decl], extra_apps).await, evil)
}

fn identities(app: &TestApp, name: &str) -> usize {
    user(app, name).map_or(0, |u| u.identities.len())
}

// ----- login CSRF, replay, races -----

#[tokio::test]
async fn an_answer_from_the_attackers_sign_in_does_not_sign_in_the_victims_browser() {
    let (app, _evil) = with_evil(Script::default(), |s| s.create_users = true, "").await;
    // The attacker signs in at the provider as themself, and stops before
    // the answer reaches ferrid: its URL is the bait.
    let attacker = browser();
    let bait = answer_for(&app, &attacker, ("web", WEB_CB), "evil", &Pkce::new()).await;
    // The victim has a sign-in of their own going (so a CSRF cookie).
    let victim = browser();
    let victim_pkce = Pkce::new();
    sign_in_page(&app, &victim, ("web", WEB_CB), &victim_pkce).await;
    let users = user_count(&app);
    let response = victim.get(&bait).send().await.unwrap();
    assert_eq!(response.status(), 403, "another browser's sign-in");
    assert!(response.headers().get("set-cookie").is_none_or(|c| !c.to_str().unwrap().contains("session")));
    assert_eq!(user_count(&app), users, "no account made for the attacker's upstream account");
    // The victim is not signed in to ferrid.
    let account = victim.get(local(&app, "/account/")).send().await.unwrap();
    assert_eq!(account.status(), 303, "no session in the victim's browser");

    // The other way: the victim's answer in the attacker's browser.
    let victim_answer = answer_for(&app, &victim, ("web", WEB_CB), "evil", &victim_pkce).await;
    let stolen = attacker.get(&victim_answer).send().await.unwrap();
    assert_eq!(stolen.status(), 403);
    // And the victim's own goes on (nothing was used up by the attempt).
    let response = victim.get(&victim_answer).send().await.unwrap();
    assert!(signed_in_as(&app, &response, &victim_pkce).await.is_some());
}

#[tokio::test]
async fn two_answers_racing_on_one_state_sign_in_once_and_a_replay_is_refused() {
    let (app, evil) = with_evil(Script::default(), |s| s.create_users = true, "").await;
    evil.script(|s| s.id_claims = json!({ "preferred_username": "racer" }));
    let browser = browser();
    let pkce = Pkce::new();
    let back = answer_for(&app, &browser, ("web", WEB_CB), "evil", &pkce).await;
    let users = user_count(&app);
    // The provider lets a code be redeemed twice: only ferrid stands between.
    let tries = (0..4).map(|_| browser.get(&back).send());
    let responses: Vec<reqwest::Response> =
        futures_util::future::join_all(tries).await.into_iter().map(Result::unwrap).collect();
    let signed_in = responses
        .iter()
        .filter(|r| r.headers().get("location").is_some_and(|l| l.to_str().unwrap().starts_with(WEB_CB)));
    assert_eq!(signed_in.count(), 1, "{:?}", responses.iter().map(|r| r.status()).collect::<Vec<_>>());
    assert_eq!(user_count(&app), users + 1, "one account");
    assert_eq!(identities(&app, "racer"), 1);
    // Replayed later.
    let (status, _) = body(browser.get(&back).send().await.unwrap()).await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn a_code_from_another_sign_in_injected_into_mine_is_refused_by_the_nonce() {
    // The attacker holds a code issued for someone else's sign-in (leaked
    // from a log or a referrer) and delivers it to their own sign-in's
    // callback with their own state. The provider is lax about PKCE.
    let (app, evil) = with_evil(Script::default(), |s| s.create_users = true, "").await;
    evil.script(|s| {
        s.sub = "victim-upstream".into();
        s.id_claims = json!({ "preferred_username": "victim" });
    });
    let victim = browser();
    let victims = answer_for(&app, &victim, ("web", WEB_CB), "evil", &Pkce::new()).await;
    let stolen_code = query_of(&victims)["code"].clone();

    let attacker = browser();
    let mine = answer_for(&app, &attacker, ("web", WEB_CB), "evil", &Pkce::new()).await;
    let mut injected = url::Url::parse(&mine).unwrap();
    let pairs: Vec<(String, String)> = injected
        .query_pairs()
        .map(|(k, v)| {
            let v = if k == "code" { stolen_code.clone() } else { v.into_owned() };
            (k.into_owned(), v)
        })
        .collect();
    injected.query_pairs_mut().clear().extend_pairs(pairs);
    let users = user_count(&app);
    let (status, _) = body(attacker.get(injected.as_str()).send().await.unwrap()).await;
    assert_eq!(status, 400, "the id_token names the victim's sign-in's nonce");
    assert_eq!(user_count(&app), users);
}

// ----- what the provider answers -----

#[tokio::test]
async fn id_tokens_that_do_not_check_out_are_refused_and_change_nothing() {
    let (app, evil) = with_evil(Script::default(), |s| s.create_users = true, "").await;
    let other_iss = "http://127.0.0.1:1".to_owned();
    let cases: Vec<(&str, TokenMode, Value)> = vec![
        ("alg none", TokenMode::AlgNone, json!({})),
        ("signed by another key under the same kid", TokenMode::ForeignKey, json!({})),
        ("HS256 keyed with the public key", TokenMode::Hmac, json!({})),
        ("another audience", TokenMode::Signed, json!({ "aud": "someone-else" })),
        ("two audiences, no azp", TokenMode::Signed, json!({ "aud": [EVIL_CLIENT, "other"] })),
        ("another authorized party", TokenMode::Signed, json!({ "azp": "other" })),
        ("another issuer", TokenMode::Signed, json!({ "iss": other_iss })),
        ("the issuer with a trailing slash", TokenMode::Signed, json!({ "iss": format!("{}/", evil.url) })),
        ("another nonce", TokenMode::Signed, json!({ "nonce": "not-this-sign-ins" })),
        ("no nonce", TokenMode::Signed, json!({ "nonce": null })),
        ("an empty nonce", TokenMode::Signed, json!({ "nonce": "" })),
        ("expired an hour ago", TokenMode::Signed, json!({ "exp": now() - 3600 })),
        ("exp as a string", TokenMode::Signed, json!({ "exp": "99999999999" })),
        ("issued in the future", TokenMode::Signed, json!({ "iat": now() + 3600 })),
        ("no subject", TokenMode::Signed, json!({ "sub": null })),
        ("an empty subject", TokenMode::Signed, json!({ "sub": "" })),
    ];
    for (i, (why, mode, claims)) in cases.into_iter().enumerate() {
        evil.set(Script {
            sub: format!("forged-{i}"),
            token: mode,
            id_claims: {
                let mut c = claims;
                c["preferred_username"] = json!(format!("forged{i}"));
                c
            },
            ..Script::default()
        });
        let users = user_count(&app);
        let pkce = Pkce::new();
        let response = through(&app, &browser(), "evil", &pkce).await;
        let status = response.status().as_u16();
        assert!(signed_in_as(&app, &response, &pkce).await.is_none(), "{why}: signed in");
        assert_eq!(status, 400, "{why}");
        assert_eq!(user_count(&app), users, "{why}: an account was made");
    }
    // The same provider, answering properly: in.
    evil.set(Script { id_claims: json!({ "preferred_username": "fine" }), ..Script::default() });
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "evil", &pkce).await;
    assert!(signed_in_as(&app, &response, &pkce).await.is_some(), "the control case signs in");
}

#[tokio::test]
async fn an_iss_in_the_answer_must_name_the_source() {
    let script = Script { advertise_iss: true, ..Script::default() };
    let (app, evil) = with_evil(script, |s| s.create_users = true, "").await;
    for (why, iss) in [
        ("another provider's iss (a mix-up)", IssParam::Other("https://accounts.example".into())),
        ("no iss from a provider that always sends it", IssParam::Absent),
    ] {
        evil.script(|s| s.iss_param = iss);
        let before = evil.token_calls();
        let (status, _) = body(through(&app, &browser(), "evil", &Pkce::new()).await).await;
        assert_eq!(status, 400, "{why}");
        assert_eq!(evil.token_calls(), before, "{why}: the code was sent to a token endpoint");
    }
    evil.script(|s| s.iss_param = IssParam::Own);
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "evil", &pkce).await;
    assert!(signed_in_as(&app, &response, &pkce).await.is_some());
}

#[tokio::test]
async fn a_discovery_document_that_names_another_issuer_is_not_used() {
    let script = Script { discovery_issuer: Some("https://accounts.example".into()), ..Script::default() };
    let (app, evil) = with_evil(script, |s| s.create_users = true, "").await;
    let browser = browser();
    let html = sign_in_page(&app, &browser, ("web", WEB_CB), &Pkce::new()).await;
    let (status, _) = body(press(&app, &browser, &html, "evil").await).await;
    assert_eq!(status, 400);
    assert!(evil.last_authorize().is_empty(), "the browser was not sent there");
}

#[tokio::test]
async fn a_token_endpoint_that_redirects_gets_the_code_and_secret_nowhere_else() {
    let (app, evil) = with_evil(Script::default(), |s| s.create_users = true, "").await;
    let sink = format!("{}/sink", evil.url);
    evil.script(|s| s.token = TokenMode::RedirectTo(sink));
    let response = through(&app, &browser(), "evil", &Pkce::new()).await;
    assert!(response.headers().get("location").is_none());
    assert!(evil.sink().is_empty(), "followed: {:?}", evil.sink());
}

#[tokio::test]
async fn userinfo_for_another_subject_adds_nothing() {
    let script = Script {
        sub: "u1".into(),
        userinfo: Some(json!({ "sub": "u2", "email": "alice@example.org", "email_verified": true })),
        ..Script::default()
    };
    let (app, _evil) = with_evil(script, |_| {}, "").await;
    app.add_user("alice", &[]);
    set_email(&app, "alice", "alice@example.org", true);
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "evil", &pkce).await;
    assert!(signed_in_as(&app, &response, &pkce).await.is_none());
    assert_eq!(identities(&app, "alice"), 0, "linked on another subject's address");
}

#[tokio::test]
async fn userinfo_cannot_make_an_address_the_id_token_calls_unverified_verified() {
    let script = Script {
        id_claims: json!({ "email": "alice@example.org", "email_verified": false }),
        userinfo: Some(json!({ "sub": "evil-sub-1", "email": "alice@example.org", "email_verified": true })),
        ..Script::default()
    };
    let (app, _evil) = with_evil(script, |_| {}, "").await;
    app.add_user("alice", &[]);
    set_email(&app, "alice", "alice@example.org", true);
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "evil", &pkce).await;
    assert!(signed_in_as(&app, &response, &pkce).await.is_none());
    assert_eq!(identities(&app, "alice"), 0);
}

/// The id_token names an address but says nothing of its verification;
/// userinfo vouches for *another* address. The verified flag must not be
/// borrowed from userinfo for the id_token's address.
#[tokio::test]
async fn an_address_and_its_verified_flag_come_from_the_same_answer() {
    let script = Script {
        id_claims: json!({ "email": "alice@example.org" }),
        userinfo: Some(json!({ "sub": "evil-sub-1", "email": "mallory@evil.example", "email_verified": true })),
        ..Script::default()
    };
    let (app, _evil) = with_evil(script, |_| {}, "").await;
    app.add_user("alice", &[]);
    set_email(&app, "alice", "alice@example.org", true);
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "evil", &pkce).await;
    assert!(signed_in_as(&app, &response, &pkce).await.is_none(), "signed in as alice");
    assert_eq!(identities(&app, "alice"), 0, "mallory's upstream account linked to alice");
}

#[tokio::test]
async fn a_huge_answer_from_the_provider_is_not_read_whole() {
    const TOTAL: usize = 96 << 20;
    let script = Script { huge_discovery: Some(TOTAL), ..Script::default() };
    let (app, evil) = with_evil(script, |_| {}, "").await;
    let browser = browser();
    let html = sign_in_page(&app, &browser, ("web", WEB_CB), &Pkce::new()).await;
    let (status, _) = body(press(&app, &browser, &html, "evil").await).await;
    assert_eq!(status, 502);
    let streamed = evil.streamed.load(Ordering::SeqCst);
    assert!(streamed < 24 << 20, "ferrid read {} MiB of a 1 MiB-limited answer", streamed >> 20);
}

#[tokio::test]
async fn a_provider_that_does_not_answer_holds_up_no_one_else() {
    let script = Script { hang_discovery: true, ..Script::default() };
    let (app, evil) = with_evil(script, |_| {}, "").await;
    let alice = app.add_user("alice", &[]);
    let browser = browser();
    let mut pages = vec![];
    for _ in 0..8 {
        pages.push(sign_in_page(&app, &browser, ("web", WEB_CB), &Pkce::new()).await);
    }
    let presses = futures_util::future::join_all(pages.iter().map(|html| press(&app, &browser, html, "evil")));
    let others = async {
        let mut discoveries = evil.discoveries.clone();
        discoveries.wait_for(|n| *n >= 8).await.unwrap();
        // Eight sign-ins wait on the provider; ferrid answers others at
        // once (well inside the 10 s a provider call may take).
        let quick = reqwest::Client::builder().timeout(std::time::Duration::from_secs(5)).build().unwrap();
        let health = quick.get(app.url("/healthz")).send().await.expect("ferrid answers while a provider hangs");
        assert!(health.status().is_success());
        let pkce = Pkce::new();
        let back = app.authorize_and_sign_in(&web_params("openid", &pkce, "n", "s"), &alice).await;
        assert!(back.contains_key("code"), "a password sign-in goes on");
        evil.release.send(true).unwrap();
    };
    let (responses, ()) = futures_util::future::join(presses, others).await;
    for response in responses {
        assert_eq!(response.status(), 502);
    }
}

#[tokio::test]
async fn the_callback_reflects_nothing_and_no_page_shows_the_providers_token_or_ferrids_secret() {
    let script = Script { userinfo: Some(json!({ "error": "boom" })), userinfo_status: 500, ..Script::default() };
    let (app, _evil) = with_evil(script, |s| s.create_users = true, "").await;
    // A parked sign-in, answered with an error the attacker wrote.
    let browser = browser();
    let back = answer_for(&app, &browser, ("web", WEB_CB), "evil", &Pkce::new()).await;
    let state = query_of(&back)["state"].clone();
    let hostile = "<script>alert(1)</script>";
    let url = url::Url::parse_with_params(
        &local(&app, "/source/oauth/callback/evil/"),
        [("state", state.as_str()), ("error", hostile), ("error_description", hostile)],
    )
    .unwrap();
    let (status, page) = body(browser.get(url.as_str()).send().await.unwrap()).await;
    assert_eq!(status, 400);
    assert!(!page.contains("<script>alert"), "reflected");
    // The provider's userinfo fails after the code was redeemed.
    let (status, page) = body(browser.get(&back).send().await.unwrap()).await;
    assert_eq!(status, 502);
    assert!(!page.contains(ACCESS_TOKEN_PREFIX) && !page.contains(EVIL_SECRET), "{page}");
    let events =
        app.admin(AdminCommand::AuditList { since: 0, user: None, app: None, kind: None }).unwrap().to_string();
    assert!(!events.contains(ACCESS_TOKEN_PREFIX) && !events.contains(EVIL_SECRET));
}

// ----- which account -----

#[tokio::test]
async fn an_address_two_accounts_share_links_neither() {
    let script =
        Script { id_claims: json!({ "email": "alice@example.org", "email_verified": true }), ..Script::default() };
    let (app, _evil) = with_evil(script, |_| {}, "").await;
    app.add_user("alice", &[]);
    app.add_user("alice2", &["admins"]);
    set_email(&app, "alice", "Alice@Example.org", true);
    set_email(&app, "alice2", "alice@example.org", true);
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "evil", &pkce).await;
    assert_eq!(response.status(), 403);
    assert_eq!(identities(&app, "alice") + identities(&app, "alice2"), 0);
}

#[tokio::test]
async fn a_secondary_address_github_verified_links_nothing_when_the_primary_is_unverified() {
    let github = FakeGithub::start(GithubUser { verified: false, ..crate::sources::octocat() }).await;
    let mut decl = crate::sources::github_decl(&github, "github");
    decl.link_by_email = true;
    let app = local_app(vec![decl], "").await;
    app.add_user("alice", &[]);
    // The fake lists `{id}@users.noreply.github.com` as verified, not primary.
    set_email(&app, "alice", "583231@users.noreply.github.com", true);
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "github", &pkce).await;
    assert_eq!(response.status(), 403);
    assert_eq!(identities(&app, "alice"), 0);
}

#[tokio::test]
async fn a_new_account_never_takes_an_existing_name_whatever_its_spelling() {
    let (app, evil) = with_evil(Script::default(), |s| s.create_users = true, "").await;
    let alice = app.add_user("alice", &["admins"]);
    for (i, login) in ["alice", "ALICE", " alice ", "Alice\t", "alice\u{0}", "alice/../admin"].into_iter().enumerate() {
        evil.set(Script {
            sub: format!("squatter-{i}"),
            id_claims: json!({ "preferred_username": login }),
            ..Script::default()
        });
        let pkce = Pkce::new();
        let response = through(&app, &browser(), "evil", &pkce).await;
        let sub = signed_in_as(&app, &response, &pkce).await;
        assert_ne!(sub.as_deref(), Some(alice.sub.as_str()), "{login:?} signed in as alice");
        assert_eq!(identities(&app, "alice"), 0, "{login:?} linked to alice");
        let stored = user(&app, "alice").unwrap();
        assert_eq!(stored.groups.len(), 1, "{login:?}");
    }
    // GitHub too: a login that is a ferrid user's name.
    let github = FakeGithub::start(GithubUser { login: "Alice".into(), ..crate::sources::octocat() }).await;
    let mut decl = crate::sources::github_decl(&github, "github");
    decl.create_users = true;
    let app = local_app(vec![decl], "").await;
    let alice = app.add_user("alice", &["admins"]);
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "github", &pkce).await;
    let sub = signed_in_as(&app, &response, &pkce).await.expect("an account is made");
    assert_ne!(sub, alice.sub);
    assert!(user(&app, "alice-github").is_some());
}

#[tokio::test]
async fn upstream_groups_grant_only_what_the_source_maps() {
    let (app, evil) = with_evil(
        Script::default(),
        |s| {
            s.create_users = true;
            s.group_map = vec![("corp-viewers".into(), GroupName::parse("viewers").unwrap())];
        },
        "",
    )
    .await;
    for (i, groups) in [
        json!(["admins", "ferrid-admins", "viewers"]),
        json!({ "corp-viewers": true, "admins": true }),
        json!([["corp-viewers"], { "name": "admins" }]),
        json!("admins"),
        json!(["CORP-VIEWERS", "corp-viewers ", "admins"]),
    ]
    .into_iter()
    .enumerate()
    {
        let name = format!("grouper{i}");
        evil.set(Script {
            sub: name.clone(),
            id_claims: json!({ "preferred_username": name, "groups": groups }),
            ..Script::default()
        });
        let pkce = Pkce::new();
        let response = through(&app, &browser(), "evil", &pkce).await;
        signed_in_as(&app, &response, &pkce).await.expect("signed in");
        assert!(user(&app, &name).unwrap().groups.is_empty(), "{groups}: {:?}", user(&app, &name).unwrap().groups);
    }
}

#[tokio::test]
async fn an_unverified_address_from_a_source_is_not_vouched_for_to_applications() {
    // `trusting` claims every address verified (`email_verified: always`,
    // for apps that demand it): so ferrid must not hold an address nobody
    // verified, taken from an upstream account.
    let trusting_cb = "https://trusting.example/cb";
    let extra = format!(
        "  - slug: trusting\n    client_secret_sha256: {}\n    redirect_uris: [\"{trusting_cb}\"]\n    email_verified: always\n",
        sha256_hex(WEB_SECRET)
    );
    let github = FakeGithub::start(GithubUser {
        email: "ceo@victim.example".into(),
        verified: false,
        ..crate::sources::octocat()
    })
    .await;
    let mut decl = crate::sources::github_decl(&github, "github");
    decl.create_users = true;
    let app = local_app(vec![decl], &extra).await;
    let browser = browser();
    let pkce = Pkce::new();
    let back = answer_for(&app, &browser, ("trusting", trusting_cb), "github", &pkce).await;
    let response = browser.get(back).send().await.unwrap();
    let next = location(&response);
    assert!(next.starts_with(trusting_cb), "{next}");
    let tokens = app.redeem_code("trusting", trusting_cb, &query_of(&next)["code"], &pkce).await;
    let claims = claims_of(tokens["id_token"].as_str().unwrap());
    let vouched = claims["email"] == "ceo@victim.example" && claims["email_verified"] == true;
    assert!(!vouched, "an address GitHub did not verify is sent as verified: {claims}");
}

// ----- second factor, re-authentication -----

#[tokio::test]
async fn the_providers_word_on_a_second_factor_counts_only_where_trusted() {
    let secure_cb = "https://secure.example/cb";
    let extra = format!(
        "  - slug: secure\n    client_secret_sha256: {}\n    redirect_uris: [\"{secure_cb}\"]\n    require_mfa: true\n",
        sha256_hex(WEB_SECRET)
    );
    let script = Script {
        id_claims: json!({ "preferred_username": "mfa-claimer", "amr": ["pwd", "mfa"], "acr": "mfa" }),
        ..Script::default()
    };
    let (app, _evil) = with_evil(script, |s| s.create_users = true, &extra).await;
    let browser = browser();
    let back = answer_for(&app, &browser, ("secure", secure_cb), "evil", &Pkce::new()).await;
    let response = browser.get(back).send().await.unwrap();
    let next = location(&response);
    assert!(next.starts_with("/login/enroll?tx="), "the second factor was skipped: {next}");

    // Where the operator trusts it (trust_upstream_mfa), the provider's
    // mfa signs in with both factors.
    let script = Script {
        id_claims: json!({ "preferred_username": "mfa-claimer", "amr": ["pwd", "mfa"] }),
        ..Script::default()
    };
    let (app, _evil) = with_evil(
        script,
        |s| {
            s.create_users = true;
            s.trust_upstream_mfa = true;
        },
        &extra,
    )
    .await;
    let pkce = Pkce::new();
    let back = answer_for(&app, &browser, ("secure", secure_cb), "evil", &pkce).await;
    let next = location(&browser.get(back).send().await.unwrap());
    assert!(next.starts_with(secure_cb), "trusted: no code asked: {next}");
    let tokens = app.redeem_code("secure", secure_cb, &query_of(&next)["code"], &pkce).await;
    assert_eq!(claims_of(tokens["id_token"].as_str().unwrap())["amr"], json!(["fed", "mfa"]));
}

/// A browser signed in through the evil source as the upstream account
/// `sub` (an account made for it, `name`), five minutes ago; and the
/// response to a privileged action (making a token): the way to the
/// re-authentication's sign-in page.
async fn stale_session_asked_to_reauthenticate(app: &TestApp, evil: &Evil, sub: &str) -> (reqwest::Client, String) {
    evil.set(Script { sub: sub.into(), id_claims: json!({ "preferred_username": sub }), ..Script::default() });
    let browser = browser();
    let pkce = Pkce::new();
    let response = through(app, &browser, "evil", &pkce).await;
    signed_in_as(app, &response, &pkce).await.expect("signed in");
    app.clock.advance(301);
    let html = browser.get(local(app, "/account/tokens")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").expect("the tokens page's form");
    let form = [("csrf_token", csrf.as_str()), ("app", "web"), ("expires_days", "30"), ("description", "t")];
    let response = browser.post(local(app, "/account/tokens")).form(&form).send().await.unwrap();
    assert_eq!(response.status(), 303);
    let login = location(&response);
    assert!(login.starts_with("/login?tx="), "re-authentication asked: {login}");
    (browser, login)
}

/// Is the browser's session fresh enough to make a token now?
async fn may_make_a_token(app: &TestApp, browser: &reqwest::Client) -> bool {
    let html = browser.get(local(app, "/account/tokens")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("app", "web"), ("expires_days", "30"), ("description", "t2")];
    let response = browser.post(local(app, "/account/tokens")).form(&form).send().await.unwrap();
    !(response.status() == 303 && location(&response).starts_with("/login"))
}

#[tokio::test]
async fn a_reauthentication_is_not_finished_by_another_users_upstream_account() {
    let (app, evil) = with_evil(Script::default(), |s| s.create_users = true, "").await;
    // bob's upstream account, linked to bob's ferrid account.
    evil.set(Script { sub: "bob".into(), id_claims: json!({ "preferred_username": "bob" }), ..Script::default() });
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "evil", &pkce).await;
    signed_in_as(&app, &response, &pkce).await.expect("bob signed in");

    let (browser, login) = stale_session_asked_to_reauthenticate(&app, &evil, "alice").await;
    let html = browser.get(local(&app, &login)).send().await.unwrap().text().await.unwrap();
    evil.set(Script { sub: "bob".into(), id_claims: json!({ "preferred_username": "bob" }), ..Script::default() });
    let pressed = press(&app, &browser, &html, "evil").await;
    assert_eq!(pressed.status(), 303);
    let back = at_provider(&browser, &location(&pressed)).await;
    let response = browser.get(back).send().await.unwrap();
    assert_eq!(response.status(), 403);
    assert!(!may_make_a_token(&app, &browser).await, "alice's session was refreshed by bob's account");
}

#[tokio::test]
async fn a_reauthentication_through_a_source_needs_a_fresh_sign_in_there() {
    let (app, evil) = with_evil(Script::default(), |s| s.create_users = true, "").await;
    let (browser, login) = stale_session_asked_to_reauthenticate(&app, &evil, "alice").await;
    let html = browser.get(local(&app, &login)).send().await.unwrap().text().await.unwrap();
    // The provider answers from its own session of an hour ago, ignoring
    // `prompt=login` and `max_age=0` (a lax provider, or a stolen
    // provider session in the same browser).
    evil.set(Script {
        sub: "alice".into(),
        id_claims: json!({ "preferred_username": "alice", "auth_time": now() - 3600 }),
        ..Script::default()
    });
    let pressed = press(&app, &browser, &html, "evil").await;
    let asked = query_of(&location(&pressed));
    assert_eq!(
        (asked.get("prompt").map(String::as_str), asked.get("max_age").map(String::as_str)),
        (Some("login"), Some("0"))
    );
    let back = at_provider(&browser, &location(&pressed)).await;
    let response = browser.get(back).send().await.unwrap();
    assert_ne!(response.status(), 303, "re-authenticated by an hour-old upstream sign-in");
    assert!(!may_make_a_token(&app, &browser).await, "the session was refreshed");

    // Without an auth_time at all (OIDC Core §3.1.2.1: it MUST be there when max_age was asked).
    let (browser, login) = stale_session_asked_to_reauthenticate(&app, &evil, "alice").await;
    let html = browser.get(local(&app, &login)).send().await.unwrap().text().await.unwrap();
    evil.set(Script {
        sub: "alice".into(),
        id_claims: json!({ "preferred_username": "alice", "auth_time": null }),
        ..Script::default()
    });
    let pressed = press(&app, &browser, &html, "evil").await;
    let back = at_provider(&browser, &location(&pressed)).await;
    let response = browser.get(back).send().await.unwrap();
    assert_ne!(response.status(), 303, "re-authenticated with no auth_time");
}

/// A password session re-authenticated through a source (whose word on a
/// second factor the operator trusts) must not pass, at an application
/// that takes no source and wants a second factor, for a ferrid sign-in
/// with a second factor: the session still says it began with ferrid's
/// own password.
#[tokio::test]
async fn a_reauthentication_through_a_source_does_not_pass_for_ferrids_own_factors() {
    let closed_cb = "https://closed.example/cb";
    let extra = format!(
        "  - slug: closed\n    client_secret_sha256: {}\n    redirect_uris: [\"{closed_cb}\"]\n    sources: []\n    require_mfa: true\n",
        sha256_hex(WEB_SECRET)
    );
    let script = Script {
        sub: "alice-upstream".into(),
        id_claims: json!({ "email": "alice@example.org", "email_verified": true, "amr": ["pwd", "mfa"] }),
        ..Script::default()
    };
    let (app, _evil) = with_evil(script, |s| s.trust_upstream_mfa = true, &extra).await;
    let alice = app.add_user("alice", &[]);
    set_email(&app, "alice", "alice@example.org", true);
    // alice's upstream account is linked (by its verified address).
    let pkce = Pkce::new();
    let response = through(&app, &browser(), "evil", &pkce).await;
    assert_eq!(signed_in_as(&app, &response, &pkce).await.as_deref(), Some(alice.sub.as_str()));

    // A session begun with alice's password (no second factor: she has none).
    let browser = browser();
    let response = browser.get(local(&app, "/account/")).send().await.unwrap();
    let login = location(&response);
    let response = sign_in_with(&browser, &local(&app, ""), &login, "alice", &alice.password).await;
    assert_eq!(response.status(), 303);
    // The application wants a second factor and takes no source: not this session.
    let closed_page = |pkce: &Pkce| {
        let params = [
            ("response_type", "code".to_owned()),
            ("client_id", "closed".to_owned()),
            ("redirect_uri", closed_cb.to_owned()),
            ("scope", "openid".to_owned()),
            ("code_challenge", pkce.challenge.clone()),
            ("code_challenge_method", "S256".to_owned()),
        ];
        browser.get(local(&app, "/application/o/authorize/")).query(&params).send()
    };
    let response = closed_page(&Pkce::new()).await.unwrap();
    assert!(location(&response).starts_with("/login"), "{}", location(&response));

    // Five minutes on, a privileged action: re-authenticate, through the source.
    app.clock.advance(301);
    let html = browser.get(local(&app, "/account/tokens")).send().await.unwrap().text().await.unwrap();
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let form = [("csrf_token", csrf.as_str()), ("app", "web"), ("expires_days", "30"), ("description", "t")];
    let response = browser.post(local(&app, "/account/tokens")).form(&form).send().await.unwrap();
    let html = browser.get(local(&app, &location(&response))).send().await.unwrap().text().await.unwrap();
    let pressed = press(&app, &browser, &html, "evil").await;
    let back = at_provider(&browser, &location(&pressed)).await;
    let response = browser.get(back).send().await.unwrap();
    assert_eq!(location(&response), "/account/tokens", "re-authenticated through the source");

    let response = closed_page(&Pkce::new()).await.unwrap();
    let next = location(&response);
    assert!(
        !next.starts_with(closed_cb),
        "an application that takes no source got a session whose second factor is the source's word: {next}"
    );
}
