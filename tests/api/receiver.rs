//! A back-channel logout receiver for the tests: a real HTTP/1.1 listener
//! on a free port that records each request's form body, and answers 200,
//! 500, or not at all until released (a relying party that hangs).

use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Ok,
    Fail,
    /// Reads the request, then holds the connection until `release`.
    Hang,
}

pub struct Receiver {
    pub url: String,
    /// The `logout_token` of each request received, in order.
    received: Arc<Mutex<Vec<String>>>,
    arrived: Arc<Notify>,
    release: watch::Sender<bool>,
}

impl Receiver {
    pub async fn start(answer: Answer) -> Receiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/backchannel-logout", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let arrived = Arc::new(Notify::new());
        let (release, released) = watch::channel(false);
        let (log, wake) = (received.clone(), arrived.clone());
        tokio::spawn(async move {
            loop {
                let Ok((mut stream, _)) = listener.accept().await else { return };
                let (log, wake, mut released) = (log.clone(), wake.clone(), released.clone());
                tokio::spawn(async move {
                    let Some(body) = read_request(&mut stream).await else { return };
                    let token = url::form_urlencoded::parse(body.as_bytes())
                        .find(|(k, _)| k == "logout_token")
                        .map(|(_, v)| v.into_owned())
                        .unwrap_or_default();
                    log.lock().unwrap().push(token);
                    wake.notify_waiters();
                    let status = match answer {
                        Answer::Ok => "200 OK",
                        Answer::Fail => "500 Internal Server Error",
                        Answer::Hang => {
                            let _ = released.wait_for(|r| *r).await;
                            "200 OK"
                        }
                    };
                    let response = format!("HTTP/1.1 {status}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        Receiver { url, received, arrived, release }
    }

    pub fn tokens(&self) -> Vec<String> {
        self.received.lock().unwrap().clone()
    }

    /// Waits (up to 10 s) until `count` requests have arrived.
    pub async fn wait_for(&self, count: usize) -> Vec<String> {
        let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let notified = self.arrived.notified();
            let tokens = self.tokens();
            if tokens.len() >= count {
                return tokens;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{} of {count} logout tokens arrived", self.tokens().len());
            }
        }
    }

    /// Lets a hanging receiver answer.
    pub fn release(&self) {
        let _ = self.release.send(true);
    }
}

/// Reads one request; returns its body.
async fn read_request(stream: &mut tokio::net::TcpStream) -> Option<String> {
    let mut buffer = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buffer.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buffer).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_owned()))
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            if buffer.len() >= end + 4 + length {
                return Some(text[end + 4..end + 4 + length].to_owned());
            }
        }
    }
}
