#!/usr/bin/env bash
# The project's one test command (README, "The two commands"); .ci/run calls it on a
# clean checkout. It installs what the tests need, then checks formatting,
# lints, and runs every test against the real server binary, the real
# Node-RED from npm and the real JupyterHub from PyPI.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

# Node-RED and its auth plugins, exactly as pinned in tests/e2e/package-lock.json.
if ! command -v npm >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q nodejs npm
fi
npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error

# strace: the durability test records the fdatasync before each reply.
# Chromium and chromedriver: the browser tests (tests/e2e/browser.rs).
# Authlib and requests for Debian's Python: the Python relying party
# (tests/e2e/rp/authlib_rp.py).
missing=()
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
# curl: a device polling the device flow (tests/e2e/device_flow.rs).
command -v curl >/dev/null 2>&1 || missing+=(curl)
# oathtool: TOTP codes from an independent implementation (tests/api/mfa.rs).
command -v oathtool >/dev/null 2>&1 || missing+=(oathtool)
/usr/bin/python3 -c 'import authlib, requests' >/dev/null 2>&1 || missing+=(python3 python3-authlib python3-requests)
# PostgreSQL: the tests start servers of their own (initdb + pg_ctl in a
# temporary folder, as the unprivileged postgres user); see
# tests/api/postgres_server.rs. Debian's package only needs to be installed.
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing+=(postgresql)
# nginx and Caddy: forward-auth behind the real reverse proxies
# (tests/e2e/proxies.rs starts them on free ports, configs in a temp dir).
command -v nginx >/dev/null 2>&1 || missing+=(nginx)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
# aiosmtpd for Debian's Python: a real SMTP server receiving ferrid's mail
# (tests/e2e/mail.rs starts it on a free port, STARTTLS with a test cert).
/usr/bin/python3 -c 'import aiosmtpd' >/dev/null 2>&1 || missing+=(python3-aiosmtpd)
# venv for a Python of our own (Debian's python3 needs python3-venv for it).
python3 -c 'import ensurepip, venv' >/dev/null 2>&1 || missing+=(python3-venv)
if [ "${#missing[@]}" -gt 0 ]; then
    apt-get update -q && apt-get install -y -q "${missing[@]}"
fi

# JupyterHub and oauthenticator (tests/e2e/jupyterhub.rs), exactly as pinned
# with their hashes in tests/e2e/requirements.txt, in a virtualenv of their
# own; it is made again only when that file changes (a copy is kept inside).
# configurable-http-proxy, its proxy, came with `npm ci` above.
venv=tests/e2e/.venv
if ! cmp -s tests/e2e/requirements.txt "$venv/requirements.txt" \
    || ! "$venv/bin/python" -c 'import jupyterhub' >/dev/null 2>&1; then
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input \
        --require-hashes --no-deps --only-binary :all: -r tests/e2e/requirements.txt
    cp tests/e2e/requirements.txt "$venv/requirements.txt"
fi

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
# The store (unit) and API tests once more, on PostgreSQL instead of sled:
# both stores pass the same tests.
FERRID_TEST_STORE=postgres cargo test --locked --lib --test api
