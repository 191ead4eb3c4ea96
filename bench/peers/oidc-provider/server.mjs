// oidc-provider set up for the same load as ferrid in bench/run.sh: two
// confidential clients, `rs` (RS256) and `es` (ES256), whose
// client_credentials tokens are JWT access tokens (RFC 9068) signed with
// their algorithm, plus an access token for userinfo and introspection.
//
//   node server.mjs PORT SECRET
//
// Prints one JSON line when listening: { "access_token": "..." }.
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const [port, secret] = process.argv.slice(2);
const jwk = (type, options) => generateKeyPairSync(type, options).privateKey.export({ format: 'jwk' });
const rsa = { ...jwk('rsa', { modulusLength: 2048 }), alg: 'RS256', use: 'sig', kid: 'rs' };
const ec = { ...jwk('ec', { namedCurve: 'P-256' }), alg: 'ES256', use: 'sig', kid: 'es' };
const client = (id, alg) => ({
  client_id: id,
  client_secret: secret,
  grant_types: ['client_credentials', 'authorization_code', 'refresh_token'],
  response_types: ['code'],
  redirect_uris: ['https://bench.invalid/cb'],
  id_token_signed_response_alg: alg,
});
const algOf = { rs: 'RS256', es: 'ES256' };

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [client('rs', 'RS256'), client('es', 'ES256')],
  jwks: { keys: [rsa, ec] },
  cookies: { keys: ['bench-cookie-key-0123456789abcdef'] },
  findAccount: (_ctx, id) => ({ accountId: id, claims: () => ({ sub: id, preferred_username: id }) }),
  ttl: { Grant: 86400, AccessToken: 3600, ClientCredentials: 3600 },
  claims: { openid: ['sub'], profile: ['preferred_username'] },
  features: {
    clientCredentials: { enabled: true },
    introspection: { enabled: true },
    devInteractions: { enabled: false },
    resourceIndicators: {
      enabled: true,
      // Every client_credentials token is for this API, as a JWT.
      defaultResource: () => 'urn:bench:api',
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, _resource, c) => ({
        scope: '',
        audience: c.clientId,
        accessTokenTTL: 3600,
        accessTokenFormat: 'jwt',
        jwt: { sign: { alg: algOf[c.clientId] } },
      }),
    },
  },
});

const server = provider.listen(Number(port), '127.0.0.1', async () => {
  // An opaque access token for userinfo and introspection, as a sign-in
  // would leave (no resource: userinfo only accepts those).
  const rs = await provider.Client.find('rs');
  const grant = new provider.Grant({ accountId: 'bench', clientId: 'rs' });
  grant.addOIDCScope('openid profile');
  const grantId = await grant.save();
  const token = new provider.AccessToken({
    accountId: 'bench', client: rs, grantId, scope: 'openid profile', expiresIn: 3600,
  });
  console.log(JSON.stringify({ access_token: await token.save() }));
});
process.on('SIGTERM', () => server.close(() => process.exit(0)));
