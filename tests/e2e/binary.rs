//! Running the real `ferrid` binary: a command builder, and `serve` that
//! waits until discovery answers and kills the process when dropped.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn ferrid() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ferrid"));
    command.env_remove("FERRID_PUBLIC_URL").env_remove("FERRID_LISTEN").env("FERRID_LOG", "warn");
    command
}

pub fn run_with_stdin(command: &mut Command, stdin: &str) -> std::process::Output {
    let mut child = command.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    child.wait_with_output().unwrap()
}

#[test]
pub fn a_bad_config_stops_start_up_with_one_message_naming_the_key_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let cases = [
        ("bogus_key: 1\n", "bogus_key"),
        ("public_url: not a url\n", "`public_url`"),
        (
            "applications:\n  - slug: a\n    redirect_uris: ['https://x.example/cb#f']\n",
            "`applications[0].redirect_uris[0]`",
        ),
        (
            "applications:\n  - slug: a\n    redirect_uris: ['https://x/cb']\n  - slug: a\n    redirect_uris: ['https://x/cb']\n",
            "`applications[1].slug`",
        ),
    ];
    for (yaml, key) in cases {
        let config = dir.path().join("config.yaml");
        let data = dir.path().join("data");
        std::fs::write(
            &config,
            format!("data_dir: {}\nkeys_dir: {}\n{yaml}", data.display(), dir.path().join("keys").display()),
        )
        .unwrap();
        for sub in ["check-config", "serve"] {
            let out = ferrid().arg("--config").arg(&config).arg(sub).output().unwrap();
            assert!(!out.status.success(), "{sub} accepted {yaml}");
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(key), "{sub}: {stderr:?} should name {key}");
            assert_eq!(stderr.lines().filter(|l| l.starts_with("ferrid:")).count(), 1, "{stderr}");
        }
        assert!(!data.exists(), "nothing may be written for a bad config");
        assert!(!dir.path().join("keys").exists());
    }
}

#[test]
pub fn hash_pw_reads_stdin_and_prints_a_bcrypt_hash_node_red_accepts() {
    let out = run_with_stdin(ferrid().args(["hash-pw", "--cost", "4"]), "correct horse battery\n");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let hash = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(hash.starts_with("$2b$04$") && hash.len() == 60, "{hash}");
    assert!(bcrypt::verify("correct horse battery", &hash).unwrap());
    assert!(!bcrypt::verify("correct horse batter", &hash).unwrap());

    let short = run_with_stdin(ferrid().args(["hash-pw"]), "short\n");
    assert!(!short.status.success());
}

pub struct Server {
    pub child: Child,
    /// Where to connect: `http://127.0.0.1:{port}`, the port ferrid bound.
    pub base: String,
    /// Lines the server printed on stdout, as they come.
    lines: std::sync::mpsc::Receiver<String>,
    printed: Vec<String>,
}

impl Server {
    /// Everything printed on stdout up to and including the first line
    /// that contains `marker`; waits for it (30 s at most).
    pub fn printed_until(&mut self, marker: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.printed.iter().any(|l| l.contains(marker)) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.printed.push(line),
                Err(_) => panic!("ferrid never printed {marker:?}; it printed {:?}", self.printed),
            }
        }
        self.printed.join("\n")
    }

    /// A URL on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Takes over `child` (killed when the guard drops) and waits until it
/// says where it listens (it binds port 0) and discovery answers there.
pub fn await_server(mut child: Child) -> Server {
    let lines = stdout_lines(child.stdout.take().expect("stdout piped"));
    let mut server = Server { child, base: String::new(), lines, printed: Vec::new() };
    let printed = server.printed_until("Listening on ");
    server.base = listening_base(&printed);
    wait_until_answering(&server.base);
    server
}

/// A child's stdout, read on a thread: the lines arrive on the receiver.
pub fn stdout_lines(stdout: std::process::ChildStdout) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    rx
}

/// `http://ADDRESS` from what ferrid printed, which holds its
/// `Listening on ADDRESS` line.
pub fn listening_base(printed: &str) -> String {
    let address = printed.lines().find_map(|l| l.strip_prefix("Listening on ")).expect("a Listening on line");
    format!("http://{}", address.trim())
}

/// Waits (30 s at most) until discovery answers at `base`.
pub fn wait_until_answering(base: &str) {
    let url = format!("{base}/application/o/web/.well-known/openid-configuration");
    let deadline = Instant::now() + Duration::from_secs(30);
    while blocking_get(&url).is_none() {
        assert!(Instant::now() < deadline, "ferrid serve did not answer at {url}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Starts `ferrid serve` and waits until it answers.
pub fn serve(config: &std::path::Path) -> Server {
    serve_logging(config, None, &[])
}

/// `serve`, with stderr (the log) going to `log` when given.
pub fn serve_logging(config: &std::path::Path, log: Option<&std::path::Path>, args: &[&str]) -> Server {
    let stderr = match log {
        Some(path) => Stdio::from(std::fs::File::create(path).unwrap()),
        None => Stdio::null(),
    };
    let mut command = ferrid();
    if log.is_some() {
        command.env("FERRID_LOG", "debug");
    }
    let child = command
        .arg("--config")
        .arg(config)
        .args(args)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(stderr)
        .spawn()
        .unwrap();
    await_server(child)
}

pub fn blocking_get(url: &str) -> Option<String> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async { reqwest::get(url).await.ok()?.text().await.ok() })
}

/// A `client_credentials` grant against the server at `public`.
pub async fn client_credentials(public: &str, client_id: &str, secret: &str) -> reqwest::Response {
    reqwest::Client::new()
        .post(format!("{public}/application/o/token/"))
        .basic_auth(client_id, Some(secret))
        .form(&[("grant_type", "client_credentials")])
        .send()
        .await
        .unwrap()
}

#[test]
fn an_address_in_use_says_how_to_choose_another() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = taken.local_addr().unwrap();
    let crate::helpers::BinaryConfig { dir: _dir, path: config, .. } =
        crate::helpers::binary_config(None, |yaml| yaml.replace("listen: 127.0.0.1:0", &format!("listen: {address}")));
    let out = ferrid().arg("--config").arg(&config).arg("serve").output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("cannot listen on {address}")), "{stderr}");
    assert!(stderr.contains("`listen:` in config.yaml or FERRID_LISTEN"), "{stderr}");
}

#[test]
fn a_seal_key_from_the_environment_is_used_and_no_seal_key_file_is_written() {
    let crate::helpers::BinaryConfig { dir, path: config, .. } = crate::helpers::binary_config(None, |yaml| yaml);
    let keys = dir.path().join("keys");
    // As Docker or systemd would pass it: a file the variable names.
    let secret = dir.path().join("seal-secret");
    std::fs::write(&secret, "Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXg\n").unwrap();
    let child = ferrid()
        .env("FERRID_SEAL_KEY_FILE", &secret)
        .arg("--config")
        .arg(&config)
        .arg("serve")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let server = await_server(child);
    assert_eq!(blocking_get(&format!("{}/readyz", server.base)).as_deref(), Some("ready\n"));
    assert!(keys.is_dir(), "signing keys are still files");
    assert!(!keys.join("seal.key").exists(), "no seal.key beside them");
    drop(server);
    // A key that is no key stops the start with the variable's name.
    let out = ferrid().env("FERRID_SEAL_KEY", "short").arg("--config").arg(&config).arg("serve").output().unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("FERRID_SEAL_KEY"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
