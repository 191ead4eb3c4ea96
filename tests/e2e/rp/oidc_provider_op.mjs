// An OpenID Provider built on oidc-provider (certified; pinned in
// ../package-lock.json), for ferrid's sign-in sources test
// (tests/e2e/sources.rs):
//   args: port client_id client_secret redirect_uri
//   prints "LISTENING <issuer>" once it serves.
// Its one account, uma, is signed in and consents at once (the
// interaction pages answer with the result instead of a form): the test
// is about what ferrid does with the provider's answers, not the
// provider's own pages. PKCE is required, and every authorization
// response carries `iss` (RFC 9207), as oidc-provider does by default.
import Provider from "oidc-provider";

const [port, clientId, clientSecret, redirectUri] = process.argv.slice(2);
const issuer = `http://127.0.0.1:${port}`;

const accounts = {
    uma: {
        sub: "uma-at-the-provider",
        preferred_username: "uma",
        name: "Uma Upstream",
        email: "uma@example.org",
        email_verified: true,
        groups: ["ops", "staff"],
    },
};

const provider = new Provider(issuer, {
    clients: [
        {
            client_id: clientId,
            client_secret: clientSecret,
            redirect_uris: [redirectUri],
            grant_types: ["authorization_code"],
            response_types: ["code"],
            token_endpoint_auth_method: "client_secret_basic",
        },
    ],
    claims: {
        openid: ["sub"],
        profile: ["preferred_username", "name"],
        email: ["email", "email_verified"],
        groups: ["groups"],
    },
    scopes: ["openid", "profile", "email", "groups"],
    findAccount: (ctx, id) => accounts[id] && { accountId: id, claims: () => accounts[id] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    cookies: { keys: ["ferrid-e2e-cookie-key"] },
    interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
});

provider.use(async (ctx, next) => {
    if (!ctx.path.startsWith("/interaction/")) {
        return next();
    }
    const details = await provider.interactionDetails(ctx.req, ctx.res);
    let result;
    if (details.prompt.name === "login") {
        result = { login: { accountId: "uma", amr: ["pwd"] } };
    } else {
        const grant = new provider.Grant({ accountId: details.session.accountId, clientId: details.params.client_id });
        grant.addOIDCScope(details.params.scope);
        result = { consent: { grantId: await grant.save() } };
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, result, { mergeWithLastSubmission: false });
    ctx.redirect(to);
});

provider.listen(Number(port), "127.0.0.1", () => console.log(`LISTENING ${issuer}`));
