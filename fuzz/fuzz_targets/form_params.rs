//! Form and query parameters, as every endpoint parses them.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(params) = ferrid::oidc::Params::parse(data) else { return };
    let _ = params.repeated();
    for name in ["grant_type", "code", "client_id", "redirect_uri", "scope", "code_verifier", "state"] {
        let _ = params.get(name);
    }
    if let Some(scope) = params.get("scope") {
        let _ = ferrid::domain::ScopeSet::parse(scope).to_string();
    }
    if let Some(uri) = params.get("redirect_uri") {
        if let Ok(uri) = ferrid::domain::RedirectUri::parse(uri) {
            let _ = uri.with_query(&[("code", "x"), ("state", "y")]);
        }
    }
    if let (Some(challenge), method) = (params.get("code_challenge"), params.get("code_challenge_method")) {
        if let (Ok(c), Some(Ok(v))) = (
            ferrid::domain::CodeChallenge::parse(challenge, method),
            params.get("code_verifier").map(ferrid::domain::CodeVerifier::parse),
        ) {
            let _ = c.is_satisfied_by(&v);
        }
    }
});
