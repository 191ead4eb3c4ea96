//! The client's address: the TCP peer, or, when the peer is a trusted
//! reverse proxy, the nearest untrusted address in `X-Forwarded-For`.
//! Untrusted peers cannot choose their address by sending the header.

use actix_web::HttpRequest;
use std::net::IpAddr;

/// An address block, `10.0.0.0/8` or a single address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(raw: &str) -> Option<IpNet> {
        let (addr, prefix) = match raw.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, p.parse::<u8>().ok()?),
            None => {
                let addr = raw.parse::<IpAddr>().ok()?;
                (addr, if addr.is_ipv4() { 32 } else { 128 })
            }
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let bits = |ip: IpAddr| -> Option<u128> {
            match (self.addr, ip) {
                (IpAddr::V4(_), IpAddr::V4(v)) => Some(u128::from(u32::from(v)) << 96),
                (IpAddr::V6(_), IpAddr::V6(v)) => Some(u128::from(v)),
                _ => None,
            }
        };
        let (Some(net), Some(candidate)) = (bits(self.addr), bits(ip)) else { return false };
        // IPv4 addresses sit in the top 32 bits, so one mask formula serves both.
        let mask = if self.prefix == 0 { 0 } else { u128::MAX << (128 - u32::from(self.prefix)) };
        net & mask == candidate & mask
    }
}

pub fn client_ip(req: &HttpRequest, trusted: &[IpNet]) -> Option<IpAddr> {
    let peer = req.peer_addr()?.ip();
    if !trusted.iter().any(|net| net.contains(peer)) {
        if req.headers().contains_key("x-forwarded-for") {
            warn_untrusted_proxy(peer);
        }
        return Some(peer);
    }
    let forwarded = req.headers().get("x-forwarded-for").and_then(|v| v.to_str().ok()).unwrap_or("");
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_contain_their_addresses_only() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains("10.1.200.3".parse().unwrap()));
        assert!(!net.contains("10.2.0.1".parse().unwrap()));
        assert!(!net.contains("::1".parse().unwrap()));
        let one = IpNet::parse("127.0.0.1").unwrap();
        assert!(one.contains("127.0.0.1".parse().unwrap()) && !one.contains("127.0.0.2".parse().unwrap()));
        assert!(IpNet::parse("fd00::/8").unwrap().contains("fd12::1".parse().unwrap()));
        assert!(IpNet::parse("10.0.0.0/33").is_none() && IpNet::parse("nope").is_none());
    }
}
