"""A relying party built on Authlib and requests (Debian's python3-authlib,
python3-requests), driven by tests/e2e/relying_parties.rs over stdin/stdout:
  args: issuer client_id client_secret redirect_uri post_logout_redirect_uri
  prints "AUTHORIZE <url>", reads the callback URL the browser reached,
  verifies the id_token, prints "SIGNED_IN <sub> <sid>" and "END_SESSION <url>"
  (built from discovery's end_session_endpoint, as Python apps do).
"""
import sys
from urllib.parse import urlencode

import requests
from authlib.common.security import generate_token
from authlib.integrations.requests_client import OAuth2Session
from authlib.jose import JsonWebKey, jwt

issuer, client_id, client_secret, redirect_uri, post_logout = sys.argv[1:6]
meta = requests.get(issuer + ".well-known/openid-configuration", timeout=10).json()
assert meta["issuer"] == issuer, meta["issuer"]

session = OAuth2Session(
    client_id,
    client_secret,
    scope="openid profile",
    redirect_uri=redirect_uri,
    code_challenge_method="S256",
)
verifier = generate_token(48)
nonce = generate_token(20)
url, state = session.create_authorization_url(
    meta["authorization_endpoint"], code_verifier=verifier, nonce=nonce
)
print("AUTHORIZE " + url, flush=True)
callback = sys.stdin.readline().strip()
token = session.fetch_token(
    meta["token_endpoint"], authorization_response=callback, code_verifier=verifier
)

keys = JsonWebKey.import_key_set(requests.get(meta["jwks_uri"], timeout=10).json())
claims = jwt.decode(
    token["id_token"],
    keys,
    claims_options={
        "iss": {"essential": True, "value": issuer},
        "aud": {"essential": True, "value": client_id},
        "nonce": {"essential": True, "value": nonce},
        "sid": {"essential": True},
    },
)
claims.validate()
print("SIGNED_IN %s %s" % (claims["sub"], claims["sid"]), flush=True)
query = urlencode(
    {
        "id_token_hint": token["id_token"],
        "post_logout_redirect_uri": post_logout,
        "state": "py-state",
    }
)
print("END_SESSION %s?%s" % (meta["end_session_endpoint"], query), flush=True)
