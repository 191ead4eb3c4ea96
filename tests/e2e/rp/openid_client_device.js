// A device on openid-client's device-flow functions (pinned in
// ../package-lock.json), driven by tests/e2e/device_flow.rs:
//   args: issuer client_id
//   prints "CODE <user_code> <verification_uri_complete>", polls as the
//   library does (slow_down included) until the user answers, verifies the
//   id_token (signature from the JWKS, iss, aud, exp) and prints
//   "SIGNED_IN <sub> <preferred_username> <scope> <refresh yes|no>", or
//   "REFUSED <error>".
const { Issuer } = require("openid-client");

async function main() {
    const [issuerUrl, clientId] = process.argv.slice(2);
    const issuer = await Issuer.discover(issuerUrl);
    const client = new issuer.Client({ client_id: clientId, token_endpoint_auth_method: "none" });
    const handle = await client.deviceAuthorization({ scope: "openid profile offline_access" });
    console.log(`CODE ${handle.user_code} ${handle.verification_uri_complete}`);
    try {
        const tokens = await handle.poll();
        const claims = tokens.claims();
        const refresh = tokens.refresh_token ? "yes" : "no";
        console.log(`SIGNED_IN ${claims.sub} ${claims.preferred_username} ${tokens.scope.replace(/ /g, "+")} ${refresh}`);
    } catch (e) {
        if (e.error) {
            console.log(`REFUSED ${e.error}`);
        } else {
            throw e;
        }
    }
}

main().then(
    () => process.exit(0),
    (e) => {
        console.error(e);
        process.exit(1);
    },
);
