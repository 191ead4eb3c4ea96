//! What a `proxy` application protects behind a reverse proxy's
//! forward-auth: hosts, optionally narrowed to path prefixes, and paths
//! that pass without signing in.

use super::ParseError;
use serde::{Deserialize, Serialize};

/// `host[:port][/path]`: a host a reverse proxy serves (lower case), and
/// the path prefix under it (`/` for the whole host).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyTarget {
    host: String,
    path: String,
}

impl ProxyTarget {
    pub fn parse(raw: &str) -> Result<ProxyTarget, ParseError> {
        let raw = raw.trim();
        let (host, path) = match raw.find('/') {
            Some(i) => (&raw[..i], &raw[i..]),
            None => (raw, "/"),
        };
        let Some(host) = canonical_host(host).filter(|_| !path.contains("//")) else {
            return Err(ParseError::new(format!("{raw:?} is not host[:port][/path] (no scheme, no wildcard)")));
        };
        let path_ok = path.starts_with('/')
            && !path.contains(['?', '#', '\\', ' '])
            && !path.split('/').any(|segment| segment == "..");
        if !path_ok {
            return Err(ParseError::new(format!("{raw:?}: the path must be a plain prefix such as /dashboard")));
        }
        Ok(ProxyTarget { host, path: path.trim_end_matches('/').to_owned() + "/" })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// The prefix, always ending in `/` (`/` for the whole host).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Does a request to `host` (lower case, with its port if it has one)
    /// for `path` fall under it? A target without a port covers its host
    /// on any port. A prefix `/dashboard/` covers `/dashboard` and
    /// `/dashboard/…`, not `/dashboards`.
    pub fn covers(&self, host: &str, path: &str) -> bool {
        let host_matches = self.host == host || (!has_port(&self.host) && without_port(host) == self.host);
        host_matches && (path.starts_with(&self.path) || path == self.path.trim_end_matches('/'))
    }

    /// How specific it is: a target with a port before one without (for
    /// the same host), then the longer prefix.
    pub fn specificity(&self) -> (bool, usize) {
        (has_port(&self.host), self.path.len())
    }
}

fn has_port(host: &str) -> bool {
    without_port(host) != host
}

/// `name` of `name:port` (`[v6]` of `[v6]:port`).
fn without_port(host: &str) -> &str {
    match host.rsplit_once(':') {
        Some((name, port)) if !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    }
}

/// A `Host` value as ferrid compares it: lower case, and a port without
/// leading zeros (`a.lan:08443` is `a.lan:8443`); None if it is not
/// `name[:port]`.
pub fn canonical_host(raw: &str) -> Option<String> {
    let host = raw.to_ascii_lowercase();
    if !is_host_and_port(&host) {
        return None;
    }
    match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && port.bytes().all(|b| b.is_ascii_digit()) => {
            let port: u16 = port.parse().ok()?;
            Some(format!("{name}:{port}"))
        }
        _ => Some(host),
    }
}

/// `name[:port]` or `[v6][:port]`, as a `Host` header carries it.
pub fn is_host_and_port(host: &str) -> bool {
    let (name, port) = match host.rsplit_once(':') {
        Some((name, port)) if !name.ends_with(':') && !port.contains(']') => (name, Some(port)),
        _ => (host, None),
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    let name_ok = match name.strip_prefix('[').and_then(|n| n.strip_suffix(']')) {
        Some(v6) => !v6.is_empty() && v6.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.'),
        None => {
            !name.is_empty()
                && name.len() <= 253
                && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-'))
        }
    };
    port_ok && name_ok
}

impl std::fmt::Display for ProxyTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.path == "/" { write!(f, "{}", self.host) } else { write!(f, "{}{}", self.host, self.path) }
    }
}

/// A `proxy` application's rule: where it applies, and what passes anyway.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProxyRule {
    pub targets: Vec<ProxyTarget>,
    /// Path prefixes (under its targets) that pass without a sign-in, such
    /// as `/health`.
    #[serde(default)]
    pub bypass: Vec<String>,
}

impl ProxyRule {
    /// Is `path` one of the paths that pass without a sign-in?
    pub fn bypasses(&self, path: &str) -> bool {
        self.bypass
            .iter()
            .any(|prefix| path == prefix || path.starts_with(&format!("{}/", prefix.trim_end_matches('/'))))
    }
}

/// The path of a proxied request's URI as the upstream will most likely
/// see it, for matching: the query dropped, percent-escapes decoded,
/// repeated slashes collapsed, `.` and `..` resolved. None for what no
/// rule should guess about (a backslash, a NUL or control character,
/// invalid UTF-8): such a request is refused. Without this, `/%61dmin` or
/// `/public/../admin` would match a looser rule than the `/admin` the
/// upstream serves.
pub fn normalise_path(uri: &str) -> Option<String> {
    let raw = uri.split(['?', '#']).next().unwrap_or_default();
    let decoded: Vec<u8> = percent_decode(raw.as_bytes())?;
    let text = String::from_utf8(decoded).ok()?;
    if text.chars().any(|c| c == '\\' || c.is_control()) {
        return None;
    }
    // Still-encoded dots, slashes or backslashes after one decode mean a
    // hop that decodes twice could see another path: refused.
    let lowered = text.to_ascii_lowercase();
    if ["%2e", "%2f", "%5c"].iter().any(|e| lowered.contains(e)) {
        return None;
    }
    let mut segments: Vec<&str> = Vec::new();
    // `;params` end a segment, as Java servers read them (`..;` is `..`).
    for segment in text.split('/').map(|s| s.split(';').next().unwrap_or_default()) {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            other => segments.push(other),
        }
    }
    let trailing = text.ends_with('/') && !segments.is_empty();
    Some(format!("/{}{}", segments.join("/"), if trailing { "/" } else { "" }))
}

fn percent_decode(raw: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let value = u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?;
            out.push(value);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A bypass path, as configured: a plain absolute path.
pub fn parse_bypass(raw: &str) -> Result<String, ParseError> {
    let ok = raw.starts_with('/')
        && raw.len() > 1
        && !raw.contains(['?', '#', '\\', ' ', '*'])
        && !raw.split('/').any(|segment| segment == "..");
    if ok {
        Ok(raw.trim_end_matches('/').to_owned())
    } else {
        Err(ParseError::new(format!("{raw:?} is not a plain path such as /health")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_covers_its_host_and_prefix_only() {
        let whole = ProxyTarget::parse("NodeRed.Home.lan").unwrap();
        assert!(whole.covers("nodered.home.lan", "/"));
        assert!(whole.covers("nodered.home.lan", "/anything"));
        assert!(!whole.covers("nodered.home.lan.evil", "/"));
        assert!(whole.covers("nodered.home.lan:8080", "/"), "a target without a port: any port");
        let on_port = ProxyTarget::parse("vault.lan:8443").unwrap();
        assert!(on_port.covers("vault.lan:8443", "/") && !on_port.covers("vault.lan", "/"));
        assert!(!on_port.covers("vault.lan:9443", "/"));
        let dashboard = ProxyTarget::parse("nodered.home.lan/dashboard/").unwrap();
        assert_eq!(dashboard.to_string(), "nodered.home.lan/dashboard/");
        assert!(dashboard.covers("nodered.home.lan", "/dashboard"));
        assert!(dashboard.covers("nodered.home.lan", "/dashboard/ui"));
        assert!(!dashboard.covers("nodered.home.lan", "/dashboards"));
        assert!(dashboard.specificity() > whole.specificity());
        assert_eq!(ProxyTarget::parse("a.lan:8080/x").unwrap().host(), "a.lan:8080");
        assert_eq!(canonical_host("A.lan:08443").as_deref(), Some("a.lan:8443"));
        assert_eq!(canonical_host("a.lan:99999"), None);
        assert!(
            ProxyTarget::parse("a.lan:8443").unwrap().specificity()
                > ProxyTarget::parse("a.lan/x/y").unwrap().specificity()
        );
        for bad in ["https://a.lan", "*.lan", "", "a.lan/x?y", "a.lan/../x", "a b", "a.lan:", "a.lan:http", "a.lan//x"]
        {
            assert!(ProxyTarget::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paths_are_matched_as_the_upstream_will_see_them() {
        assert_eq!(normalise_path("/%61dmin/x?y=1").as_deref(), Some("/admin/x"));
        assert_eq!(normalise_path("/public/../admin").as_deref(), Some("/admin"));
        assert_eq!(normalise_path("//admin//x/").as_deref(), Some("/admin/x/"));
        assert_eq!(normalise_path("/./a/%2e%2e/admin").as_deref(), Some("/admin"));
        assert_eq!(normalise_path("/../../").as_deref(), Some("/"));
        assert_eq!(normalise_path("").as_deref(), Some("/"));
        assert_eq!(normalise_path("/health/..;/admin").as_deref(), Some("/admin"));
        assert_eq!(normalise_path("/admin;jsessionid=1/users").as_deref(), Some("/admin/users"));
        assert_eq!(normalise_path("/a/%252e%252e/b"), None, "encoded once more than one decode");
        for hostile in ["/a\\b", "/%5cadmin", "/a%00", "/%zz", "/%", "/%ff"] {
            assert_eq!(normalise_path(hostile), None, "{hostile}");
        }
    }

    #[test]
    fn bypass_paths_match_whole_segments() {
        let rule = ProxyRule { targets: vec![], bypass: vec![parse_bypass("/health/").unwrap()] };
        assert!(rule.bypasses("/health"));
        assert!(rule.bypasses("/health/live"));
        assert!(!rule.bypasses("/healthz"));
        assert!(!rule.bypasses("/"));
        assert!(parse_bypass("/").is_err() && parse_bypass("health").is_err() && parse_bypass("/a/*").is_err());
    }
}
