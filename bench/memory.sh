#!/usr/bin/env bash
# Memory of a running ferrid (release build, throwaway data dir, loopback):
# RSS idle after start, then after N full sign-in flows, each of which leaves
# one SSO session and one refresh-token family (default N = 10000).
#
#   bench/memory.sh [N]
#
# Sign-ins use bcrypt cost 4 here (COST=10 for the production figure; memory
# does not depend on it, only the time to get there).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
cost="${COST:-4}"

cargo build --release --locked --quiet --bin ferrid --example flows
work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
secret="bench-secret-0123456789abcdef"
password="bench-password-0123"
cat > "$work/config.yaml" <<YAML
listen: 127.0.0.1:$port
public_url: $base
data_dir: $work/data
keys_dir: $work/keys
password_hash_cost: $cost
rate_limits: { authorize: 100000000, sign_in: 100000000, token: 100000000, introspect: 100000000, userinfo: 100000000 }
applications:
  - slug: bench
    client_secret_sha256: $(printf %s "$secret" | sha256sum | cut -d' ' -f1)
    redirect_uris: ["https://bench.invalid/cb"]
YAML

rss_kb() { awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { printf "%s (anonymous %s)", r, a }' "/proc/$pid/status"; }
wait_ready() {
    until curl -sf "$base/readyz" >/dev/null; do sleep 0.01; done
}

target/release/ferrid --config "$work/config.yaml" serve >"$work/stdout" 2>"$work/log" &
pid=$!
wait_ready
printf '%s\n' "$password" | target/release/ferrid --config "$work/config.yaml" user add bench >/dev/null
sleep 2
idle=$(rss_kb)

target/release/examples/flows --base "$base" --client bench --secret "$secret" \
    --redirect-uri https://bench.invalid/cb --user bench --password "$password" \
    --count "$n" --concurrency 8 | tee "$work/flows.txt"
sleep 1
sessions=$(curl -sf "$base/metrics" | awk '/^ferrid_active_sessions / { print $2 }')
loaded=$(rss_kb)

echo "binary_bytes=$(stat -c %s target/release/ferrid)"
echo "rss_idle_kb=$idle"
echo "rss_after_${n}_sessions_and_families_kb=$loaded (active sessions: $sessions)"
echo "data_dir_kb=$(du -sk "$work/data" | cut -f1)"
