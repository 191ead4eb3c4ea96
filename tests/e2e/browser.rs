//! ferrid's pages in a real browser: Debian's Chromium, driven through
//! chromedriver (WebDriver) by fantoccini, as a person would use them.
//! Each page is screenshotted at 1280 px and 375 px into
//! `target/tmp/screenshots/`, and no page may scroll sideways at 360 px.

use crate::helpers::*;
use fantoccini::{Client, ClientBuilder, Locator};
use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};

/// chromedriver on the port it picks (it says which), killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_driver() -> Driver {
    let mut child = Command::new("chromedriver")
        .arg("--port=0")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver is installed (scripts/test.sh installs chromium-driver)");
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let mut url = None;
    for line in stdout.lines().map_while(Result::ok) {
        // "ChromeDriver was started successfully on port 39007."
        if let Some(rest) = line.split("started successfully on port ").nth(1) {
            url = Some(format!("http://127.0.0.1:{}", rest.trim_end_matches('.').trim()));
            break;
        }
    }
    Driver { child, url: url.expect("chromedriver says its port") }
}

async fn browser(driver: &Driver) -> Client {
    let mut capabilities = serde_json::Map::new();
    capabilities.insert(
        "goog:chromeOptions".into(),
        serde_json::json!({
            "binary": "/usr/bin/chromium",
            // Headless, as root in CI, and nothing that calls out to the network.
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--no-first-run", "--window-size=1280,900"],
        }),
    );
    ClientBuilder::native().capabilities(capabilities).connect(&driver.url).await.expect("a browser session")
}

fn screenshots() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Screenshots the current page at 1280 and 375 px wide, and checks that at
/// 360 px nothing is wider than the viewport.
async fn look_at(client: &Client, name: &str) {
    for width in [1280u32, 375, 360] {
        client.set_window_size(width, 900).await.unwrap();
        if width != 360 {
            let png = client.screenshot().await.unwrap();
            std::fs::write(screenshots().join(format!("{name}-{width}.png")), png).unwrap();
            continue;
        }
        let sizes = client
            .execute("return [document.documentElement.scrollWidth, document.documentElement.clientWidth]", vec![])
            .await
            .unwrap();
        let (scroll, client_width) = (sizes[0].as_u64().unwrap(), sizes[1].as_u64().unwrap());
        assert!(scroll <= client_width, "{name} scrolls sideways at 360 px: {scroll} > {client_width}");
    }
    client.set_window_size(1280, 900).await.unwrap();
}

#[tokio::test]
async fn a_person_signs_in_to_the_account_page_and_every_page_fits_a_phone() {
    let app = spawn_app().await;
    let alice = app.add_user("alice", &[]);
    let driver = tokio::task::spawn_blocking(start_driver).await.unwrap();
    let client = browser(&driver).await;

    client.goto(&app.url("/account/tokens")).await.unwrap();
    client.wait().for_element(Locator::Id("username")).await.unwrap();
    look_at(&client, "sign-in").await;

    // A wrong password first: the same form, with the error.
    client.find(Locator::Id("username")).await.unwrap().send_keys("alice").await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys("not-her-password").await.unwrap();
    client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    let error = client.wait().for_element(Locator::Css("p.error")).await.unwrap();
    assert!(error.text().await.unwrap().contains("Wrong username or password"));
    look_at(&client, "sign-in-error").await;

    client.find(Locator::Id("username")).await.unwrap().clear().await.unwrap();
    client.find(Locator::Id("username")).await.unwrap().send_keys("alice").await.unwrap();
    client.find(Locator::Id("password")).await.unwrap().send_keys(&alice.password).await.unwrap();
    client.find(Locator::Css("button[type=submit]")).await.unwrap().click().await.unwrap();
    // Wait for the navigation itself: the sign-in page's own h1 is there until then.
    let account = url::Url::parse(&app.url("/account/tokens")).unwrap();
    client.wait().for_url(&account).await.unwrap();
    let heading = client.find(Locator::Css("h1")).await.unwrap().text().await.unwrap();
    assert_eq!(heading, "Access tokens");

    // Create a token the way a person does; the page shows it once.
    client.find(Locator::Id("description")).await.unwrap().send_keys("backup script").await.unwrap();
    client.find(Locator::Css("form[action='/account/tokens'] button")).await.unwrap().click().await.unwrap();
    let token = client.wait().for_element(Locator::Id("new-token")).await.unwrap();
    assert!(token.prop("value").await.unwrap().unwrap_or_default().starts_with("ferrid_pat_"));
    look_at(&client, "account-tokens").await;

    client.close().await.unwrap();
}
