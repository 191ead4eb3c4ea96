// A relying party that registers itself (RFC 7591) with openid-client
// (pinned in ../package-lock.json), then signs in, reads its registration
// back and deletes it (RFC 7592). Driven by tests/e2e/relying_parties.rs
// over stdin/stdout:
//   args: issuer initial_access_token redirect_uri post_logout_redirect_uri
//   prints "REGISTERED <client_id>", "AUTHORIZE <url>", reads the callback
//   URL the browser reached, verifies the tokens (signature, iss, the RFC
//   9207 iss parameter, aud, nonce, state), prints "SIGNED_IN <sub> <iss>",
//   "READ <client_id>" (Client.fromUri) and "DELETED <status>".
const { Issuer, generators } = require("openid-client");
const readline = require("readline");

async function main() {
    const [issuerUrl, initialAccessToken, redirectUri, postLogout] = process.argv.slice(2);
    const issuer = await Issuer.discover(issuerUrl);
    const client = await issuer.Client.register(
        {
            redirect_uris: [redirectUri],
            post_logout_redirect_uris: [postLogout],
            response_types: ["code"],
            grant_types: ["authorization_code", "refresh_token"],
            token_endpoint_auth_method: "client_secret_basic",
            client_name: "openid-client, registered",
        },
        { initialAccessToken },
    );
    console.log(`REGISTERED ${client.client_id}`);
    const verifier = generators.codeVerifier();
    const nonce = generators.nonce();
    const state = generators.state();
    console.log(
        `AUTHORIZE ${client.authorizationUrl({
            scope: "openid profile",
            code_challenge: generators.codeChallenge(verifier),
            code_challenge_method: "S256",
            nonce,
            state,
        })}`,
    );
    const lines = readline.createInterface({ input: process.stdin })[Symbol.asyncIterator]();
    const callback = (await lines.next()).value;
    const tokens = await client.callback(redirectUri, client.callbackParams(callback), {
        code_verifier: verifier,
        nonce,
        state,
    });
    const claims = tokens.claims();
    console.log(`SIGNED_IN ${claims.sub} ${claims.iss}`);
    const read = await issuer.Client.fromUri(client.registration_client_uri, client.registration_access_token);
    console.log(`READ ${read.client_id}`);
    const deleted = await fetch(client.registration_client_uri, {
        method: "DELETE",
        headers: { Authorization: `Bearer ${client.registration_access_token}` },
    });
    console.log(`DELETED ${deleted.status}`);
}

main().then(
    () => process.exit(0),
    (error) => {
        console.error(error);
        process.exit(1);
    },
);
