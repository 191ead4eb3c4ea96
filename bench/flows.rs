//! Drives full OpenID Connect sign-ins against a running ferrid:
//! authorize → sign-in page → sign-in → code → tokens (with a refresh token),
//! `--count` times with `--concurrency` in flight. Every flow leaves one SSO
//! session and one refresh-token family behind, which is what the memory
//! figures need; the timings are the sign-in flow's throughput.
//!
//! `--mode refresh`: each worker signs in once, then redeems its refresh
//! token `--count / --concurrency` times, always with the newest one (each
//! grant rotates it; an old one would revoke the family).
//! `--mode exchange`: each worker signs in once, then, in that browser
//! (its SSO session cookie), runs authorize → code → tokens `--count /
//! --concurrency` times: code exchanges without the sign-in form or bcrypt.
//! `--emit FILE`: the first token response is written there (bench/run.sh
//! uses its access token for userinfo and introspection).
//!
//! cargo run --release --example flows -- --base http://127.0.0.1:9000 \
//!     --client bench --secret S --redirect-uri https://bench.invalid/cb \
//!     --user bench --password P --count 10000 --concurrency 8
//!
//! Any response other than the expected one stops the run with an error:
//! a fast failure is not a result.

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Flow,
    Refresh,
    Exchange,
}

struct Args {
    base: String,
    client: String,
    secret: String,
    redirect_uri: String,
    user: String,
    password: String,
    count: usize,
    concurrency: usize,
    mode: Mode,
    emit: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = std::env::args().skip(1);
    let mut get = std::collections::HashMap::new();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        get.insert(flag.trim_start_matches("--").to_owned(), value);
    }
    let take = |k: &str| get.get(k).cloned().ok_or_else(|| format!("--{k} is required"));
    Ok(Args {
        base: take("base")?,
        client: take("client")?,
        secret: take("secret")?,
        redirect_uri: take("redirect-uri")?,
        user: take("user")?,
        password: take("password")?,
        count: take("count")?.parse().map_err(|_| "--count: a number")?,
        concurrency: take("concurrency").unwrap_or_else(|_| "8".into()).parse().map_err(|_| "--concurrency")?,
        mode: match get.get("mode").map(String::as_str) {
            None | Some("flow") => Mode::Flow,
            Some("refresh") => Mode::Refresh,
            Some("exchange") => Mode::Exchange,
            Some(other) => return Err(format!("--mode {other}: flow, refresh or exchange")),
        },
        emit: get.get("emit").cloned(),
    })
}

fn cookie_pair(response: &reqwest::Response, name: &str) -> Result<String, String> {
    response
        .headers()
        .get_all(SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .and_then(|c| c.split(';').next())
        .map(str::to_owned)
        .ok_or_else(|| format!("no {name} cookie"))
}

fn hidden(html: &str, name: &str) -> Result<String, String> {
    let marker = format!(r#"name="{name}" value=""#);
    let start = html.find(&marker).ok_or_else(|| format!("no {name} field"))? + marker.len();
    let end = html[start..].find('"').ok_or("unterminated field")? + start;
    Ok(html[start..end].replace("&amp;", "&").replace("&#x2F;", "/"))
}

fn location(response: &reqwest::Response) -> Result<String, String> {
    response
        .headers()
        .get(LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| format!("expected a redirect, got {}", response.status()))
}

/// The authorization request (in the browser that holds `session`, if
/// any); the PKCE verifier and the response.
async fn authorize(
    http: &reqwest::Client,
    a: &Args,
    session: Option<&str>,
) -> Result<(String, reqwest::Response), String> {
    let verifier = ferrid::crypto::secrets::random_token().map_err(|e| e.to_string())?;
    let challenge = ferrid::crypto::secrets::b64url(&ferrid::crypto::secrets::sha256(verifier.as_bytes()));
    let mut request = http.get(format!("{}/application/o/authorize/", a.base));
    if let Some(session) = session {
        request = request.header(COOKIE, session);
    }
    let response = request
        .query(&[
            ("response_type", "code"),
            ("client_id", &a.client),
            ("redirect_uri", &a.redirect_uri),
            ("scope", "openid profile offline_access"),
            ("state", "bench"),
            ("nonce", "bench"),
            ("code_challenge", &challenge),
            ("code_challenge_method", "S256"),
        ])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    Ok((verifier, response))
}

/// The code in a redirect to the application.
fn code_of(callback: &str) -> Result<String, String> {
    url::Url::parse(callback)
        .map_err(|e| e.to_string())?
        .query_pairs()
        .find(|(k, _)| k == "code")
        .map(|(_, v)| v.into_owned())
        .ok_or_else(|| format!("no code in {callback}"))
}

/// One sign-in in a new browser; the token response and the session cookie.
async fn one_flow(http: &reqwest::Client, a: &Args) -> Result<(serde_json::Value, String), String> {
    let err = |e: reqwest::Error| e.to_string();
    let (verifier, authorize) = authorize(http, a, None).await?;
    let login = location(&authorize)?;
    let csrf = cookie_pair(&authorize, "ferrid_csrf")?;
    let page = http.get(format!("{}{login}", a.base)).header(COOKIE, &csrf).send().await.map_err(err)?;
    if page.status() != 200 {
        return Err(format!("sign-in page: {}", page.status()));
    }
    let html = page.text().await.map_err(err)?;
    let form = [
        ("tx", hidden(&html, "tx")?),
        ("csrf_token", hidden(&html, "csrf_token")?),
        ("username", a.user.clone()),
        ("password", a.password.clone()),
    ];
    let signed_in =
        http.post(format!("{}/login", a.base)).header(COOKIE, &csrf).form(&form).send().await.map_err(err)?;
    let callback = location(&signed_in)?;
    let session = cookie_pair(&signed_in, "ferrid_session")?;
    let body = exchange(http, a, &code_of(&callback)?, &verifier).await?;
    Ok((body, session))
}

/// A further authorization in a browser already signed in: authorize
/// answers with the code at once.
async fn one_exchange(http: &reqwest::Client, a: &Args, session: &str) -> Result<(), String> {
    let (verifier, authorize) = authorize(http, a, Some(session)).await?;
    let callback = location(&authorize)?;
    if !callback.starts_with(&a.redirect_uri) {
        return Err(format!("authorize with a session went to {callback}, not the application"));
    }
    exchange(http, a, &code_of(&callback)?, &verifier).await.map(drop)
}

/// The code for tokens; the token response.
async fn exchange(http: &reqwest::Client, a: &Args, code: &str, verifier: &str) -> Result<serde_json::Value, String> {
    let err = |e: reqwest::Error| e.to_string();
    let token = http
        .post(format!("{}/application/o/token/", a.base))
        .basic_auth(&a.client, Some(&a.secret))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &a.redirect_uri),
            ("code_verifier", verifier),
        ])
        .send()
        .await
        .map_err(err)?;
    if token.status() != 200 {
        return Err(format!("token: {} {}", token.status(), token.text().await.unwrap_or_default()));
    }
    let body: serde_json::Value = token.json().await.map_err(err)?;
    if body["refresh_token"].as_str().is_none() {
        return Err("no refresh token".into());
    }
    Ok(body)
}

/// One refresh grant; the new refresh token.
async fn one_refresh(http: &reqwest::Client, a: &Args, refresh_token: &str) -> Result<String, String> {
    let response = http
        .post(format!("{}/application/o/token/", a.base))
        .basic_auth(&a.client, Some(&a.secret))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", refresh_token)])
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if response.status() != 200 {
        return Err(format!("refresh: {} {}", response.status(), response.text().await.unwrap_or_default()));
    }
    let body: serde_json::Value = response.json().await.map_err(|e| e.to_string())?;
    body["refresh_token"].as_str().map(str::to_owned).ok_or_else(|| "no rotated refresh token".into())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = std::sync::Arc::new(parse_args()?);
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .pool_max_idle_per_host(args.concurrency)
        .build()
        .map_err(|e| e.to_string())?;
    let next = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.concurrency {
        let (http, args, next) = (http.clone(), args.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let (mut refresh_token, mut session) = (None, None);
            if args.mode != Mode::Flow {
                let (first, cookie) = one_flow(&http, &args).await?;
                refresh_token = first["refresh_token"].as_str().map(str::to_owned);
                session = Some(cookie);
            }
            while next.fetch_add(1, std::sync::atomic::Ordering::Relaxed) < args.count {
                let t = Instant::now();
                match (args.mode, refresh_token.as_mut(), session.as_deref()) {
                    (Mode::Refresh, Some(token), _) => *token = one_refresh(&http, &args, token).await?,
                    (Mode::Exchange, _, Some(session)) => one_exchange(&http, &args, session).await?,
                    _ => {
                        let (body, _) = one_flow(&http, &args).await?;
                        if let Some(path) = args.emit.as_deref().filter(|p| !std::path::Path::new(p).exists()) {
                            std::fs::write(path, body.to_string()).map_err(|e| e.to_string())?;
                        }
                    }
                }
                latencies.push(t.elapsed());
            }
            Ok::<_, String>(latencies)
        }));
    }
    let mut latencies: Vec<Duration> = Vec::new();
    for worker in workers {
        latencies.extend(worker.await.map_err(|e| e.to_string())??);
    }
    let elapsed = started.elapsed();
    if latencies.is_empty() {
        return Err("nothing ran (--count 0?)".into());
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "{}={} seconds={:.2} per_s={:.1} p50_ms={:.2} p99_ms={:.2} non_2xx=0",
        match args.mode {
            Mode::Flow => "flows",
            Mode::Refresh => "refreshes",
            Mode::Exchange => "exchanges",
        },
        latencies.len(),
        elapsed.as_secs_f64(),
        latencies.len() as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1000.0,
        pct(0.99).as_secs_f64() * 1000.0
    );
    Ok(())
}
