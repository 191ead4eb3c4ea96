//! Two real ferrid binaries on one PostgreSQL database (a server of this
//! test's own, fsync on) behind a driver that sends each request to a random
//! live instance: eight refresh-token chains and a stream of admin writes
//! (users and personal access tokens, over the admin API and the CLI). Each
//! round SIGKILLs a random instance (restarted with the same config before
//! the next round), and every fifth round stops PostgreSQL with
//! `pg_ctl stop -m immediate` and starts it again: the instances answer 503
//! meanwhile and recover by themselves.
//!
//! After each round, with both instances and the database up: nothing a
//! client was told is done is lost (every recorded user is listed, every
//! recorded PAT is active at introspection), every refresh token a client
//! holds for sure still rotates (half the chains sit idle through the kill
//! and the database's crash), and no family forks (no presented token is
//! ever answered 200 twice, also when the driver presents one token at both
//! instances at once). At the end the tokens each chain rotated away are
//! refused (reuse detection), and the CLI lists every user and token.
//!
//! A request whose answer never came, or that was answered 503, leaves its
//! chain in doubt: the rotation may have been committed (the reply lost to
//! the kill, or the commit's acknowledgement to the database's crash), so
//! the next presentation may be refused as a reuse. Then, and only then, a
//! refusal is expected; the driver counts it and starts a new family.
//! `-m immediate` crashes PostgreSQL's processes, not the machine: what
//! they handed the kernel survives, so this finds replies sent before their
//! commit, not missing fsyncs.
//!
//! `ROUNDS` sets the number of rounds (20 by default); `SEED` the driver's
//! random choices (printed, for a rerun). `REUSE_INTERVAL` (seconds, 0 by
//! default) sets the application's `refresh_reuse_interval`: a chain in
//! doubt then presents its token again and is forgiven within it (the same
//! successor, never another: still no fork); the summary line counts the
//! families revoked either way, for docs/security.md's figures.

use crate::binary::*;
use crate::helpers::postgres_server::{OwnServer, PostgresServer};
use crate::helpers::*;
use ferrid::admin::AdminCommand;
use serde_json::Value;
use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

const CHAINS: usize = 8;
const INSTANCES: usize = 2;
/// The password of alice (who holds the chains) and of the users made.
const PASSWORD: &str = "crash-test-password-1";

/// A small, seedable generator (splitmix64): the driver's random choices.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn millis(&mut self, from: u64, to: u64) -> Duration {
        Duration::from_millis(from + self.below(to - from))
    }
}

/// What a client knows of one refresh-token chain.
#[derive(Default)]
struct Chain {
    /// The newest refresh token an answer gave.
    last: String,
    /// The token `last` replaced (a 200 said so): must be refused at the end.
    previous: Option<String>,
    /// The token `previous` replaced: with a reuse interval, `previous` may
    /// be forgiven for a while, but this one, whose successor was used, not.
    before_previous: Option<String>,
    /// A request with `last` got no answer, or 503: it may have rotated it.
    doubt: Option<Doubt>,
    /// Its family is gone for a reason the client can see (a reuse after a
    /// doubt, or a race of its own): a new one is made at the next check.
    dead: bool,
}

/// Why a chain's token may have rotated without the client knowing.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Doubt {
    /// A request's answer never came (its instance was killed).
    NoAnswer,
    /// Only 503 answers: ferrid could not tell whether its commit happened.
    Unavailable,
}

/// The stronger of two doubts: a lost answer explains more than a 503.
fn either(a: Option<Doubt>, b: Option<Doubt>) -> Option<Doubt> {
    match (a, b) {
        (Some(Doubt::NoAnswer), _) | (_, Some(Doubt::NoAnswer)) => Some(Doubt::NoAnswer),
        (a, b) => a.or(b),
    }
}

/// One presentation of a refresh token at one instance.
#[derive(Debug)]
enum Outcome {
    /// 200: the new refresh token.
    Rotated(String),
    /// 400 invalid_grant.
    Refused,
    /// 503 temporarily_unavailable.
    Unavailable,
    /// Refused before it was sent: nothing happened.
    Unreached,
    /// Sent, and the answer never came: it may have rotated.
    Lost,
}

/// A live instance: where it answers, and its admin API.
#[derive(Clone)]
struct Live {
    base: String,
    admin_url: String,
    admin_token: String,
}

#[derive(Default)]
struct Stats {
    rotations: AtomicUsize,
    races: AtomicUsize,
    /// Races one presentation won: the other revoked the family (as it must).
    race_revocations: AtomicUsize,
    /// A token whose request got no answer, refused next time: it had rotated.
    rotated_unanswered: AtomicUsize,
    /// A token answered 503, refused next time: it had rotated all the same.
    rotated_despite_503: AtomicUsize,
    /// A token answered 200 a second time, with the same successor.
    retries_forgiven: AtomicUsize,
    families: AtomicUsize,
    unavailable: AtomicUsize,
    lost: AtomicUsize,
    retried_elsewhere: AtomicUsize,
    users: AtomicUsize,
    pats: AtomicUsize,
    by_cli: AtomicUsize,
    writes_refused: AtomicUsize,
    writes_lost: AtomicUsize,
}

fn bump(counter: &AtomicUsize) {
    counter.fetch_add(1, Ordering::SeqCst);
}

fn count(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}

struct Pat {
    token: String,
    id: String,
    username: String,
}

/// The admin writes reported done: 200 from the admin API, or exit 0.
#[derive(Default)]
struct Records {
    users: Vec<String>,
    pats: Vec<Pat>,
    /// PATs recorded since the last check (each is introspected once then).
    unchecked: usize,
}

struct Driver {
    http: reqwest::Client,
    live: Mutex<[Option<Live>; INSTANCES]>,
    configs: [PathBuf; INSTANCES],
    /// Every refresh token that was answered 200 when presented, and the
    /// successor it got: a second 200 (a forgiven retry) must give the same.
    accepted: Mutex<std::collections::HashMap<String, String>>,
    records: Mutex<Records>,
    stats: Stats,
    /// The load runs while set.
    running: AtomicBool,
    /// Set just before a kill: the chains sleeping this round stop there.
    frozen: AtomicBool,
    password_hash: String,
    write_seq: AtomicUsize,
}

impl Driver {
    fn live(&self) -> Vec<(usize, Live)> {
        let live = self.live.lock().unwrap();
        live.iter().enumerate().filter_map(|(i, l)| Some((i, l.clone()?))).collect()
    }

    /// A random live instance, preferring one that is not `not`.
    fn pick(&self, rng: &mut Rng, not: Option<usize>) -> Option<(usize, Live)> {
        let mut live = self.live();
        if live.len() > 1 {
            live.retain(|(i, _)| Some(*i) != not);
        }
        if live.is_empty() {
            return None;
        }
        let n = rng.below(live.len() as u64) as usize;
        Some(live.swap_remove(n))
    }

    /// Records that `presented` was answered 200 with `successor`: twice
    /// only as a forgiven retry, with the same successor.
    fn accept(&self, presented: &str, successor: &str) {
        let mut accepted = self.accepted.lock().unwrap();
        match accepted.insert(presented.to_owned(), successor.to_owned()) {
            None => {}
            Some(first) => {
                assert!(
                    first == successor && REUSE_INTERVAL.get().is_some_and(|s| *s > 0),
                    "a family forked: the refresh token {presented} was answered 200 twice"
                );
                bump(&self.stats.retries_forgiven);
            }
        }
    }

    async fn attempt(&self, base: &str, token: &str) -> Outcome {
        let sent = self
            .http
            .post(format!("{base}/application/o/token/"))
            .basic_auth("web", Some(WEB_SECRET))
            .form(&[("grant_type", "refresh_token"), ("refresh_token", token)])
            .timeout(Duration::from_secs(20))
            .send()
            .await;
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() => return Outcome::Unreached,
            Err(_) => return Outcome::Lost,
        };
        let status = response.status().as_u16();
        let Ok(answer) = response.json::<Value>().await else { return Outcome::Lost };
        match status {
            200 => Outcome::Rotated(answer["refresh_token"].as_str().expect("a refresh token").to_owned()),
            400 if answer["error"] == "invalid_grant" => Outcome::Refused,
            503 => {
                assert_eq!(answer["error"], "temporarily_unavailable", "{answer}");
                Outcome::Unavailable
            }
            _ => panic!("a refresh answered {status}: {answer}"),
        }
    }

    /// One presentation at a random live instance; if it could not connect
    /// (nothing was sent), once more at the other.
    async fn present(&self, rng: &mut Rng, token: &str) -> Outcome {
        let Some((first, live)) = self.pick(rng, None) else { return Outcome::Unreached };
        match self.attempt(&live.base, token).await {
            Outcome::Unreached => match self.pick(rng, Some(first)) {
                Some((second, live)) if second != first => {
                    bump(&self.stats.retried_elsewhere);
                    self.attempt(&live.base, token).await
                }
                _ => Outcome::Unreached,
            },
            outcome => outcome,
        }
    }

    /// One turn of a chain: its token presented at one instance, or (a
    /// race, as a client retrying at another instance would) at both at
    /// once. Judges the answers; panics on a lost rotation or a fork.
    async fn turn(&self, rng: &mut Rng, i: usize, chain: &Mutex<Chain>, race: bool) -> String {
        let (token, doubt) = {
            let chain = chain.lock().unwrap();
            if chain.dead {
                return "dead".into();
            }
            (chain.last.clone(), chain.doubt)
        };
        let live = self.live();
        let outcomes = if race && live.len() == INSTANCES {
            bump(&self.stats.races);
            let (a, b) = tokio::join!(self.attempt(&live[0].1.base, &token), self.attempt(&live[1].1.base, &token));
            vec![a, b]
        } else {
            vec![self.present(rng, &token).await]
        };
        let seen = format!("{outcomes:?}");
        let mut rotated = None;
        let (mut refused, mut unsure) = (false, None);
        for outcome in outcomes {
            match outcome {
                Outcome::Rotated(new) => {
                    self.accept(&token, &new);
                    bump(&self.stats.rotations);
                    rotated = Some(new);
                }
                Outcome::Refused => refused = true,
                Outcome::Unavailable => {
                    bump(&self.stats.unavailable);
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    unsure = either(unsure, Some(Doubt::Unavailable));
                }
                Outcome::Lost => {
                    bump(&self.stats.lost);
                    unsure = Some(Doubt::NoAnswer);
                }
                Outcome::Unreached => {}
            }
        }
        let mut state = chain.lock().unwrap();
        match (rotated, refused) {
            (Some(new), false) => {
                state.before_previous = state.previous.take();
                state.previous = Some(std::mem::replace(&mut state.last, new));
                state.doubt = unsure;
            }
            (Some(new), true) => {
                // One presentation of a race won; the other was a reuse and
                // revoked the family, so the winner's token is dead too.
                drop(state);
                match self.present(rng, &new).await {
                    Outcome::Rotated(newer) => {
                        self.accept(&new, &newer);
                        panic!("chain {i}: a family revoked for reuse still rotates")
                    }
                    Outcome::Refused | Outcome::Unavailable | Outcome::Lost | Outcome::Unreached => {}
                }
                bump(&self.stats.race_revocations);
                chain.lock().unwrap().dead = true;
            }
            (None, true) => {
                // Refused: only right if a request with this token may have
                // rotated it (no answer or 503, before or in this very race).
                match either(doubt, unsure) {
                    Some(Doubt::NoAnswer) => bump(&self.stats.rotated_unanswered),
                    Some(Doubt::Unavailable) => bump(&self.stats.rotated_despite_503),
                    None => panic!("chain {i}: a refresh token the client held for sure was refused"),
                }
                state.dead = true;
            }
            (None, false) => state.doubt = either(state.doubt, unsure),
        }
        seen
    }

    /// A new family for alice (her session is single sign-on at either
    /// instance): all instances are up.
    async fn new_family(&self, rng: &mut Rng, browser: &reqwest::Client) -> String {
        let (_, live) = self.pick(rng, None).expect("an instance");
        let base = &live.base;
        let params = [
            ("response_type", "code"),
            ("client_id", "web"),
            ("redirect_uri", WEB_CB),
            ("scope", "openid offline_access"),
        ];
        let response = browser.get(format!("{base}/application/o/authorize/")).query(&params).send().await.unwrap();
        let callback = location(&response);
        let code = query_of(&callback)["code"].clone();
        let form = [("grant_type", "authorization_code"), ("code", code.as_str()), ("redirect_uri", WEB_CB)];
        let response = self
            .http
            .post(format!("{base}/application/o/token/"))
            .basic_auth("web", Some(WEB_SECRET))
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let answer: Value = response.json().await.unwrap();
        bump(&self.stats.families);
        answer["refresh_token"].as_str().expect("a refresh token").to_owned()
    }

    /// The admin API of a live instance, all instances up: its answer.
    async fn admin(&self, rng: &mut Rng, command: &AdminCommand) -> Value {
        let (_, live) = self.pick(rng, None).expect("an instance");
        let response = self.admin_request(&live, command).await.expect("the admin API answers");
        let status = response.status();
        let answer: Value = response.json().await.unwrap();
        assert_eq!(status, 200, "{answer}");
        answer
    }

    async fn admin_request(&self, live: &Live, command: &AdminCommand) -> reqwest::Result<reqwest::Response> {
        self.http
            .post(format!("{}/admin/exec", live.admin_url))
            .bearer_auth(&live.admin_token)
            .json(command)
            .timeout(Duration::from_secs(20))
            .send()
            .await
    }

    /// One admin write: a user, or a PAT for a user made earlier; through
    /// the admin API of a random instance, or now and then the CLI.
    async fn write(&self, rng: &mut Rng) {
        let n = self.write_seq.fetch_add(1, Ordering::SeqCst);
        let owner = {
            let records = self.records.lock().unwrap();
            (n % 3 == 2 && !records.users.is_empty())
                .then(|| records.users[rng.below(records.users.len() as u64) as usize].clone())
        };
        if n % 8 == 7 {
            return self.write_by_cli(rng, n, owner).await;
        }
        let command = match &owner {
            Some(username) => AdminCommand::PatCreate {
                username: username.clone(),
                app: "web".into(),
                scope: None,
                expires_in: 30 * 86_400,
                description: format!("crash test {n}"),
            },
            None => AdminCommand::UserAdd {
                username: format!("user{n}"),
                email: None,
                name: None,
                groups: Vec::new(),
                password_hash: self.password_hash.clone(),
            },
        };
        let Some((first, live)) = self.pick(rng, None) else { return };
        let mut sent = self.admin_request(&live, &command).await;
        if matches!(&sent, Err(e) if e.is_connect()) {
            match self.pick(rng, Some(first)) {
                Some((second, live)) if second != first => {
                    bump(&self.stats.retried_elsewhere);
                    sent = self.admin_request(&live, &command).await;
                }
                _ => return,
            }
        }
        let response = match sent {
            Ok(response) => response,
            Err(e) if e.is_connect() => return,
            Err(_) => return bump(&self.stats.writes_lost),
        };
        let status = response.status().as_u16();
        let Ok(answer) = response.json::<Value>().await else { return bump(&self.stats.writes_lost) };
        match status {
            200 => self.record(owner, answer),
            500 | 503 => bump(&self.stats.writes_refused),
            _ => panic!("admin write {n} answered {status}: {answer}"),
        }
    }

    async fn write_by_cli(&self, rng: &mut Rng, n: usize, owner: Option<String>) {
        let config = self.configs[rng.below(INSTANCES as u64) as usize].clone();
        let out = tokio::task::spawn_blocking(move || {
            let mut command = ferrid();
            command.arg("--config").arg(&config);
            match &owner {
                Some(username) => {
                    let description = format!("crash test {n}");
                    command.args(["token", "create", "--user", username, "--app", "web", "--json"]);
                    command.args(["--description", &description]);
                }
                None => {
                    command.args(["user", "add", &format!("user{n}"), "--json"]);
                }
            }
            (owner, run_with_stdin(&mut command, &format!("{PASSWORD}\n")))
        })
        .await
        .unwrap();
        let (owner, out) = out;
        if out.status.success() {
            bump(&self.stats.by_cli);
            self.record(owner, serde_json::from_slice(&out.stdout).expect("JSON from --json"));
        } else {
            bump(&self.stats.writes_refused);
        }
    }

    fn record(&self, owner: Option<String>, answer: Value) {
        let mut records = self.records.lock().unwrap();
        match owner {
            Some(username) => {
                assert_eq!(answer["user"], username.as_str(), "{answer}");
                records.pats.push(Pat {
                    token: answer["token"].as_str().expect("the new PAT").to_owned(),
                    id: answer["id"].as_str().expect("its id").to_owned(),
                    username,
                });
                records.unchecked += 1;
                bump(&self.stats.pats);
            }
            None => {
                records.users.push(answer["username"].as_str().expect("the new user").to_owned());
                bump(&self.stats.users);
            }
        }
    }

    /// Every user recorded is listed, every PAT recorded is listed as
    /// active, and (to keep a round short) four of those recorded since the
    /// last check, or all of them at the end, are active at introspection,
    /// as their user.
    async fn check_writes(&self, rng: &mut Rng, all: bool) {
        let users = self.admin(rng, &AdminCommand::UserList).await;
        let users: HashSet<&str> = users.as_array().unwrap().iter().filter_map(|u| u["username"].as_str()).collect();
        let pats = self.admin(rng, &AdminCommand::PatList { username: None }).await;
        let pats: HashSet<(&str, &str)> =
            pats.as_array().unwrap().iter().filter_map(|p| Some((p["id"].as_str()?, p["status"].as_str()?))).collect();
        let (recorded_users, introspect) = {
            let mut records = self.records.lock().unwrap();
            for pat in &records.pats {
                assert!(pats.contains(&(pat.id.as_str(), "active")), "PAT {} was reported made and is lost", pat.id);
            }
            let from = if all { 0 } else { records.pats.len() - records.unchecked };
            records.unchecked = 0;
            let mut introspect: Vec<_> =
                records.pats[from..].iter().map(|p| (p.token.clone(), p.username.clone(), p.id.clone())).collect();
            while !all && introspect.len() > 4 {
                introspect.swap_remove(rng.below(introspect.len() as u64) as usize);
            }
            (records.users.clone(), introspect)
        };
        for user in &recorded_users {
            assert!(users.contains(user.as_str()), "user {user} was reported made and is lost");
        }
        let live = self.live();
        for batch in introspect.chunks(4) {
            let answers = futures_util::future::join_all(batch.iter().map(|(token, _, _)| {
                let base = live[rng.below(live.len() as u64) as usize].1.base.clone();
                async move { introspect_as_web(&base, token).await }
            }))
            .await;
            for ((_, username, id), answer) in batch.iter().zip(answers) {
                assert_eq!(answer["active"], true, "PAT {id} of {username} does not authenticate: {answer}");
                assert_eq!(answer["username"], username.as_str());
            }
        }
    }
}

/// Waits (30 s at most) until `/readyz` at `base` answers 200.
async fn until_ready(base: &str, what: &str) {
    let since = Instant::now();
    loop {
        if let Ok(response) = reqwest::get(format!("{base}/readyz")).await
            && response.status() == 200
        {
            return;
        }
        assert!(since.elapsed() < Duration::from_secs(30), "{what} did not become ready by itself");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Starts the instance from `config` (as at first) and says where it is.
async fn start(config: &std::path::Path) -> (Server, Live) {
    let path = config.to_owned();
    let server = tokio::task::spawn_blocking(move || serve(&path)).await.unwrap();
    let admin_file = config.parent().unwrap().join("data").join("admin.json");
    let endpoint: Value = serde_json::from_slice(&std::fs::read(admin_file).unwrap()).unwrap();
    let live = Live {
        base: server.base.clone(),
        admin_url: endpoint["url"].as_str().unwrap().to_owned(),
        admin_token: endpoint["token"].as_str().unwrap().to_owned(),
    };
    (server, live)
}

static REUSE_INTERVAL: std::sync::OnceLock<u64> = std::sync::OnceLock::new();

fn rounds() -> usize {
    std::env::var("ROUNDS").ok().map(|r| r.parse().expect("ROUNDS is a number")).unwrap_or(20)
}

#[test]
fn instances_and_database_killed_at_random_lose_nothing_a_client_was_told_is_done() {
    let rounds = rounds();
    let interval =
        *REUSE_INTERVAL.get_or_init(|| std::env::var("REUSE_INTERVAL").map_or(0, |s| s.parse().expect("seconds")));
    let seed = std::env::var("SEED").ok().map(|s| s.parse().expect("SEED is a number")).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    });
    eprintln!("instances_crash: {rounds} rounds, SEED={seed}, REUSE_INTERVAL={interval}");
    let began = Instant::now();
    let postgres = OwnServer(PostgresServer::start(true));
    let url = postgres.0.new_database();
    // One address makes all the load: the per-client limits would refuse it.
    // The default request timeout (5 s), not the tests' 1 s: under this
    // load, with PostgreSQL and both instances on the same cores, a new
    // connection's first request can wait over 1 s to be read (then 408).
    let edit = |yaml: String| {
        assert!(yaml.contains("rate_limits: { userinfo: 20 }") && yaml.contains("limits: { request_timeout: 1s }\n"));
        let yaml = yaml
            .replace(
                "rate_limits: { userinfo: 20 }",
                "rate_limits: { token: 1000000, introspect: 1000000, authorize: 100000 }",
            )
            .replace("limits: { request_timeout: 1s }\n", "")
            .replace("    name: Web App\n", &format!("    name: Web App\n    refresh_reuse_interval: {interval}s\n"));
        format!("store: {{ postgres: \"{url}\" }}\n{yaml}")
    };
    let configs = [binary_config(None, edit), binary_config(None, edit)];
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    rt.block_on(async {
        let mut servers: [Option<Server>; INSTANCES] = [None, None];
        let (first, live_a) = start(&configs[0].path).await;
        // The second shares the first's seal key (the signing keys are in
        // the database).
        let keys = configs[1].dir.path().join("keys");
        std::fs::create_dir_all(&keys).unwrap();
        std::fs::copy(configs[0].dir.path().join("keys/seal.key"), keys.join("seal.key")).unwrap();
        let (second, live_b) = start(&configs[1].path).await;
        servers[0] = Some(first);
        servers[1] = Some(second);
        let driver = Arc::new(Driver {
            http: reqwest::Client::new(),
            live: Mutex::new([Some(live_a), Some(live_b)]),
            configs: [configs[0].path.clone(), configs[1].path.clone()],
            accepted: Mutex::default(),
            records: Mutex::default(),
            stats: Stats::default(),
            running: AtomicBool::new(false),
            frozen: AtomicBool::new(false),
            password_hash: bcrypt::hash(PASSWORD, 4).unwrap(),
            write_seq: AtomicUsize::new(0),
        });
        let mut rng = Rng(seed);
        let added = run_with_stdin(
            ferrid().arg("--config").arg(&configs[0].path).args(["user", "add", "alice"]),
            &format!("{PASSWORD}\n"),
        );
        assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
        let browser = browser();
        {
            let base = &driver.live()[0].1.base;
            let params = [("response_type", "code"), ("client_id", "web"), ("redirect_uri", WEB_CB)];
            let response = browser.get(format!("{base}/application/o/authorize/")).query(&params).send().await.unwrap();
            let response = sign_in_with(&browser, base, &location(&response), "alice", PASSWORD).await;
            assert!(location(&response).starts_with(WEB_CB), "signed in");
        }
        let mut chains = Vec::new();
        for _ in 0..CHAINS {
            let last = driver.new_family(&mut rng, &browser).await;
            chains.push(Arc::new(Mutex::new(Chain { last, ..Chain::default() })));
        }

        let (mut kills, mut database_stops) = (0, 0);
        for round in 1..=rounds {
            // The load: every chain, and the admin writes, each a task.
            driver.running.store(true, Ordering::SeqCst);
            driver.frozen.store(false, Ordering::SeqCst);
            let mut load = Vec::new();
            for (i, chain) in chains.iter().enumerate() {
                let (driver, chain) = (driver.clone(), chain.clone());
                let mut rng = Rng(rng.next());
                // Half the chains sit idle from the kill to the check.
                let sleeper = rng.below(2) == 0;
                load.push(tokio::spawn(async move {
                    while driver.running.load(Ordering::SeqCst) && !(sleeper && driver.frozen.load(Ordering::SeqCst)) {
                        let race = rng.below(150) == 0;
                        driver.turn(&mut rng, i, &chain, race).await;
                        tokio::time::sleep(rng.millis(2, 20)).await;
                    }
                }));
            }
            {
                let (driver, mut rng) = (driver.clone(), Rng(rng.next()));
                load.push(tokio::spawn(async move {
                    while driver.running.load(Ordering::SeqCst) {
                        driver.write(&mut rng).await;
                        tokio::time::sleep(rng.millis(5, 40)).await;
                    }
                }));
            }

            tokio::time::sleep(rng.millis(200, 700)).await;
            let victim = rng.below(INSTANCES as u64) as usize;
            let survivor = 1 - victim;
            driver.frozen.store(true, Ordering::SeqCst);
            let mut server = servers[victim].take().unwrap();
            server.child.kill().unwrap(); // SIGKILL
            server.child.wait().unwrap();
            driver.live.lock().unwrap()[victim] = None;
            kills += 1;
            tokio::time::sleep(rng.millis(100, 400)).await;

            if round % 5 == 0 {
                postgres.0.stop_immediately();
                database_stops += 1;
                let base = servers[survivor].as_ref().unwrap().base.clone();
                let ready = reqwest::get(format!("{base}/readyz")).await.unwrap();
                assert_eq!(ready.status(), 503, "not ready while the database is down");
                tokio::time::sleep(rng.millis(300, 700)).await;
                postgres.0.start_again();
                until_ready(&base, "the survivor, after the database came back,").await;
            }

            let (server, live) = start(&driver.configs[victim]).await;
            servers[victim] = Some(server);
            driver.live.lock().unwrap()[victim] = Some(live);
            for (_, live) in driver.live() {
                until_ready(&live.base, "an instance").await;
            }
            tokio::time::sleep(rng.millis(50, 150)).await;
            driver.running.store(false, Ordering::SeqCst);
            for task in load {
                if let Err(e) = task.await {
                    std::panic::resume_unwind(e.into_panic());
                }
            }

            // The check, both instances and the database up: every chain
            // the client holds for sure rotates (one in doubt may have been
            // rotated: then it is refused, and a new family replaces it).
            for (i, chain) in chains.iter().enumerate() {
                let (doubt, dead) = {
                    let chain = chain.lock().unwrap();
                    (chain.doubt, chain.dead)
                };
                if !dead {
                    let before = count(&driver.stats.rotations);
                    let seen = driver.turn(&mut rng, i, chain, false).await;
                    let chain = chain.lock().unwrap();
                    let rotated = count(&driver.stats.rotations) == before + 1 && chain.doubt.is_none();
                    assert!(
                        rotated || (doubt.is_some() && chain.dead),
                        "chain {i}, round {round}, in doubt: {doubt:?}: the token did not rotate: {seen}"
                    );
                }
                if chain.lock().unwrap().dead {
                    let last = driver.new_family(&mut rng, &browser).await;
                    *chain.lock().unwrap() = Chain { last, ..Chain::default() };
                }
            }
            driver.check_writes(&mut rng, false).await;
        }

        // At the end: all PATs once more; the CLI lists every user and PAT.
        driver.check_writes(&mut rng, true).await;
        let cli = |args: &[&str]| {
            let out = ferrid().arg("--config").arg(&configs[0].path).args(args).output().unwrap();
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            serde_json::from_slice::<Value>(&out.stdout).unwrap()
        };
        let users = cli(&["user", "list", "--json"]);
        let users: HashSet<&str> = users.as_array().unwrap().iter().filter_map(|u| u["username"].as_str()).collect();
        let tokens = cli(&["token", "list", "--json"]);
        let tokens: HashSet<(&str, &str)> = tokens
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|t| Some((t["id"].as_str()?, t["status"].as_str()?)))
            .collect();
        {
            let records = driver.records.lock().unwrap();
            for user in &records.users {
                assert!(users.contains(user.as_str()), "`user list` lacks {user}");
            }
            for pat in &records.pats {
                assert!(tokens.contains(&(pat.id.as_str(), "active")), "`token list` lacks PAT {} as active", pat.id);
            }
        }
        // The token each chain rotated away is refused (a reuse, which
        // revokes the family: then its last token is refused too). A new
        // family rotates once first. With a reuse interval, the token
        // before that: the one the interval still forgives is not reuse.
        let mut reuses = 0;
        for (i, chain) in chains.iter().enumerate() {
            let rotated_away =
                |chain: &Chain| if interval > 0 { chain.before_previous.clone() } else { chain.previous.clone() };
            for _ in 0..2 {
                if rotated_away(&chain.lock().unwrap()).is_none() {
                    let seen = driver.turn(&mut rng, i, chain, false).await;
                    assert!(!chain.lock().unwrap().dead, "chain {i}: {seen}");
                }
            }
            let (previous, last) = {
                let chain = chain.lock().unwrap();
                (rotated_away(&chain).expect("a token rotated away"), chain.last.clone())
            };
            assert!(matches!(driver.present(&mut rng, &previous).await, Outcome::Refused), "chain {i}: reuse");
            assert!(matches!(driver.present(&mut rng, &last).await, Outcome::Refused), "chain {i}: revoked");
            reuses += 1;
        }

        let s = &driver.stats;
        let records = driver.records.lock().unwrap();
        eprintln!(
            "instances_crash: {rounds} rounds in {:.1?}: {kills} kills, {database_stops} PostgreSQL stops; \
             {} rotations ({} races, {} families revoked by a race, {} unanswered and {} answered 503 found rotated, \
             {} families made, {} answers 503, {} answers lost, {} requests retried elsewhere, \
             {} retries forgiven; families revoked by a retry or race: {}); \
             admin writes done: {} users, {} PATs ({} by the CLI), {} refused, {} answers lost; \
             {reuses} reuses refused at the end",
            began.elapsed(),
            count(&s.rotations),
            count(&s.races),
            count(&s.race_revocations),
            count(&s.rotated_unanswered),
            count(&s.rotated_despite_503),
            count(&s.families),
            count(&s.unavailable),
            count(&s.lost),
            count(&s.retried_elsewhere),
            count(&s.retries_forgiven),
            count(&s.race_revocations) + count(&s.rotated_unanswered) + count(&s.rotated_despite_503),
            count(&s.users),
            count(&s.pats),
            count(&s.by_cli),
            count(&s.writes_refused),
            count(&s.writes_lost),
        );
        assert!(count(&s.rotations) >= 20 * rounds, "the load did work: {} rotations", count(&s.rotations));
        assert!(records.users.len() >= rounds && records.pats.len() >= rounds, "the writes did work");
        assert!(database_stops == 0 || count(&s.unavailable) > 0, "refreshes were answered 503 meanwhile");
        assert_eq!(reuses, CHAINS);
    });
}
