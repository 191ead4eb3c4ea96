#!/usr/bin/env bash
# Starts the oidc-provider peer for bench/run.sh: PORT SECRET.
# Installs the pinned packages (package-lock.json) on first use.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules ]; then
    npm ci --no-audit --no-fund --loglevel=error >&2
fi
exec node server.mjs "$@"
