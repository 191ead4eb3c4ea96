//! A generic OpenID Connect provider as a source: discovery (cached), the
//! authorization request (code, PKCE S256, state, nonce), the code
//! exchange, and the `id_token` checked as OIDC Core §3.1.3.7 says
//! (signature by the provider's JWKS, `iss`, `aud`/`azp`, `exp`,
//! `nonce`), with RFC 9207's `iss` in the response where the provider
//! sends it. Claims the `id_token` lacks come from the userinfo endpoint
//! (whose `sub` must be the same).

use super::upstream::{SourceError, UpstreamAccount, json_ok, string};
use serde_json::{Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long discovery and keys are trusted before they are fetched again.
const CACHE_FOR: Duration = Duration::from_secs(3600);
/// A token signed by a key not in the cached set fetches the set again,
/// at most this often (a rotation upstream; not a way to make ferrid
/// fetch on every request).
const REFETCH_KEYS_AFTER: Duration = Duration::from_secs(60);
/// Clock difference allowed between ferrid and the provider.
const LEEWAY: i64 = 60;
/// The longest a sign-in waits at the provider (a parked sign-in's
/// lifetime, `oidc::interaction::LIFETIME`): a re-authentication's
/// `auth_time` is no older.
const FRESH_WITHIN: i64 = 600;

/// The parts of the provider's discovery document ferrid uses.
#[derive(Debug)]
struct Metadata {
    authorization_endpoint: String,
    token_endpoint: String,
    userinfo_endpoint: Option<String>,
    jwks_uri: String,
    /// RFC 9207: the provider puts `iss` in every authorization response.
    iss_parameter: bool,
    /// It takes `client_secret_post` but not `client_secret_basic`.
    secret_in_body: bool,
}

/// The provider's signing keys (its JWKS `keys`).
type KeySet = Arc<Vec<Map<String, Value>>>;

pub struct OidcProvider {
    issuer: String,
    metadata: Mutex<Option<(Arc<Metadata>, Instant)>>,
    keys: Mutex<Option<(KeySet, Instant)>>,
}

/// What the callback hands over to check.
pub struct Callback<'a> {
    pub code: &'a str,
    pub verifier: &'a str,
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
    /// RFC 9207's `iss` parameter of the response, if any.
    pub iss: Option<&'a str>,
    pub client_id: &'a str,
    pub client_secret: &'a str,
    pub username_claim: &'a str,
    pub groups_claim: Option<&'a str>,
    /// Asked with `max_age=0` (a re-authentication): `auth_time` must
    /// show a sign-in at the provider since the request was made.
    pub fresh: bool,
    pub now: i64,
}

fn endpoint(doc: &Value, name: &str) -> Result<String, SourceError> {
    let raw = string(doc, name).ok_or_else(|| SourceError::Unreachable(format!("discovery has no {name}")))?;
    let url = url::Url::parse(&raw).map_err(|_| SourceError::Unreachable(format!("discovery's {name} is no URL")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    if url.scheme() != "https" && !(url.scheme() == "http" && loopback) {
        return Err(SourceError::Unreachable(format!("discovery's {name} is not https")));
    }
    Ok(raw)
}

impl OidcProvider {
    pub fn new(issuer: &str) -> OidcProvider {
        OidcProvider { issuer: issuer.to_owned(), metadata: Mutex::new(None), keys: Mutex::new(None) }
    }

    /// Where the browser is sent to sign in: the issuer's origin, and the
    /// authorization endpoint's once discovery named it.
    pub fn browser_origins(&self) -> Vec<String> {
        let mut urls = vec![self.issuer.clone()];
        if let Some((metadata, _)) = self.metadata.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            urls.push(metadata.authorization_endpoint.clone());
        }
        urls.iter().filter_map(|u| url::Url::parse(u).ok()).map(|u| u.origin().ascii_serialization()).collect()
    }

    async fn metadata(&self, http: &reqwest::Client) -> Result<Arc<Metadata>, SourceError> {
        if let Some((metadata, at)) = self.metadata.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < CACHE_FOR
        {
            return Ok(metadata.clone());
        }
        let url = format!("{}/.well-known/openid-configuration", self.issuer.trim_end_matches('/'));
        let doc = json_ok(http.get(url), "discovery").await?;
        // OIDC Discovery §4.3: the document's issuer is exactly the one asked.
        if string(&doc, "issuer").as_deref() != Some(self.issuer.as_str()) {
            return Err(SourceError::Invalid(format!("discovery names another issuer than {}", self.issuer)));
        }
        let methods = doc.get("token_endpoint_auth_methods_supported").and_then(Value::as_array);
        let takes = |m: &str| methods.is_none_or(|all| all.iter().any(|v| v == m));
        let metadata = Arc::new(Metadata {
            authorization_endpoint: endpoint(&doc, "authorization_endpoint")?,
            token_endpoint: endpoint(&doc, "token_endpoint")?,
            userinfo_endpoint: endpoint(&doc, "userinfo_endpoint").ok(),
            jwks_uri: endpoint(&doc, "jwks_uri")?,
            iss_parameter: doc.get("authorization_response_iss_parameter_supported") == Some(&Value::Bool(true)),
            secret_in_body: !takes("client_secret_basic") && takes("client_secret_post"),
        });
        *self.metadata.lock().unwrap_or_else(|e| e.into_inner()) = Some((metadata.clone(), Instant::now()));
        Ok(metadata)
    }

    async fn keys(&self, http: &reqwest::Client, jwks_uri: &str, stale_after: Duration) -> Result<KeySet, SourceError> {
        if let Some((keys, at)) = self.keys.lock().unwrap_or_else(|e| e.into_inner()).as_ref()
            && at.elapsed() < stale_after
        {
            return Ok(keys.clone());
        }
        let set = json_ok(http.get(jwks_uri), "jwks").await?;
        let keys: Vec<Map<String, Value>> = set
            .get("keys")
            .and_then(Value::as_array)
            .map(|keys| keys.iter().filter_map(|k| k.as_object().cloned()).collect())
            .ok_or_else(|| SourceError::Unreachable("the JWKS has no keys".into()))?;
        let keys = Arc::new(keys);
        *self.keys.lock().unwrap_or_else(|e| e.into_inner()) = Some((keys.clone(), Instant::now()));
        Ok(keys)
    }

    /// Where to send the browser. `fresh`: the provider must ask the user
    /// again (a re-authentication), not answer from its own session.
    pub async fn authorization_url(
        &self,
        http: &reqwest::Client,
        query: &[(&str, &str)],
        fresh: bool,
    ) -> Result<String, SourceError> {
        let metadata = self.metadata(http).await?;
        let mut url = url::Url::parse(&metadata.authorization_endpoint)
            .map_err(|_| SourceError::Unreachable("authorization_endpoint".into()))?;
        url.query_pairs_mut().extend_pairs(query).append_pair("response_type", "code");
        if fresh {
            url.query_pairs_mut().append_pair("prompt", "login").append_pair("max_age", "0");
        }
        Ok(url.into())
    }

    /// Redeems the code and checks what came back.
    pub async fn finish(&self, http: &reqwest::Client, back: Callback<'_>) -> Result<UpstreamAccount, SourceError> {
        let metadata = self.metadata(http).await?;
        match back.iss {
            Some(iss) if iss != self.issuer => {
                return Err(SourceError::Invalid(format!("the response came from issuer {iss:?}")));
            }
            None if metadata.iss_parameter => {
                return Err(SourceError::Invalid("the response has no iss, which this provider always sends".into()));
            }
            _ => {}
        }
        let form = [
            ("grant_type", "authorization_code"),
            ("code", back.code),
            ("redirect_uri", back.redirect_uri),
            ("code_verifier", back.verifier),
        ];
        let request = http.post(&metadata.token_endpoint).header("accept", "application/json");
        let request = if metadata.secret_in_body {
            let mut form = form.to_vec();
            form.extend([("client_id", back.client_id), ("client_secret", back.client_secret)]);
            request.form(&form)
        } else {
            // RFC 6749 §2.3.1: both form-urlencoded before they are joined.
            let encode = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            request.basic_auth(encode(back.client_id), Some(encode(back.client_secret))).form(&form)
        };
        let tokens = json_ok(request, "token endpoint").await?;
        let id_token = string(&tokens, "id_token")
            .ok_or_else(|| SourceError::Invalid("the token response has no id_token".into()))?;
        let claims = self.verified_claims(http, &metadata, &id_token).await?;
        self.check_claims(&claims, &back)?;
        let mut claims = Value::Object(claims);
        if let (Some(userinfo), Some(access_token)) = (&metadata.userinfo_endpoint, string(&tokens, "access_token")) {
            let info = json_ok(http.get(userinfo).bearer_auth(access_token), "userinfo").await?;
            // OIDC Core §5.3.4: a userinfo answer for another subject is ignored whole.
            if string(&info, "sub") == string(&claims, "sub")
                && let (Value::Object(mut info), Value::Object(claims)) = (info, &mut claims)
            {
                // An address and whether it is verified come from one
                // answer: an id_token's address never borrows userinfo's
                // `email_verified` (which may be about another address).
                if claims.contains_key("email") {
                    info.remove("email");
                    info.remove("email_verified");
                }
                for (name, value) in info {
                    claims.entry(name).or_insert(value);
                }
            }
        }
        Ok(account_of(&claims, back.username_claim, back.groups_claim))
    }

    async fn verified_claims(
        &self,
        http: &reqwest::Client,
        metadata: &Metadata,
        id_token: &str,
    ) -> Result<Map<String, Value>, SourceError> {
        let keys = self.keys(http, &metadata.jwks_uri, CACHE_FOR).await?;
        match crate::crypto::jose::verify_upstream(id_token, &keys) {
            Ok(claims) => Ok(claims),
            Err(_) => {
                // Perhaps signed by a key newer than the cached set.
                let keys = self.keys(http, &metadata.jwks_uri, REFETCH_KEYS_AFTER).await?;
                crate::crypto::jose::verify_upstream(id_token, &keys)
                    .map_err(|e| SourceError::Invalid(format!("id_token: {e}")))
            }
        }
    }

    fn check_claims(&self, claims: &Map<String, Value>, back: &Callback<'_>) -> Result<(), SourceError> {
        let invalid = |why: &str| Err(SourceError::Invalid(format!("id_token: {why}")));
        if claims.get("iss").and_then(Value::as_str) != Some(self.issuer.as_str()) {
            return invalid("iss is not the source's issuer");
        }
        let audiences: Vec<&str> = match claims.get("aud") {
            Some(Value::String(aud)) => vec![aud.as_str()],
            Some(Value::Array(all)) => all.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        if !audiences.contains(&back.client_id) {
            return invalid("aud is not ferrid's client id");
        }
        let azp = claims.get("azp").and_then(Value::as_str);
        if (audiences.len() > 1 || azp.is_some()) && azp != Some(back.client_id) {
            return invalid("azp is not ferrid's client id");
        }
        match claims.get("exp").and_then(Value::as_i64) {
            Some(exp) if exp + LEEWAY > back.now => {}
            _ => return invalid("expired, or no exp"),
        }
        if claims.get("iat").and_then(Value::as_i64).is_none_or(|iat| iat > back.now + LEEWAY) {
            return invalid("no iat, or one in the future");
        }
        let nonce = claims.get("nonce").and_then(Value::as_str).unwrap_or_default();
        if !crate::crypto::secrets::constant_time_eq(nonce.as_bytes(), back.nonce.as_bytes()) {
            return invalid("nonce is not this sign-in's");
        }
        if string(&Value::Object(claims.clone()), "sub").is_none() {
            return invalid("no sub");
        }
        // OIDC Core §3.1.2.1: asked with max_age, auth_time is required,
        // and the client checks it (a provider that ignored prompt=login
        // answers from an old session of its own).
        if back.fresh
            && claims.get("auth_time").and_then(Value::as_i64).is_none_or(|at| at + FRESH_WITHIN + LEEWAY < back.now)
        {
            return invalid("a re-authentication without a fresh auth_time");
        }
        Ok(())
    }
}

/// What the provider's `amr`/`acr` mean for a second factor: RFC 8176's
/// `mfa`, or an `acr` that names multi-factor (ferrid's own `mfa`, the
/// PAPE policy URI, `phr`/`phrh` of the OpenID EAP profile).
fn says_mfa(claims: &Value) -> bool {
    let amr = claims.get("amr").and_then(Value::as_array).is_some_and(|all| all.iter().any(|m| m == "mfa"));
    let acr = claims.get("acr").and_then(Value::as_str).is_some_and(|acr| {
        matches!(acr, "mfa" | "phr" | "phrh" | "http://schemas.openid.net/pape/policies/2007/06/multi-factor")
    });
    amr || acr
}

fn account_of(claims: &Value, username_claim: &str, groups_claim: Option<&str>) -> UpstreamAccount {
    let groups = match groups_claim.and_then(|name| claims.get(name)) {
        Some(Value::Array(all)) => all.iter().filter_map(|g| g.as_str().map(str::to_owned)).collect(),
        Some(Value::String(one)) => vec![one.clone()],
        _ => vec![],
    };
    let email_verified = match claims.get("email_verified") {
        Some(Value::Bool(verified)) => *verified,
        // Some providers send it as a string.
        Some(Value::String(verified)) => verified == "true",
        _ => false,
    };
    UpstreamAccount {
        subject: string(claims, "sub").unwrap_or_default(),
        login: string(claims, username_claim),
        name: string(claims, "name"),
        email: string(claims, "email"),
        email_verified,
        groups,
        mfa: says_mfa(claims),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn back(nonce: &str) -> Callback<'_> {
        Callback {
            code: "c",
            verifier: "v",
            nonce,
            redirect_uri: "https://ferrid.example/source/oauth/callback/up/",
            iss: None,
            client_id: "ferrid",
            client_secret: "s",
            username_claim: "preferred_username",
            groups_claim: Some("groups"),
            fresh: false,
            now: 1000,
        }
    }

    #[test]
    fn an_id_token_must_come_from_the_issuer_for_ferrid_be_fresh_and_name_this_sign_ins_nonce() {
        let provider = OidcProvider::new("https://up.example/");
        let good = json!({ "iss": "https://up.example/", "aud": "ferrid", "exp": 2000, "iat": 990, "nonce": "n1", "sub": "u1" });
        let check = |claims: &Value| provider.check_claims(claims.as_object().unwrap(), &back("n1")).is_ok();
        let with = |name: &str, value: Value| {
            let mut claims = good.clone();
            claims[name] = value;
            claims
        };
        let without = |name: &str| {
            let mut claims = good.clone();
            claims.as_object_mut().unwrap().remove(name);
            claims
        };
        assert!(check(&good));
        assert!(check(&with("exp", json!(950))), "within a minute's leeway");
        let mut two = with("aud", json!(["ferrid", "other"]));
        two["azp"] = json!("ferrid");
        assert!(check(&two), "two audiences, ferrid the authorized party");
        for (bad, why) in [
            (with("iss", json!("https://up.example")), "another issuer string"),
            (with("aud", json!("someone-else")), "another audience"),
            (with("aud", json!(["ferrid", "other"])), "two audiences and no azp"),
            (with("azp", json!("other")), "another authorized party"),
            (with("exp", json!(900)), "expired"),
            (without("exp"), "no exp"),
            (with("iat", json!(2000)), "issued in the future"),
            (without("iat"), "no iat"),
            (with("nonce", json!("n2")), "another sign-in's nonce"),
            (without("nonce"), "no nonce"),
            (without("sub"), "no subject"),
        ] {
            assert!(!check(&bad), "{why}");
        }
    }

    #[test]
    fn the_account_takes_its_name_address_groups_and_second_factor_from_the_claims() {
        let claims = json!({
            "sub": "u1", "preferred_username": "uma", "email": "uma@example.org", "email_verified": "true",
            "groups": ["ops", "dev"], "amr": ["pwd", "otp", "mfa"]
        });
        let account = account_of(&claims, "preferred_username", Some("groups"));
        assert_eq!(account.login.as_deref(), Some("uma"));
        assert!(account.email_verified, "a string true, as some providers send it");
        assert_eq!(account.groups, ["ops", "dev"]);
        assert!(account.mfa);
        let one =
            account_of(&json!({ "sub": "u1", "groups": "ops", "acr": "pwd" }), "preferred_username", Some("groups"));
        assert_eq!((one.groups, one.mfa, one.login, one.email_verified), (vec!["ops".to_owned()], false, None, false));
        assert!(account_of(&json!({ "sub": "u", "acr": "mfa" }), "x", None).mfa);
        assert!(!account_of(&json!({ "sub": "u", "amr": ["pwd"] }), "x", None).mfa);
    }
}
