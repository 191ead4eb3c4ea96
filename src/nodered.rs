//! `ferrid nodered settings`: a ready-to-paste `settings.js` fragment for a
//! registered application. The end-to-end test runs the real Node-RED with
//! exactly this output, so the snippet cannot drift from what works.

use serde_json::Value;

/// The line that separates the two parts of the output.
pub const INSIDE_EXPORTS_MARKER: &str = "// ---- 2. inside module.exports = { ... } ----";

#[derive(Debug, thiserror::Error)]
pub enum SnippetError {
    #[error("{0} is a public client; Node-RED's passport strategy needs a confidential one (drop `public: true`)")]
    Public(String),
    #[error(
        "{slug} has no redirect URI ending in /auth/strategy/callback; register Node-RED's, e.g. \
         http://127.0.0.1:1880/auth/strategy/callback"
    )]
    NoCallback { slug: String },
    #[error(
        "{slug} maps no claim to carry Node-RED permissions; add to the application in config.yaml, e.g.\n  \
         claims:\n    nodered_permissions: {{ from_groups: {{ nodered-admins: \"*\", nodered-viewers: read }} }}"
    )]
    NoClaim { slug: String },
    #[error("{slug} has no mapped claim named {claim}")]
    UnknownClaim { slug: String, claim: String },
    #[error(
        "{0} is not a proxy application; --http needs one, e.g.\n  ferrid app add nodered-http --proxy \
         nodered.home.lan:1880 (the host and port Node-RED serves)"
    )]
    NotProxy(String),
}

pub struct Options<'a> {
    /// The claim that carries permissions; default: the application's first.
    pub claim: Option<&'a str>,
    /// Also print an `adminAuth.tokens` function accepting ferrid JWTs,
    /// verified offline.
    pub tokens: bool,
    /// Also print an `adminAuth.tokens` function that asks ferrid's
    /// introspection endpoint: accepts personal access tokens and access
    /// tokens, and sees a revocation at the next request.
    pub introspect: bool,
}

/// A JavaScript string literal of `text`: JSON's, which is valid JavaScript
/// (U+2028 and U+2029 included, since ES2019). Every value from the store
/// goes into the snippet this way, so no name, client id or URL can end the
/// string and run as code in Node-RED.
fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_else(|_| "\"\"".into())
}

/// `app` is what `ferrid app show --json` prints.
pub fn settings(app: &Value, options: &Options<'_>) -> Result<String, SnippetError> {
    let text = |k: &str| app[k].as_str().unwrap_or_default().to_owned();
    let slug = text("slug");
    if text("client_type") == "public" {
        return Err(SnippetError::Public(slug));
    }
    let callback = app["redirect_uris"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        // authentik's guide registers it with a trailing slash; Express routes both.
        .find(|u| u.trim_end_matches('/').ends_with("/auth/strategy/callback"))
        .ok_or_else(|| SnippetError::NoCallback { slug: slug.clone() })?
        .to_owned();
    let claims: Vec<&str> = app["mapped_claims"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    let claim = match options.claim {
        Some(c) if claims.contains(&c) => c.to_owned(),
        Some(c) => return Err(SnippetError::UnknownClaim { slug, claim: c.to_owned() }),
        None => claims.first().ok_or_else(|| SnippetError::NoClaim { slug: slug.clone() })?.to_string(),
    };
    let issuer = text("issuer");
    let app_path = crate::paths::for_app(crate::paths::ISSUER, &slug);
    let base = issuer.strip_suffix(&app_path).unwrap_or(issuer.trim_end_matches('/')).to_owned();
    let client_id = text("client_id");
    // Only in `//` comments: a line break is all that could escape one.
    let (name, slug) = (crate::escape::escaped(&text("name")), crate::escape::escaped(&slug));
    let claim_comment = crate::escape::escaped(&claim);
    let (claim_js, issuer_js, client_id_js, callback_js) = (js(&claim), js(&issuer), js(&client_id), js(&callback));
    let endpoint = |path: &str| js(&format!("{base}{path}"));
    let (authorize_js, token_js, userinfo_js) =
        (endpoint(crate::paths::AUTHORIZE), endpoint(crate::paths::TOKEN), endpoint(crate::paths::USERINFO));

    let mut out = String::new();
    out.push_str(&format!(
        "// Node-RED settings for signing in with ferrid ({name}), from `ferrid nodered settings --app {slug}`.\n\
         // Needs `npm install passport-openidconnect` in the Node-RED user directory, and the\n\
         // client secret in the environment: FERRID_CLIENT_SECRET=... node-red\n\n\
         // ---- 1. above module.exports ----\n\
         // Without the secret every sign-in would fail at the token endpoint: stop at start instead.\n\
         if (!process.env.FERRID_CLIENT_SECRET) {{\n    \
         throw new Error(\"FERRID_CLIENT_SECRET is not set: start Node-RED with the client secret of {slug} (ferrid app rotate-secret {slug} makes a new one)\");\n\
         }}\n\
         // Permissions per user, noted by verify from the `{claim_comment}` claim and read by users.\n\
         const permissionsByUser = new Map();\n"
    ));
    if options.introspect {
        out.push_str(&introspection_client(&base, &client_id));
    } else if options.tokens {
        out.push_str(&token_verifier(&issuer, &client_id, &text("signing_alg")));
    }
    out.push('\n');
    out.push_str(INSIDE_EXPORTS_MARKER);
    out.push('\n');
    out.push_str(&format!(
        r#"adminAuth: {{
    type: "strategy",
    strategy: {{
        name: "openidconnect",
        label: "Sign in with ferrid",
        icon: "fa-lock",
        strategy: require("passport-openidconnect").Strategy,
        options: {{
            issuer: {issuer_js},
            authorizationURL: {authorize_js},
            tokenURL: {token_js},
            userInfoURL: {userinfo_js},
            clientID: {client_id_js},
            clientSecret: process.env.FERRID_CLIENT_SECRET,
            callbackURL: {callback_js},
            scope: ["openid", "email", "profile"],
            proxy: true,
            // The id_token comes straight from ferrid's token endpoint over the
            // back channel (OIDC Core 3.1.3.7), so its claims can be read as is.
            verify: function (issuer, profile, context, idToken, done) {{
                const claims = JSON.parse(Buffer.from(idToken.split(".")[1], "base64url").toString());
                permissionsByUser.set(profile.username, claims[{claim_js}] || []);
                done(null, profile);
            }}
        }}
    }},
    users: function (username) {{
        const permissions = permissionsByUser.get(username);
        return Promise.resolve(permissions && permissions.length ? {{ username, permissions }} : null);
    }},
"#
    ));
    if options.introspect {
        out.push_str("    // Bearer tokens for the admin API: personal access tokens and access tokens, via introspection.\n    tokens: ");
        out.push_str(&introspection_tokens_function(&claim));
        out.push_str(",\n");
    } else if options.tokens {
        out.push_str(
            "    // Bearer tokens for the admin API: ferrid access tokens for this application.\n    tokens: ",
        );
        out.push_str(&tokens_function(&claim));
        out.push_str(",\n");
    }
    out.push_str("},\n");
    out.push_str(&logout_wiring(app, &callback));
    out.push_str(
        "// Basic auth for HTTP-in nodes and the dashboard; the hash comes from `ferrid hash-pw`:\n\
         // httpNodeAuth: { user: \"api\", pass: \"$2b$10$...\" },\n",
    );
    Ok(out)
}

/// Node-RED 4's `editorTheme.logout.redirect`: after the editor's Logout
/// (which revokes Node-RED's own token), the browser goes to ferrid's
/// end-session endpoint. Node-RED keeps no id_token to send as a hint, so
/// ferrid asks "Sign out?" once, then returns to the editor if its address
/// is registered as a post-logout redirect URI.
fn logout_wiring(app: &Value, callback: &str) -> String {
    let end_session = app["end_session_endpoint"].as_str().unwrap_or_default();
    let editor = format!("{}/", callback.trim_end_matches('/').trim_end_matches("/auth/strategy/callback"));
    let registered = app["post_logout_redirect_uris"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|u| u == editor);
    let mut query = url::form_urlencoded::Serializer::new(String::new());
    query.append_pair("client_id", app["client_id"].as_str().unwrap_or_default());
    if registered {
        query.append_pair("post_logout_redirect_uri", &editor);
    }
    let redirect = js(&format!("{end_session}?{}", query.finish()));
    let comeback = if registered {
        "then returns to the editor.".to_owned()
    } else {
        // Only in a `//` comment: escaped like the names above.
        format!(
            "then shows \"Signed out\". To come back to the editor instead, add to the\n\
             // application in config.yaml: post_logout_redirect_uris: [\"{}\"]",
            crate::escape::escaped(&editor)
        )
    };
    format!(
        "// Logout in the editor also signs out of ferrid: ferrid asks \"Sign out?\", {comeback}\n\
         // (If settings.js has an editorTheme already, add this `logout` entry to it.)\n\
         editorTheme: {{\n    logout: {{ redirect: {redirect} }},\n}},\n"
    )
}

/// Node-RED's `adminAuth.tokens`: a ferrid access token for the application
/// becomes a user with the permissions from `claim` (or, for a machine
/// client, `API_CLIENT_PERMISSIONS`). Needs [`token_verifier`] above it.
pub fn tokens_function(claim: &str) -> String {
    let claim = js(claim);
    format!(
        r#"function (token) {{
        return verifyFerridToken(token).then(claims => {{
            if (!claims) return null;
            const permissions = claims.sub === claims.client_id ? API_CLIENT_PERMISSIONS : (claims[{claim}] || []);
            return permissions.length ? {{ username: claims.sub, permissions }} : null;
        }}).catch(() => null);
    }}"#
    )
}

/// A verifier for ferrid access tokens with Node's crypto and the JWKS: no
/// npm package needed. `alg` is the application's, fixed in the code (never
/// taken from the token), and typ, iss, aud and exp are all checked.
pub fn token_verifier(issuer: &str, audience: &str, alg: &str) -> String {
    // Node's crypto.verify form for each JWS algorithm ferrid signs with.
    let verify_call = match alg {
        "ES256" => r#"crypto.verify("sha256", signed, { key: key.key, dsaEncoding: "ieee-p1363" }, signature)"#,
        "EdDSA" => "crypto.verify(null, signed, key.key, signature)",
        _ => r#"crypto.verify("RSA-SHA256", signed, key.key, signature)"#,
    };
    let alg = if matches!(alg, "ES256" | "EdDSA") { alg } else { "RS256" };
    let (issuer, audience) = (js(issuer), js(audience));
    format!(
        r#"const crypto = require("crypto");
const FERRID_ISSUER = {issuer};
const FERRID_AUDIENCE = {audience};
// What a machine client (client_credentials: sub == client_id) may do.
const API_CLIENT_PERMISSIONS = ["read"];
let ferridKeys = new Map();
let ferridKeysFetched = 0;
async function ferridKey(kid) {{
    // Refetch the JWKS for an unknown kid (after a rotation), at most once a minute.
    if (!ferridKeys.has(kid) && Date.now() - ferridKeysFetched > 60000) {{
        ferridKeysFetched = Date.now();
        const {{ keys }} = await (await fetch(FERRID_ISSUER + "jwks/")).json();
        ferridKeys = new Map(keys.map(k => [k.kid, {{ alg: k.alg, key: crypto.createPublicKey({{ key: k, format: "jwk" }}) }}]));
    }}
    return ferridKeys.get(kid);
}}
async function verifyFerridToken(token) {{
    const parts = token.split(".");
    if (parts.length !== 3) return null;
    const decode = part => JSON.parse(Buffer.from(part, "base64url").toString());
    const header = decode(parts[0]);
    if (header.alg !== "{alg}" || header.typ !== "at+jwt") return null;
    const key = await ferridKey(header.kid);
    if (!key || key.alg !== "{alg}") return null;
    const signed = Buffer.from(parts[0] + "." + parts[1]);
    const signature = Buffer.from(parts[2], "base64url");
    if (!{verify_call}) return null;
    const claims = decode(parts[1]);
    if (claims.iss !== FERRID_ISSUER || claims.aud !== FERRID_AUDIENCE) return null;
    if (typeof claims.exp !== "number" || claims.exp <= Math.floor(Date.now() / 1000)) return null;
    return claims;
}}
"#
    )
}

/// Asks ferrid's introspection endpoint about a token (RFC 7662), as the
/// application, with the client secret from FERRID_CLIENT_SECRET. No cache:
/// a revoked token fails at its next use.
pub fn introspection_client(base: &str, client_id: &str) -> String {
    let (introspect, client_id) = (js(&format!("{base}{}", crate::paths::INTROSPECT)), js(client_id));
    format!(
        r#"const FERRID_INTROSPECT = {introspect};
const FERRID_CLIENT_ID = {client_id};
// What a machine client (client_credentials: sub == client_id) may do.
const API_CLIENT_PERMISSIONS = ["read"];
async function introspectFerridToken(token) {{
    const credentials = encodeURIComponent(FERRID_CLIENT_ID) + ":" + encodeURIComponent(process.env.FERRID_CLIENT_SECRET);
    const response = await fetch(FERRID_INTROSPECT, {{
        method: "POST",
        headers: {{ authorization: "Basic " + Buffer.from(credentials).toString("base64") }},
        body: new URLSearchParams({{ token }}),
    }});
    if (!response.ok) return null;
    const answer = await response.json();
    return answer.active === true ? answer : null;
}}
"#
    )
}

/// Node-RED's `adminAuth.tokens` over introspection: permissions from the
/// mapped `claim` (ferrid adds it to the introspection answer).
pub fn introspection_tokens_function(claim: &str) -> String {
    let claim = js(claim);
    format!(
        r#"function (token) {{
        return introspectFerridToken(token).then(answer => {{
            if (!answer) return null;
            const permissions = answer.sub === answer.client_id ? API_CLIENT_PERMISSIONS : (answer[{claim}] || []);
            return permissions.length ? {{ username: answer.username || answer.sub, permissions }} : null;
        }}).catch(() => null);
    }}"#
    )
}

/// `ferrid nodered settings --app NAME --http`: an `httpNodeMiddleware`
/// that asks ferrid's forward-auth endpoint about every request to
/// Node-RED's HTTP-in endpoints and dashboard, without a reverse proxy.
/// `app` (what `ferrid app show --json` prints) is a proxy application
/// covering the host and port Node-RED serves; Node-RED's address must be
/// in ferrid's `trusted_proxies`. Only Node's own `http`/`https`.
pub fn http_middleware(app: &Value) -> Result<String, SnippetError> {
    let slug = app["slug"].as_str().unwrap_or_default().to_owned();
    let endpoint = app["forward_auth_endpoint"].as_str().ok_or_else(|| SnippetError::NotProxy(slug.clone()))?;
    let hosts: Vec<String> = app["proxy_hosts"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(crate::escape::escaped)
        .collect();
    // The host Node-RED is checked as: the application's, never the Host a
    // client sends (Node-RED answers any), which would choose the rule.
    let first = app["proxy_hosts"].as_array().and_then(|h| h.first()).and_then(Value::as_str).unwrap_or_default();
    let host = first.split('/').next().unwrap_or_default();
    let (endpoint_js, host_js, slug_comment) = (js(endpoint), js(host), crate::escape::escaped(&slug));
    Ok(format!(
        r#"// Node-RED's HTTP-in endpoints and dashboard behind ferrid ({slug_comment}: {hosts}),
// from `ferrid nodered settings --app {slug_comment} --http`. Browsers are sent to
// ferrid to sign in; scripts send `Authorization: Basic user:PAT` (or Bearer).
// Node-RED's address must be in ferrid's trusted_proxies.
{INSIDE_EXPORTS_MARKER}
// A flow reads who called it from msg.req.headers["remote-user"] (and
// "remote-groups", comma-separated, "remote-email", "remote-name"): set by
// this middleware only; what a client sends under those names is dropped.
httpNodeMiddleware: (function () {{
    const endpoint = new URL({endpoint_js});
    const HOST = {host_js};
    const client = endpoint.protocol === "https:" ? require("https") : require("http");
    // An answer is reused for at most 2 s (a page and its assets): a
    // revocation or sign-out counts within 2 s, and a refusal is never reused.
    const passed = new Map();
    const KEEP_MS = 2000;
    const IDENTITY = ["remote-user", "remote-groups", "remote-email", "remote-name"];
    function ask(req, done) {{
        const headers = {{
            "X-Forwarded-Method": req.method,
            "X-Forwarded-Proto": req.protocol,
            "X-Forwarded-Host": HOST,
            "X-Forwarded-Uri": req.originalUrl,
            // Each client's own address, for ferrid's guessing locks.
            "X-Forwarded-For": req.socket.remoteAddress || "",
            "Accept": req.headers.accept || "",
        }};
        if (req.headers.cookie) headers.Cookie = req.headers.cookie;
        if (req.headers.authorization) headers.Authorization = req.headers.authorization;
        const asking = client.request(endpoint, {{ method: "GET", headers, timeout: 5000 }}, function (answer) {{
            answer.resume();
            answer.on("end", function () {{ done(null, answer.statusCode, answer.headers); }});
        }});
        asking.on("timeout", function () {{ asking.destroy(new Error("ferrid did not answer")); }});
        asking.on("error", function (e) {{ done(e); }});
        asking.end();
    }}
    return function ferridForwardAuth(req, res, next) {{
        for (const name of IDENTITY) delete req.headers[name];
        const key = [req.originalUrl, req.headers.cookie || "", req.headers.authorization || ""].join("\n");
        const kept = passed.get(key);
        const pass = function (headers) {{
            for (const name of IDENTITY) req.headers[name] = headers[name] || "";
            next();
        }};
        if (kept && kept.until > Date.now()) return pass(kept.headers);
        ask(req, function (error, status, headers) {{
            if (error) return res.status(503).send("ferrid cannot be reached");
            if (status === 200) {{
                if (passed.size > 10000) passed.clear();
                passed.set(key, {{ until: Date.now() + KEEP_MS, headers }});
                return pass(headers);
            }}
            if (status === 302 && headers.location) return res.redirect(302, headers.location);
            if (headers["www-authenticate"]) res.set("WWW-Authenticate", headers["www-authenticate"]);
            res.status(status === 401 || status === 403 ? status : 503).send(status === 403 ? "Forbidden" : "Unauthorized");
        }});
    }};
}})(),
"#,
        hosts = hosts.join(", "),
    ))
}

/// The module `ferrid nodered setup` writes beside Node-RED's settings.js
/// (`ferrid-auth.js`), and the one line that settings.js needs at its end.
/// A literal paste of `settings` into Node-RED's own default settings.js
/// loses its `editorTheme` entry to the file's own one further down; the
/// module instead sets `adminAuth` and merges `logout` into whatever
/// `editorTheme` the file has, after the file made its settings.
pub const SETUP_LINE: &str = "require(\"./ferrid-auth.js\")(module.exports);";

pub fn setup_module(app: &Value, options: &Options<'_>) -> Result<String, SnippetError> {
    let snippet = settings(app, options)?;
    let (prelude, entries) = snippet.split_once(INSIDE_EXPORTS_MARKER).unwrap_or((snippet.as_str(), ""));
    Ok(format!(
        "// Written by `ferrid nodered setup`: Node-RED signs in with ferrid.\n\
         // settings.js ends with this line, which applies it to the settings above it:\n\
         //   {SETUP_LINE}\n\
         {prelude}\n\
         const ferrid = {{\n{entries}}};\n\n\
         module.exports = function (settings) {{\n    \
         settings.adminAuth = ferrid.adminAuth;\n    \
         // Merged into the editorTheme settings.js already has (Node-RED's default one has one).\n    \
         settings.editorTheme = Object.assign({{}}, settings.editorTheme, {{ logout: ferrid.editorTheme.logout }});\n    \
         return settings;\n\
         }};\n"
    ))
}
