//! Floods and slow clients: body size, request-head timeout, connection cap.

use crate::helpers::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

#[tokio::test]
async fn an_oversized_body_is_refused_with_413_and_changes_nothing() {
    let app = spawn_app().await;
    let huge = "a".repeat(200 * 1024);
    let response = reqwest::Client::new()
        .post(app.url("/application/o/token/"))
        .basic_auth("web", Some(WEB_SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("grant_type=client_credentials&scope={huge}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    // An OAuth endpoint refuses in its own form: RFC 6749 JSON.
    let error: serde_json::Value = response.json().await.unwrap();
    assert_eq!(error["error"], "invalid_request", "{error}");
    let trail = app
        .admin(ferrid::admin::AdminCommand::AuditList { since: 0, user: None, app: Some("web".into()), kind: None })
        .unwrap();
    assert!(trail.as_array().unwrap().is_empty(), "no token was issued");

    // The sign-in form refuses with the error page, like its other errors.
    let response = reqwest::Client::new()
        .post(app.url("/login"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("username=a&password={huge}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 413);
    assert!(is_form(&response), "an HTML page");
    assert!(response.text().await.unwrap().contains("larger than this server accepts"));
}

#[tokio::test]
async fn a_client_that_never_finishes_its_request_is_cut_off() {
    let app = spawn_app().await;
    let address = app.address.trim_start_matches("http://").to_owned();
    let elapsed = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // Slowloris: part of a request head, then silence.
        stream.write_all(b"GET /application/o/web/jwks/ HTTP/1.1\r\nHost: x\r\nX-Slow: ").unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 1024];
        // The server answers 408 and/or closes; either way the read ends.
        while let Ok(n) = stream.read(&mut buf) {
            if n == 0 {
                break;
            }
        }
        started.elapsed()
    })
    .await
    .unwrap();
    assert!(elapsed < Duration::from_secs(4), "held the connection for {elapsed:?} with a 1s request timeout");
}

#[tokio::test]
async fn oversized_or_too_many_headers_are_refused_with_431() {
    let app = spawn_app().await;
    let big = reqwest::Client::new()
        .get(app.url("/application/o/web/jwks/"))
        .header("x-big", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 431, "20 KiB of headers, over the 16 KiB default");
    let mut many = reqwest::Client::new().get(app.url("/application/o/web/jwks/"));
    for i in 0..200 {
        many = many.header(format!("x-h{i}"), "v");
    }
    assert_eq!(many.send().await.unwrap().status(), 431, "more headers than actix accepts");
    let fine = reqwest::Client::new()
        .get(app.url("/application/o/web/jwks/"))
        .header("x-ok", "a".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(fine.status(), 200);
}

/// Sends one keep-alive request on `stream` and reads the status line, or
/// None if nothing came back within the stream's read timeout.
fn status_line(stream: &mut TcpStream) -> Option<String> {
    stream.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").ok()?;
    let mut buf = [0u8; 512];
    let n = stream.read(&mut buf).ok()?;
    let text = String::from_utf8_lossy(&buf[..n]);
    text.lines().next().filter(|l| !l.is_empty()).map(str::to_owned)
}

#[tokio::test]
async fn connections_over_the_cap_wait_until_one_closes() {
    let app = spawn_app_edited(|yaml| {
        yaml.replace(
            "limits: { request_timeout: 1s }",
            "limits: { request_timeout: 1s, workers: 2, max_connections: 4 }",
        )
    })
    .await;
    let address = app.address.trim_start_matches("http://").to_owned();
    tokio::task::spawn_blocking(move || {
        let open = || {
            let stream = TcpStream::connect(&address).unwrap();
            stream.set_read_timeout(Some(Duration::from_millis(1500))).unwrap();
            stream
        };
        // Four held keep-alive connections fill the cap (2 per worker).
        let mut held: Vec<TcpStream> = (0..4).map(|_| open()).collect();
        for stream in &mut held {
            assert_eq!(status_line(stream).as_deref(), Some("HTTP/1.1 200 OK"));
        }
        // A fifth connects (the kernel's backlog) but is not served.
        let mut waiting = open();
        assert_eq!(status_line(&mut waiting), None, "served beyond max_connections");
        // Closing one lets it in.
        drop(held.pop());
        waiting.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let mut buf = [0u8; 512];
        let n = waiting.read(&mut buf).unwrap();
        assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200 OK"), "served once a slot freed");
    })
    .await
    .unwrap();
}

/// A flood of password attempts (each within its address's rate limit,
/// as from many addresses) runs bcrypt on at most half the blocking pool:
/// the rest wait for a turn holding no thread, and past the queue they are
/// told to try again. A signed-in page is answered meanwhile, not after
/// the flood.
#[tokio::test]
async fn a_flood_of_sign_ins_leaves_the_pages_their_share_of_the_pool() {
    let app = spawn_app_edited(|yaml| {
        // One worker; bcrypt at cost 12, so each check takes a while; no
        // locks or delays.
        yaml.replace("limits: { request_timeout: 1s }", "limits: { request_timeout: 5s, workers: 1 }")
            .replace("password_hash_cost: 4", "password_hash_cost: 12")
            .replace("rate_limits: { userinfo: 20 }", "rate_limits: { userinfo: 20, sign_in: 1000 }")
            .replace(
                "sign_in: { max_failures: 3, ip_max_failures: 50, lock_for: 15m, delay_ms: 5 }",
                "sign_in: { max_failures: 1000, ip_max_failures: 1000, account_max_failures: 1000, delay_ms: 0 }",
            )
    })
    .await;
    // Half the pool's threads hash; four times as many may wait (sled: 4
    // threads, so 2 and 8; PostgreSQL: 16, so 8 and 32).
    let threads = ferrid::http::off_worker::pool_threads_per_worker(&app.state.config.store, 1);
    let (turns, waiting) = (threads / 2, threads / 2 * 4);
    let flood = turns + waiting + 10;
    let alice = app.add_user("alice", &[]);
    let signed_in = browser();
    let response = signed_in.get(app.url("/account/")).send().await.unwrap();
    sign_in_with(&signed_in, &app.address, &location(&response), &alice.username, &alice.password).await;

    // One parked sign-in, its form posted `flood` times at once with wrong passwords.
    let flooder = browser();
    let pkce = Pkce::new();
    let params = web_params("openid", &pkce, "n", "s");
    let response = flooder.get(app.url("/application/o/authorize/")).query(&params).send().await.unwrap();
    let page = flooder.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&page, "tx").unwrap()),
        ("csrf_token", hidden_field(&page, "csrf_token").unwrap()),
        ("username", "nobody".to_owned()),
        ("password", "wrong-password".to_owned()),
    ];
    let done = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let (busy_tx, mut busy) = tokio::sync::mpsc::unbounded_channel();
    let mut posts = Vec::new();
    for _ in 0..flood {
        let (flooder, form, url, done, busy_tx) =
            (flooder.clone(), form.clone(), app.url("/login"), done.clone(), busy_tx.clone());
        posts.push(tokio::spawn(async move {
            let response = flooder.post(url).form(&form).send().await.unwrap();
            let status = response.status().as_u16();
            let text = response.text().await.unwrap();
            done.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            if status == 503 {
                assert!(text.contains("Too many sign-ins at once"), "{text}");
                let _ = busy_tx.send(());
            } else {
                assert_eq!(status, 401, "a wrong password: {text}");
            }
            status
        }));
    }
    drop(busy_tx);
    // The queue is full once someone is told to try again.
    busy.recv().await.expect("a sign-in was told to try again");
    let page = signed_in.get(app.url("/account/")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let finished = done.load(std::sync::atomic::Ordering::SeqCst);
    let statuses: Vec<u16> = futures_util::future::join_all(posts).await.into_iter().map(Result::unwrap).collect();
    let refused = statuses.iter().filter(|s| **s == 401).count();
    assert!((turns..=turns + waiting + turns).contains(&refused), "checked: {refused} of {flood}");
    // Behind every queued bcrypt, the page would have come after most of
    // the flood: it came while the checks that got a turn still ran.
    assert!(finished <= flood - refused + 2, "the page waited for {finished} of {flood} answers");
}
