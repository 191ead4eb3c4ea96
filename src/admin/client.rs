//! The CLI's side of the admin API: one HTTP/1.1 request over loopback.
//! Hand-written (about forty lines) so the binary carries no HTTP client.

use super::AdminCommand;
use super::endpoint::AdminEndpoint;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("cannot reach the running ferrid at {url}: {source}")]
    Connect { url: String, source: std::io::Error },
    #[error("the running ferrid answered: {0}")]
    Refused(String),
    #[error("the running ferrid sent a response this CLI cannot read")]
    BadResponse,
}

pub fn send(endpoint: &AdminEndpoint, command: &AdminCommand) -> Result<serde_json::Value, ClientError> {
    let connect = |source| ClientError::Connect { url: endpoint.url.clone(), source };
    let authority = endpoint.url.strip_prefix("http://").ok_or(ClientError::BadResponse)?;
    let body = serde_json::to_vec(command).map_err(|_| ClientError::BadResponse)?;
    let mut stream = TcpStream::connect(authority).map_err(connect)?;
    stream.set_read_timeout(Some(Duration::from_secs(60))).map_err(connect)?;
    let head = format!(
        "POST {} HTTP/1.1\r\nHost: {authority}\r\nAuthorization: Bearer {}\r\n\
         Content-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        crate::paths::ADMIN_EXEC,
        endpoint.token,
        body.len()
    );
    stream.write_all(head.as_bytes()).and_then(|_| stream.write_all(&body)).map_err(connect)?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).map_err(connect)?;
    let text = String::from_utf8(response).map_err(|_| ClientError::BadResponse)?;
    let (head, body) = text.split_once("\r\n\r\n").ok_or(ClientError::BadResponse)?;
    let status: u16 = head.split(' ').nth(1).and_then(|s| s.parse().ok()).ok_or(ClientError::BadResponse)?;
    let value: serde_json::Value = serde_json::from_str(body).map_err(|_| ClientError::BadResponse)?;
    if status == 200 {
        Ok(value)
    } else {
        Err(ClientError::Refused(value["error"].as_str().unwrap_or("unknown error").to_owned()))
    }
}
