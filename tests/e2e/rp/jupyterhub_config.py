# JupyterHub signing in through ferrid with oauthenticator's
# GenericOAuthenticator, for tests/e2e/jupyterhub.rs. The ferrid part is what
# an operator writes; the rest (ports, a state folder, the proxy from
# tests/e2e/node_modules) is what a test needs to run several hubs at once.
#
# Option names are oauthenticator 17's (tests/e2e/requirements.txt pins
# 17.4.0): `username_claim` replaced `username_key` in 16.0;
# `auth_state_groups_key` replaced GenericOAuthenticator's
# `claim_groups_key` in 17.0, and `allowed_groups`/`admin_groups` moved from
# GenericOAuthenticator to every OAuthenticator in 17.0 and need
# `manage_groups = True` there.
import os

env = os.environ
ferrid = env["FERRID_URL"]  # ferrid's public_url
hub = env["HUB_URL"]  # where the browser reaches JupyterHub (the proxy)
state = env["HUB_STATE_DIR"]

c = get_config()  # noqa: F821 (JupyterHub's config loader defines it)

c.JupyterHub.authenticator_class = "generic-oauth"
c.GenericOAuthenticator.login_service = "ferrid"
c.GenericOAuthenticator.client_id = "jupyterhub"
c.GenericOAuthenticator.client_secret = env["FERRID_CLIENT_SECRET"]
c.GenericOAuthenticator.oauth_callback_url = f"{hub}/hub/oauth_callback"
c.GenericOAuthenticator.authorize_url = f"{ferrid}/application/o/authorize/"
c.GenericOAuthenticator.token_url = f"{ferrid}/application/o/token/"
c.GenericOAuthenticator.userdata_url = f"{ferrid}/application/o/userinfo/"
c.GenericOAuthenticator.scope = ["openid", "profile", "email", "groups"]
c.GenericOAuthenticator.username_claim = "preferred_username"
# Groups from the userinfo `groups` claim (auth_state["oauth_user"] is the
# userinfo answer); members of these ferrid groups may sign in, and the
# second makes JupyterHub admins (who may sign in too).
c.GenericOAuthenticator.manage_groups = True
c.GenericOAuthenticator.auth_state_groups_key = "oauth_user.groups"
c.GenericOAuthenticator.allowed_groups = {"jupyter-users"}
c.GenericOAuthenticator.admin_groups = {"jupyter-admins"}
# Defaults, spelled out because ferrid's application is declared to match:
# the secret in the token request's form (client_secret_post), and PKCE (S256).
c.GenericOAuthenticator.basic_auth = False
c.GenericOAuthenticator.enable_pkce = True

# No single-user servers are started: a signed-in user lands on the hub's
# home page, and the spawner (one that needs no system users) stays idle.
c.JupyterHub.spawner_class = "simple"
c.JupyterHub.default_url = "/hub/home"

# Ports and state for a test: everything on loopback, in a temporary folder.
c.JupyterHub.bind_url = hub
c.JupyterHub.hub_bind_url = f"http://127.0.0.1:{env['HUB_API_PORT']}"
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{env['PROXY_API_PORT']}"
c.ConfigurableHTTPProxy.command = [env["CHP"]]
c.ConfigurableHTTPProxy.auth_token = env["PROXY_TOKEN"]
c.ConfigurableHTTPProxy.pid_file = os.path.join(state, "proxy.pid")
c.JupyterHub.pid_file = os.path.join(state, "jupyterhub.pid")
c.JupyterHub.db_url = "sqlite:///" + os.path.join(state, "jupyterhub.sqlite")
c.JupyterHub.cookie_secret_file = os.path.join(state, "cookie_secret")
c.JupyterHub.log_level = "DEBUG"
