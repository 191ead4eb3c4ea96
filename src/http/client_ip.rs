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
    // The header's lines, in order, are one list (RFC 9110 §5.3): a proxy
    // may add a line of its own after the client's rather than append to it
    // (HAProxy's `option forwardfor`), so the first line alone may be all
    // the client's. Bytes that are not text do not hide the hops after them.
    let hops: Vec<Option<IpAddr>> = headers
        .get_all("x-forwarded-for")
        .flat_map(|line| {
            let line = String::from_utf8_lossy(line.as_bytes());
            line.split(',').map(str::trim).filter(|h| !h.is_empty()).map(hop_address).collect::<Vec<_>>()
        })
        .collect();
    // Right to left: the first hop our proxies did not add is the client.
    // One that is no address (`unknown`, a name) stops the walk at the
    // nearest trusted hop: skipping it would let the entries a client
    // wrote before it stand in for its address.
    let mut nearest = peer;
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if trusted.iter().any(|net| net.contains(*ip)) => nearest = *ip,
            Some(ip) => return Some(*ip),
            None => return Some(nearest),
        }
    }
    Some(nearest)
}

/// One `X-Forwarded-For` entry's address: `192.0.2.1`, `2001:db8::1`, or
/// with a port as some proxies write it (`192.0.2.1:4711`, `[2001:db8::1]:4711`).
fn hop_address(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
        .or_else(|| hop.strip_prefix('[')?.strip_suffix(']')?.parse().ok())
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

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::http::header::{HeaderName, HeaderValue};

    fn client(lines: &[&[u8]]) -> Option<IpAddr> {
        let mut headers = HeaderMap::new();
        for line in lines {
            headers.append(HeaderName::from_static("x-forwarded-for"), HeaderValue::from_bytes(line).unwrap());
        }
        let trusted = [IpNet::parse("127.0.0.1").unwrap()];
        client_ip(Some("127.0.0.1:4000".parse().unwrap()), &headers, &trusted)
    }

    #[test]
    fn every_line_of_the_header_counts_and_the_nearest_untrusted_hop_is_the_client() {
        let ip = |s: &str| Some(s.parse::<IpAddr>().unwrap());
        assert_eq!(client(&[b"198.51.100.1, 203.0.113.7"]), ip("203.0.113.7"));
        // The proxy's own line after the client's: the client wrote the first.
        assert_eq!(client(&[b"198.51.100.1", b"203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(client(&[b"127.0.0.1", b"203.0.113.7"]), ip("203.0.113.7"), "not a trusted address");
        assert_eq!(client(&[b"\xff\xfe", b"203.0.113.7"]), ip("203.0.113.7"));
        assert_eq!(client(&[b"\xff, 203.0.113.7"]), ip("203.0.113.7"), "not text, then the proxy's hop");
        assert_eq!(client(&[b"203.0.113.7, 127.0.0.1"]), ip("203.0.113.7"), "our proxies' hops are skipped");
        assert_eq!(client(&[b"not-an-ip, , 999.1.1.1"]), ip("127.0.0.1"), "no hop: the peer");
        // A proxy that writes ports: the client's forged entries before the
        // real one do not count.
        assert_eq!(client(&[b"198.51.100.1, 203.0.113.7:4711"]), ip("203.0.113.7"));
        assert_eq!(client(&[b"198.51.100.1, [2001:db8::7]:4711"]), ip("2001:db8::7"));
        assert_eq!(client(&[b"198.51.100.1, [2001:db8::7]"]), ip("2001:db8::7"));
        // An entry that is no address stops the walk at the nearest proxy.
        assert_eq!(client(&[b"198.51.100.1, unknown"]), ip("127.0.0.1"));
        assert_eq!(client(&[b"198.51.100.1, unknown, 127.0.0.1"]), ip("127.0.0.1"));
        assert_eq!(client(&[]), ip("127.0.0.1"));
    }
}
