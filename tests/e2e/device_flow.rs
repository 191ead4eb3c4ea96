//! The device flow (RFC 8628) with independent parts: openid-client's own
//! device-flow functions as the device, Chromium as the person's phone,
//! and curl as a device that polls too fast, one that is denied, one that
//! waits too long, and a person guessing codes.

use crate::browser::{browser, heading, look_at, sign_in, start_driver, wait_for_url_prefix};
use crate::helpers::*;
use crate::relying_parties::{RelyingParty, rp_script};
use fantoccini::Locator;
use serde_json::Value;
use std::process::Command;

const DEVICE_CODE: &str = "urn:ietf:params:oauth:grant-type:device_code";

/// ferrid with the public client `tv` (device flow), polling every second.
async fn spawn() -> TestApp {
    spawn_app_edited(|yaml| {
        let yaml = yaml.replace("session: 7d }", "session: 7d, device_poll: 1s }");
        format!("{yaml}  - slug: tv\n    name: Living-room TV\n    public: true\n    device_flow: true\n")
    })
    .await
}

#[tokio::test]
async fn openid_client_signs_a_device_in_while_a_person_approves_it_in_chromium() {
    let app = spawn().await;
    let alice = app.add_user("alice", &["viewers"]);
    let mut node = Command::new("node");
    node.arg(rp_script("openid_client_device.js"))
        .args([app.issuer("tv"), "tv".to_owned()])
        .env("NODE_PATH", crate::nodered::node_modules());
    let mut device = RelyingParty::start(node);
    let code = device.expect("CODE").await;
    let (user_code, complete) = code.split_once(' ').unwrap();
    assert_eq!(complete, app.url(&format!("/device?code={user_code}")));

    let driver = start_driver();
    let client = browser(&driver).await;
    client.goto(complete).await.unwrap();
    look_at(&client, "device-code").await;
    client.find(Locator::Css("form[action='/device'] button")).await.unwrap().click().await.unwrap();
    sign_in(&client, &alice).await;
    wait_for_url_prefix(&client, &app.url("/device/approve")).await;
    let page = client.source().await.unwrap();
    assert!(page.contains("Living-room TV") && page.contains(user_code), "the code to compare");
    look_at(&client, "device-approve").await;
    client.find(Locator::Css("button[value='approve']")).await.unwrap().click().await.unwrap();
    client.wait().for_element(Locator::Css("p.notice")).await.unwrap();
    assert_eq!(heading(&client).await, "Device approved");
    look_at(&client, "device-approved").await;

    // openid-client's poll verified the id_token; it says who signed in.
    let signed_in = device.expect("SIGNED_IN").await;
    assert_eq!(signed_in, format!("{} alice openid+profile+offline_access yes", alice.sub));
    client.close().await.unwrap();
}

/// `curl` with `args`, run off this runtime (the server under test shares
/// it): what it printed.
async fn curl_text(args: Vec<String>) -> String {
    let output = tokio::task::spawn_blocking(move || {
        Command::new("curl").args(["-s", "--max-time", "10"]).args(&args).output().expect("curl is installed")
    })
    .await
    .unwrap();
    String::from_utf8(output.stdout).unwrap()
}

async fn curl(args: &[&str]) -> Value {
    let printed = curl_text(args.iter().map(|a| a.to_string()).collect()).await;
    serde_json::from_str(&printed).unwrap_or_else(|_| panic!("curl printed no JSON: {printed}"))
}

async fn ask(app: &TestApp) -> Value {
    curl(&["-d", "client_id=tv", "-d", "scope=openid", &app.url("/application/o/device/")]).await
}

async fn poll(app: &TestApp, device_code: &str) -> Value {
    let code = format!("device_code={device_code}");
    let grant = format!("grant_type={DEVICE_CODE}");
    curl(&["-d", "client_id=tv", "-d", &grant, "-d", &code, &app.url("/application/o/token/")]).await
}

/// A stranger's browser (curl with a cookie jar) typing `typed` on
/// `/device`: the status.
async fn guess(app: &TestApp, typed: &str) -> String {
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap().to_owned();
    let page = app.url("/device");
    let html = curl_text(vec!["-c".into(), jar.clone(), page.clone()]).await;
    let csrf = hidden_field(&html, "csrf_token").unwrap();
    let status = ["-o", "/dev/null", "-w", "%{http_code}", "-b", &jar, "-d"].map(str::to_owned);
    let mut args = status.to_vec();
    args.extend([format!("csrf_token={csrf}"), "-d".into(), format!("code={typed}"), page]);
    curl_text(args).await
}

#[tokio::test]
async fn curl_as_a_device_is_told_to_slow_down_is_denied_and_expires() {
    let app = spawn().await;
    let erin = app.add_user("erin", &[]);

    // Too fast: the second poll within the second.
    let asked = ask(&app).await;
    let device_code = asked["device_code"].as_str().unwrap().to_owned();
    assert_eq!(poll(&app, &device_code).await["error"], "authorization_pending");
    assert_eq!(poll(&app, &device_code).await["error"], "slow_down");

    // Denied in a browser (reqwest here; Chromium approves above).
    let browser = crate::helpers::browser();
    let complete = asked["verification_uri_complete"].as_str().unwrap();
    let html = browser.get(complete).send().await.unwrap().text().await.unwrap();
    let form = [
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("code", asked["user_code"].as_str().unwrap().to_owned()),
    ];
    let response = browser.post(app.url("/device")).form(&form).send().await.unwrap();
    let response = sign_in_with(&browser, &app.address, &location(&response), "erin", &erin.password).await;
    let html = browser.get(app.url(&location(&response))).send().await.unwrap().text().await.unwrap();
    let form = [
        ("tx", hidden_field(&html, "tx").unwrap()),
        ("csrf_token", hidden_field(&html, "csrf_token").unwrap()),
        ("decision", "deny".to_owned()),
    ];
    assert_eq!(browser.post(app.url("/device/approve")).form(&form).send().await.unwrap().status(), 200);
    assert_eq!(poll(&app, &device_code).await["error"], "access_denied");

    // Never answered: expired after lifetimes.device_code (10 minutes).
    let late = ask(&app).await;
    app.clock.advance(601);
    assert_eq!(poll(&app, late["device_code"].as_str().unwrap()).await["error"], "expired_token");

    // A stranger guessing codes gets the page's refusal, then a lock, even
    // for a real code (the test config locks after 3).
    let real = ask(&app).await;
    let mut statuses = Vec::new();
    for typed in ["BDFG-HJKL", "XXXX-XXXX", "BDFGHJKM", real["user_code"].as_str().unwrap()] {
        statuses.push(guess(&app, typed).await);
    }
    assert_eq!(statuses, ["400", "400", "400", "429"]);
}
