//! Two real ferrid binaries on one PostgreSQL database (a server of this
//! test's own, fsync on) under a load of refresh-token rotations: one
//! instance is SIGKILLed, then PostgreSQL is stopped and started again.
//! The survivor answers 503 while the database is down, recovers by
//! itself, and every rotation a client was told succeeded is still there.

use crate::binary::*;
use crate::helpers::postgres_server::{OwnServer, PostgresServer};
use crate::helpers::*;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const CHAINS: usize = 8;

/// What a client knows of one refresh-token chain.
struct Chain {
    /// The newest refresh token a 200 answer gave.
    last: String,
    /// A request whose answer never came may have rotated it: not checked.
    uncertain: bool,
    rotations: usize,
}

async fn refresh(base: &str, token: &str) -> Result<(u16, Value), reqwest::Error> {
    let response = reqwest::Client::new()
        .post(format!("{base}/application/o/token/"))
        .basic_auth("web", Some(WEB_SECRET))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
        .timeout(Duration::from_secs(20))
        .send()
        .await?;
    let status = response.status().as_u16();
    Ok((status, response.json().await.unwrap_or_default()))
}

/// Signs in once at `base`, then takes `n` codes by single sign-on: `n`
/// refresh tokens, each its own family.
async fn refresh_tokens(base: &str, password: &str, n: usize) -> Vec<String> {
    let browser = browser();
    let params =
        [("response_type", "code"), ("client_id", "web"), ("redirect_uri", WEB_CB), ("scope", "openid offline_access")];
    let authorize = format!("{base}/application/o/authorize/");
    let response = browser.get(&authorize).query(&params).send().await.unwrap();
    let response = sign_in_with(&browser, base, &location(&response), "alice", password).await;
    let mut callback = location(&response);
    let mut tokens = Vec::new();
    for _ in 0..n {
        let code = query_of(&callback)["code"].clone();
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_CB)];
        let answer: Value = reqwest::Client::new()
            .post(format!("{base}/application/o/token/"))
            .basic_auth("web", Some(WEB_SECRET))
            .form(&form)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        tokens.push(answer["refresh_token"].as_str().expect("a refresh token").to_owned());
        callback = location(&browser.get(&authorize).query(&params).send().await.unwrap());
    }
    tokens
}

#[test]
fn a_killed_instance_and_a_stopped_database_lose_nothing_a_client_was_told_is_done() {
    let postgres = OwnServer(PostgresServer::start(true));
    let url = postgres.0.new_database();
    let store = format!("store: {{ postgres: \"{url}\" }}\n");
    let first = binary_config(None, |yaml| format!("{store}{yaml}"));
    let mut a = serve(&first.path);
    let second = binary_config(None, |yaml| format!("{store}{yaml}"));
    std::fs::create_dir_all(second.dir.path().join("keys")).unwrap();
    std::fs::copy(first.dir.path().join("keys/seal.key"), second.dir.path().join("keys/seal.key")).unwrap();
    let b = serve(&second.path);
    let password = "alice-password-1";
    let out =
        run_with_stdin(ferrid().arg("--config").arg(&first.path).args(["user", "add", "alice"]), "alice-password-1\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let chains: Vec<_> = refresh_tokens(&a.base, password, CHAINS)
            .await
            .into_iter()
            .map(|last| Arc::new(std::sync::Mutex::new(Chain { last, uncertain: false, rotations: 0 })))
            .collect();
        let a_alive = Arc::new(AtomicBool::new(true));
        let stop = Arc::new(AtomicBool::new(false));
        let unavailable = Arc::new(AtomicUsize::new(0));
        let mut load = Vec::new();
        for (i, chain) in chains.iter().enumerate() {
            let (chain, a_alive, stop, unavailable) =
                (chain.clone(), a_alive.clone(), stop.clone(), unavailable.clone());
            let (base_a, base_b) = (a.base.clone(), b.base.clone());
            load.push(tokio::spawn(async move {
                let mut turn = i;
                while !stop.load(Ordering::SeqCst) {
                    turn += 1;
                    let base = if turn % 2 == 0 && a_alive.load(Ordering::SeqCst) { &base_a } else { &base_b };
                    let token = chain.lock().unwrap().last.clone();
                    match refresh(base, &token).await {
                        Ok((200, answer)) => {
                            let mut chain = chain.lock().unwrap();
                            chain.last = answer["refresh_token"].as_str().unwrap().to_owned();
                            chain.rotations += 1;
                        }
                        Ok((503, answer)) => {
                            assert_eq!(answer["error"], "temporarily_unavailable");
                            unavailable.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(50)).await;
                        }
                        Ok((status, answer)) => panic!("chain {i}: {status} {answer}"),
                        // Refused before it was sent: nothing happened.
                        Err(e) if e.is_connect() => {}
                        Err(_) => {
                            chain.lock().unwrap().uncertain = true;
                            return;
                        }
                    }
                }
            }));
        }
        tokio::time::sleep(Duration::from_millis(800)).await;
        a.child.kill().unwrap(); // SIGKILL
        a_alive.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(500)).await;

        postgres.0.stop();
        let ready =
            |base: String| async move { reqwest::get(format!("{base}/readyz")).await.map(|r| r.status().as_u16()) };
        assert_eq!(ready(b.base.clone()).await.unwrap(), 503, "not ready while the database is down");
        tokio::time::sleep(Duration::from_millis(700)).await;
        assert!(unavailable.load(Ordering::SeqCst) > 0, "refreshes were answered 503 meanwhile");

        postgres.0.start_again();
        let back = Instant::now();
        while ready(b.base.clone()).await.unwrap() != 200 {
            assert!(back.elapsed() < Duration::from_secs(15), "the survivor did not recover by itself");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
        stop.store(true, Ordering::SeqCst);
        for task in load {
            task.await.unwrap();
        }

        // Every rotation a client was told about is there: the newest token
        // of each chain rotates once more, at the survivor.
        let mut checked = 0;
        let mut rotations = 0;
        for (i, chain) in chains.iter().enumerate() {
            let (last, uncertain, done) = {
                let chain = chain.lock().unwrap();
                (chain.last.clone(), chain.uncertain, chain.rotations)
            };
            rotations += done;
            if uncertain {
                continue;
            }
            let (status, answer) = refresh(&b.base, &last).await.unwrap();
            assert_eq!(status, 200, "chain {i}, after {done} rotations: {answer}");
            checked += 1;
        }
        // About half the chains had a request in flight at A when it died.
        assert!(checked >= CHAINS / 2 - 1, "{checked} of {CHAINS} chains were certain");
        assert!(rotations >= 20, "the load did work: {rotations} rotations");
    });
}
