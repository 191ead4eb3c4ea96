//! Per-address rate limits (userinfo: 20 a minute in the test config) and
//! X-Forwarded-For honoured only from a trusted proxy (127.0.0.1 here).

use crate::helpers::*;

async fn userinfo_from(client: &reqwest::Client, app: &TestApp, forwarded_for: &str) -> reqwest::Response {
    client.get(app.url("/application/o/userinfo/")).header("x-forwarded-for", forwarded_for).send().await.unwrap()
}

#[tokio::test]
async fn the_21st_request_a_minute_gets_429_with_retry_after_per_client_address() {
    let app = spawn_app().await;
    let via_proxy = reqwest::Client::new(); // from 127.0.0.1: a trusted proxy
    for _ in 0..20 {
        assert_eq!(userinfo_from(&via_proxy, &app, "203.0.113.5").await.status(), 401);
    }
    let limited = userinfo_from(&via_proxy, &app, "203.0.113.5").await;
    assert_eq!(limited.status(), 429);
    let retry_after: u64 = limited.headers()["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    // Prepending a made-up hop does not escape: the proxy appended the real
    // address last, and the right-most untrusted hop is the one that counts.
    assert_eq!(userinfo_from(&via_proxy, &app, "198.51.100.7, 203.0.113.5").await.status(), 429);
    // Another client behind the same proxy is not affected.
    assert_eq!(userinfo_from(&via_proxy, &app, "198.51.100.8").await.status(), 401);

    // A peer that is not a trusted proxy cannot pick its address with the header.
    let direct =
        reqwest::Client::builder().local_address("127.0.0.2".parse::<std::net::IpAddr>().unwrap()).build().unwrap();
    assert_eq!(userinfo_from(&direct, &app, "198.51.100.9").await.status(), 401);
    for _ in 0..19 {
        userinfo_from(&direct, &app, "198.51.100.9").await;
    }
    assert_eq!(userinfo_from(&direct, &app, "a-new-address-each-time").await.status(), 429, "keyed by 127.0.0.2");
    assert_eq!(
        userinfo_from(&via_proxy, &app, "198.51.100.9").await.status(),
        401,
        "its header spent no one else's budget"
    );
}
