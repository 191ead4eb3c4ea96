// A relying party built on openid-client (pinned in ../package-lock.json),
// driven by tests/e2e/relying_parties.rs over stdin/stdout:
//   args: issuer client_id client_secret redirect_uri post_logout_redirect_uri
//   prints "AUTHORIZE <url>", reads the callback URL the browser reached,
//   verifies the tokens, prints "SIGNED_IN <sub> <sid>" and
//   "END_SESSION <url>" (openid-client's own end-session URL).
const { Issuer, generators } = require("openid-client");
const readline = require("readline");

async function main() {
    const [issuerUrl, clientId, clientSecret, redirectUri, postLogout] = process.argv.slice(2);
    const issuer = await Issuer.discover(issuerUrl);
    const client = new issuer.Client({
        client_id: clientId,
        client_secret: clientSecret,
        redirect_uris: [redirectUri],
        post_logout_redirect_uris: [postLogout],
        response_types: ["code"],
    });
    const verifier = generators.codeVerifier();
    const nonce = generators.nonce();
    const state = generators.state();
    const url = client.authorizationUrl({
        scope: "openid profile",
        code_challenge: generators.codeChallenge(verifier),
        code_challenge_method: "S256",
        nonce,
        state,
    });
    console.log(`AUTHORIZE ${url}`);
    const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    const callback = (await lines.next()).value;
    // Checks the signature against the JWKS, iss (RFC 9207 too), aud, nonce, state, at_hash.
    const tokens = await client.callback(redirectUri, client.callbackParams(callback), {
        code_verifier: verifier,
        nonce,
        state,
    });
    const claims = tokens.claims();
    console.log(`SIGNED_IN ${claims.sub} ${claims.sid}`);
    const end = client.endSessionUrl({
        id_token_hint: tokens.id_token,
        post_logout_redirect_uri: postLogout,
        state: "js-state",
    });
    console.log(`END_SESSION ${end}`);
}

main().then(
    () => process.exit(0),
    (error) => {
        console.error(error);
        process.exit(1);
    },
);
