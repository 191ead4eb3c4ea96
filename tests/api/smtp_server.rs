//! Debian's aiosmtpd (`python3-aiosmtpd`) as a mail server for tests,
//! started on a free port: it writes what it receives to a Maildir, where
//! tests read the links ferrid mailed (and the envelope: aiosmtpd adds
//! `X-RcptTo`, the recipients the server was given).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// aiosmtpd on 127.0.0.1, killed on drop.
pub struct SmtpServer {
    child: Child,
    pub port: u16,
    pub maildir: PathBuf,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

impl SmtpServer {
    /// A server that takes every mail (requiring STARTTLS when `tls` holds
    /// cert.pem and key.pem), or, with `refuse`, one that answers 550 to
    /// every recipient.
    pub fn start(dir: &Path, tls: Option<&Path>, refuse: bool) -> SmtpServer {
        let port = free_port();
        let maildir = dir.join("maildir");
        let mut command = Command::new("/usr/bin/python3");
        command.args(["-m", "aiosmtpd", "-n", "-l", &format!("127.0.0.1:{port}")]);
        if let Some(tls) = tls {
            command.arg("--tlscert").arg(tls.join("cert.pem")).arg("--tlskey").arg(tls.join("key.pem"));
        }
        if refuse {
            std::fs::write(
                dir.join("refusing.py"),
                "class Refuse:\n    async def handle_RCPT(self, server, session, envelope, address, options):\n        \
                 return '550 5.7.1 not accepted here'\n",
            )
            .unwrap();
            command.env("PYTHONPATH", dir).args(["-c", "refusing.Refuse"]);
        } else {
            command.args(["-c", "aiosmtpd.handlers.Mailbox"]).arg(&maildir);
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("aiosmtpd (python3-aiosmtpd; scripts/test.sh installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "aiosmtpd did not start on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        SmtpServer { child, port, maildir }
    }

    /// Every mail received so far, as text.
    pub fn mails(&self) -> Vec<String> {
        let Ok(entries) = std::fs::read_dir(self.maildir.join("new")) else { return vec![] };
        entries.map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap()).collect()
    }

    /// Waits for a mail that holds `needle`.
    pub fn wait_for(&self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(mail) = self.mails().into_iter().find(|m| m.replace("=\r\n", "").contains(needle)) {
                return mail;
            }
            assert!(Instant::now() < deadline, "no mail with {needle} arrived");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The mails received once none has come for `quiet` (at most 20 s).
    pub fn settled(&self, quiet: Duration) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut seen = self.mails().len();
        let mut since = Instant::now();
        while since.elapsed() < quiet && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
            let now = self.mails().len();
            if now != seen {
                (seen, since) = (now, Instant::now());
            }
        }
        self.mails()
    }
}

/// The recipients a mail was sent to (aiosmtpd's `X-RcptTo`: the envelope).
pub fn envelope_to(mail: &str) -> Vec<String> {
    let line = mail.lines().find_map(|l| l.strip_prefix("X-RcptTo: ")).unwrap_or_default();
    line.split(", ").filter(|s| !s.is_empty()).map(str::to_owned).collect()
}
