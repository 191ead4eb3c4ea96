//! Mail, when `smtp:` is configured: one-time links (recovery, address
//! checks, invitations) sent to a user's address through the operator's
//! mail server with lettre. STARTTLS is required (not opportunistic) unless
//! `security: none`; a CA file lets a home server's self-signed
//! certificate be trusted without trusting every certificate.
//!
//! Pages never wait for a mail (`send_later`): the answer is the same, and
//! as fast, whether or not an address exists, and a mail server that is
//! down or refuses shows only in the log. Mail goes out from a thread of
//! its own, one at a time, so a server that hangs for its 20 s timeout
//! holds no thread that answers requests.

use crate::config::{SmtpConfig, SmtpSecurity};
use lettre::Address;
use lettre::message::{Mailbox, Message, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{SmtpTransport, Transport};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError, sync_channel};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("smtp.from: {0}")]
    From(String),
    #[error("smtp.ca_file {path}: {message}")]
    CaFile { path: String, message: String },
    #[error("smtp: {0}")]
    Tls(String),
    #[error("{0} is not an address mail can go to")]
    To(String),
    #[error("the mail could not be built: {0}")]
    Build(String),
    /// The server was unreachable, refused, or failed: its words.
    #[error("the mail server did not take the mail: {0}")]
    Send(String),
}

/// A mail to one person: plain text, as any client shows it.
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

struct Outgoing {
    transport: SmtpTransport,
    from: Mailbox,
}

pub struct Mailer {
    outgoing: Arc<Outgoing>,
    /// To the sending thread, started with the first mail.
    outbox: std::sync::OnceLock<SyncSender<(Mail, String)>>,
    /// Mails in the outbox, not yet taken by the sending thread.
    queued: Arc<AtomicUsize>,
}

/// Mails waiting for the sending thread at most; more are dropped (and
/// logged): a mail server that is down must not grow memory without end.
const OUTBOX: usize = 64;

impl Mailer {
    /// Checks the configuration (sender, CA file) at start, so a mistake
    /// stops `serve` rather than the first mail.
    pub fn new(config: &SmtpConfig) -> Result<Mailer, MailError> {
        let from: Mailbox = config.from.parse().map_err(|e| MailError::From(format!("{:?}: {e}", config.from)))?;
        let mut tls = TlsParameters::builder(config.host.clone());
        if let Some(path) = &config.ca_file {
            let ca_error = |message: String| MailError::CaFile { path: path.display().to_string(), message };
            let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
            let cert = Certificate::from_pem(&pem).map_err(|e| ca_error(e.to_string()))?;
            tls = tls.add_root_certificate(cert);
        }
        let tls = tls.build().map_err(|e| MailError::Tls(e.to_string()))?;
        let tls = match config.security {
            SmtpSecurity::StartTls => Tls::Required(tls),
            SmtpSecurity::Tls => Tls::Wrapper(tls),
            SmtpSecurity::None => Tls::None,
        };
        let mut builder = SmtpTransport::builder_dangerous(config.host.as_str())
            .port(config.port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(20)));
        if let Some((user, password)) = &config.credentials {
            builder = builder.credentials(Credentials::new(user.clone(), password.clone()));
        }
        Ok(Mailer {
            outgoing: Arc::new(Outgoing { transport: builder.build(), from }),
            outbox: Default::default(),
            queued: Default::default(),
        })
    }

    /// Sends one mail, blocking until the server took it (or did not).
    pub fn send(&self, mail: &Mail) -> Result<(), MailError> {
        self.outgoing.send(mail)
    }

    /// Whether a mail queued now would wait its turn rather than be
    /// dropped: ask first, before making what the mail carries (a link
    /// nobody receives would still use up its mailbox's share).
    pub fn has_room(&self) -> bool {
        self.queued.load(Ordering::Acquire) < OUTBOX
    }

    /// Queues `mail` for the sending thread; `what` names it in the log.
    fn send_later(&self, mail: Mail, what: String) {
        let outbox = self.outbox.get_or_init(|| {
            let (tx, rx) = sync_channel::<(Mail, String)>(OUTBOX);
            let (outgoing, queued) = (self.outgoing.clone(), self.queued.clone());
            // It ends when the mailer (holding the only sender) is dropped.
            let started = std::thread::Builder::new().name("ferrid-mail".into()).spawn(move || {
                for (mail, what) in rx {
                    queued.fetch_sub(1, Ordering::AcqRel);
                    log_sent(outgoing.send(&mail), &what);
                }
            });
            if let Err(e) = started {
                tracing::error!(error = %e, "cannot start the mail thread");
            }
            tx
        });
        // Counted before it can be taken (the thread counts it out).
        self.queued.fetch_add(1, Ordering::AcqRel);
        let sent = outbox.try_send((mail, what));
        if sent.is_err() {
            self.queued.fetch_sub(1, Ordering::AcqRel);
        }
        match sent {
            Ok(()) => {}
            Err(TrySendError::Full((_, what))) => {
                tracing::warn!(what = %what, "mail not sent: {OUTBOX} mails wait for the mail server already")
            }
            Err(TrySendError::Disconnected((_, what))) => tracing::warn!(what = %what, "mail not sent: no mail thread"),
        }
    }
}

impl Outgoing {
    /// Sends one mail, blocking until the server took it (or did not). It
    /// goes to `mail.to` only if that is one bare address (`is_address`).
    fn send(&self, mail: &Mail) -> Result<(), MailError> {
        let to = address(&mail.to).ok_or_else(|| MailError::To(mail.to.clone()))?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(Mailbox::new(None, to))
            .subject(mail.subject.as_str())
            .header(ContentType::TEXT_PLAIN)
            .body(mail.body.clone())
            .map_err(|e| MailError::Build(e.to_string()))?;
        self.transport.send(&message).map(|_| ()).map_err(|e| MailError::Send(e.to_string()))
    }
}

/// `text` as one bare address (`user@domain`), if it is one: no display
/// name, no second address, no white space or control character. (A
/// mailbox, as lettre parses a `To`, may carry a name: `Alice<eve@evil.test>`
/// would go to a mailbox other than the one the `email` claim shows.)
fn address(text: &str) -> Option<Address> {
    if text.len() > 254 || text.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return None;
    }
    text.parse().ok()
}

/// Is `text` an address ferrid can mail (and so may store as a user's)?
pub fn is_address(text: &str) -> bool {
    address(text).is_some()
}

/// Sends `mail` from the mail thread, after the caller has answered;
/// `what` names it in the log ("recovery link for alice"), never the link.
pub fn send_later(mailer: Arc<Mailer>, mail: Mail, what: String) {
    mailer.send_later(mail, what);
}

fn log_sent(sent: Result<(), MailError>, what: &str) {
    match sent {
        Ok(()) => tracing::info!(what = %what, "mail sent"),
        Err(e) => tracing::warn!(what = %what, error = %e, "mail not sent"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_mail_goes_to_one_bare_address_or_nowhere() {
        for ok in ["alice@home.lan", "bob.smith+ferrid@mail.example.org", "j\u{f6}rg@example.de"] {
            assert!(super::is_address(ok), "{ok}");
        }
        for bad in [
            "Alice<eve@evil.test>",
            "Alice <eve@evil.test>",
            "alice@home.lan, eve@evil.test",
            "alice@home.lan,eve@evil.test",
            "alice@home.lan;eve@evil.test",
            "alice@home.lan\r\nBcc: eve@evil.test",
            "alice@home.lan\n",
            "alice@home.lan\u{0}",
            "@home.lan",
            "alice@",
            "alice",
            "",
        ] {
            assert!(!super::is_address(bad), "{bad:?}");
        }
    }
}
