//! The client's address: the TCP peer, or, when the peer is a trusted
//! reverse proxy, the nearest untrusted address in `X-Forwarded-For`.
//! Untrusted peers cannot choose their address by sending the header.

use crate::domain::IpNet;
use actix_web::http::header::HeaderMap;
use std::net::{IpAddr, SocketAddr};

/// `peer` and `headers` as the request has them (`HttpRequest` or
/// `RequestView`).
pub fn client_ip(peer: Option<SocketAddr>, headers: &HeaderMap, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = peer?.ip();
    if !trusted.iter().any(|net| net.contains(peer)) {
        if headers.contains_key("x-forwarded-for") {
            warn_untrusted_proxy(peer);
        }
        return Some(peer);
    }
    let forwarded = headers.get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("");
    let hops: Vec<IpAddr> = forwarded.split(',').filter_map(|h| h.trim().parse().ok()).collect();
    // Right to left: the first hop our proxies did not add is the client.
    Some(
        hops.iter()
            .rev()
            .copied()
            .find(|ip| !trusted.iter().any(|net| net.contains(*ip)))
            .or(hops.first().copied())
            .unwrap_or(peer),
    )
}

/// Once per process: a request carried `X-Forwarded-For` from a peer that
/// is not a trusted proxy. Behind an unlisted reverse proxy every client has
/// the proxy's address, so they share rate limits and the sign-in throttle's
/// address count.
fn warn_untrusted_proxy(peer: IpAddr) {
    static WARNED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !WARNED.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            %peer,
            "a request carried X-Forwarded-For from {peer}, which is not in trusted_proxies: if it is your reverse \
             proxy, every client behind it shares its address for rate limits and sign-in throttling; add it to \
             trusted_proxies (this warning is shown once)"
        );
    }
}
