//! A small local server that answers GitHub's documented OAuth and REST
//! endpoints, because GitHub itself cannot be reached from the test
//! machine. The response shapes are GitHub's, as its REST docs record
//! them (docs.github.com/en/rest/users/users, /users/emails,
//! /orgs/orgs#list-organizations-for-the-authenticated-user,
//! /teams/teams#list-teams-for-the-authenticated-user, and
//! /apps/oauth-apps/authorizing-oauth-apps), trimmed to the fields that
//! matter plus a few others. It checks what GitHub checks: the client's
//! secret, the code (once), the redirect URI, the PKCE verifier, and the
//! bearer token on API calls. Its authorize endpoint approves at once (the
//! real one shows GitHub's own page first).

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

pub const CLIENT_ID: &str = "Iv1.fake0123456789";
pub const CLIENT_SECRET: &str = "fake-github-client-secret-0123456789";

/// Who is signed in at the fake GitHub, and their memberships.
#[derive(Clone)]
pub struct GithubUser {
    pub id: u64,
    pub login: String,
    pub name: String,
    pub email: String,
    pub verified: bool,
    pub orgs: Vec<String>,
    /// `(org, team slug)`.
    pub teams: Vec<(String, String)>,
}

#[derive(Default)]
struct Book {
    user: Option<GithubUser>,
    /// code → (PKCE challenge, redirect URI)
    codes: HashMap<String, (String, String)>,
    tokens: HashMap<String, GithubUser>,
    /// The scope each authorization asked for.
    scopes: Vec<String>,
    calls: Vec<String>,
}

pub struct FakeGithub {
    pub url: String,
    book: Arc<Mutex<Book>>,
    _server: actix_web::dev::ServerHandle,
}

impl FakeGithub {
    pub async fn start(user: GithubUser) -> FakeGithub {
        let book = Arc::new(Mutex::new(Book { user: Some(user), ..Book::default() }));
        let shared = web::Data::from(book.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(shared.clone())
                .route("/login/oauth/authorize", web::get().to(authorize))
                .route("/login/oauth/access_token", web::post().to(access_token))
                .route("/user", web::get().to(user_endpoint))
                .route("/user/emails", web::get().to(emails))
                .route("/user/orgs", web::get().to(orgs))
                .route("/user/teams", web::get().to(teams))
        })
        .workers(1)
        .bind("127.0.0.1:0")
        .unwrap();
        let url = format!("http://127.0.0.1:{}", server.addrs()[0].port());
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        FakeGithub { url, book, _server: handle }
    }

    /// From now on, the account signed in at GitHub.
    pub fn sign_in_as(&self, user: GithubUser) {
        self.book.lock().unwrap().user = Some(user);
    }

    pub fn scopes(&self) -> Vec<String> {
        self.book.lock().unwrap().scopes.clone()
    }

    pub fn calls(&self) -> Vec<String> {
        self.book.lock().unwrap().calls.clone()
    }
}

fn query(req: &HttpRequest) -> HashMap<String, String> {
    url::form_urlencoded::parse(req.query_string().as_bytes()).into_owned().collect()
}

async fn authorize(req: HttpRequest, book: web::Data<Mutex<Book>>) -> HttpResponse {
    let q = query(&req);
    let mut book = book.lock().unwrap();
    book.calls.push("authorize".into());
    if q.get("client_id").map(String::as_str) != Some(CLIENT_ID)
        || q.get("code_challenge_method").map(String::as_str) != Some("S256")
    {
        return HttpResponse::NotFound().finish();
    }
    book.scopes.push(q.get("scope").cloned().unwrap_or_default());
    let code = format!("code{}", book.codes.len() + book.tokens.len() + 1);
    let redirect_uri = q.get("redirect_uri").cloned().unwrap_or_default();
    book.codes.insert(code.clone(), (q.get("code_challenge").cloned().unwrap_or_default(), redirect_uri.clone()));
    let mut back = url::Url::parse(&redirect_uri).unwrap();
    back.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", q.get("state").map(String::as_str).unwrap_or(""));
    HttpResponse::Found().insert_header(("location", back.to_string())).finish()
}

/// GitHub answers a bad code with 200 and an error body.
fn bad_code() -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "error": "bad_verification_code",
        "error_description": "The code passed is incorrect or expired.",
        "error_uri": "https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"
    }))
}

async fn access_token(form: web::Form<HashMap<String, String>>, book: web::Data<Mutex<Book>>) -> HttpResponse {
    let mut book = book.lock().unwrap();
    book.calls.push("access_token".into());
    let field = |name: &str| form.get(name).cloned().unwrap_or_default();
    if field("client_id") != CLIENT_ID || field("client_secret") != CLIENT_SECRET {
        return HttpResponse::Ok().json(json!({ "error": "incorrect_client_credentials" }));
    }
    let Some((challenge, redirect_uri)) = book.codes.remove(&field("code")) else { return bad_code() };
    let verifier = field("code_verifier");
    let computed = ferrid::crypto::secrets::b64url(&ferrid::crypto::secrets::sha256(verifier.as_bytes()));
    if computed != challenge || field("redirect_uri") != redirect_uri {
        return bad_code();
    }
    let token = format!("gho_fake{}", book.tokens.len() + 1);
    let user = book.user.clone().unwrap();
    book.tokens.insert(token.clone(), user);
    HttpResponse::Ok().json(json!({ "access_token": token, "token_type": "bearer", "scope": "read:user,user:email" }))
}

fn bearer(req: &HttpRequest, book: &Mutex<Book>, call: &str) -> Option<GithubUser> {
    let mut book = book.lock().unwrap();
    book.calls.push(call.into());
    let token = req.headers().get("authorization")?.to_str().ok()?.strip_prefix("Bearer ")?.to_owned();
    book.tokens.get(&token).cloned()
}

fn requires_authentication() -> HttpResponse {
    HttpResponse::Unauthorized().json(json!({
        "message": "Requires authentication",
        "documentation_url": "https://docs.github.com/rest/users/users#get-the-authenticated-user",
        "status": "401"
    }))
}

async fn user_endpoint(req: HttpRequest, book: web::Data<Mutex<Book>>) -> HttpResponse {
    let Some(user) = bearer(&req, &book, "user") else { return requires_authentication() };
    HttpResponse::Ok().json(json!({
        "login": user.login,
        "id": user.id,
        "node_id": "MDQ6VXNlcjE=",
        "avatar_url": "https://github.com/images/error/octocat_happy.gif",
        "type": "User",
        "site_admin": false,
        "name": user.name,
        "company": null,
        "blog": "",
        "email": null,
        "two_factor_authentication": true,
        "created_at": "2008-01-14T04:33:35Z"
    }))
}

async fn emails(req: HttpRequest, book: web::Data<Mutex<Book>>) -> HttpResponse {
    let Some(user) = bearer(&req, &book, "emails") else { return requires_authentication() };
    HttpResponse::Ok().json(json!([
        { "email": format!("{}@users.noreply.github.com", user.id), "verified": true, "primary": false, "visibility": null },
        { "email": user.email, "verified": user.verified, "primary": true, "visibility": "public" }
    ]))
}

async fn orgs(req: HttpRequest, book: web::Data<Mutex<Book>>) -> HttpResponse {
    let Some(user) = bearer(&req, &book, "orgs") else { return requires_authentication() };
    let orgs: Vec<Value> = user
        .orgs
        .iter()
        .enumerate()
        .map(|(i, login)| json!({ "login": login, "id": i + 1, "node_id": "MDEyOk9yZ2FuaXphdGlvbjE=", "description": "" }))
        .collect();
    HttpResponse::Ok().json(orgs)
}

async fn teams(req: HttpRequest, book: web::Data<Mutex<Book>>) -> HttpResponse {
    let Some(user) = bearer(&req, &book, "teams") else { return requires_authentication() };
    let teams: Vec<Value> = user
        .teams
        .iter()
        .enumerate()
        .map(|(i, (org, slug))| {
            json!({
                "id": i + 1,
                "name": slug,
                "slug": slug,
                "privacy": "closed",
                "permission": "admin",
                "organization": { "login": org, "id": 1, "node_id": "MDEyOk9yZ2FuaXphdGlvbjE=" }
            })
        })
        .collect();
    HttpResponse::Ok().json(teams)
}
