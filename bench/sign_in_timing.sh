#!/usr/bin/env bash
# Does a sign-in attempt tell whether the username exists? Times wrong-password
# POSTs to /login for a known user whose hash has an older bcrypt cost (10)
# and for an unknown name, with password_hash_cost at 12, in alternating
# order, and prints the medians and their ratio (1.00 = no difference).
#
#   bench/sign_in_timing.sh [ferrid-binary]     # ROUNDS=15 by default
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${ROUNDS:-15}"
binary="${1:-target/release/ferrid}"
[ "$#" -gt 0 ] || cargo build --release --locked --quiet --bin ferrid

work="$(mktemp -d)"
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
base="http://127.0.0.1:$port"
write_config() {
    cat > "$work/config.yaml" <<YAML
listen: 127.0.0.1:$port
public_url: $base
data_dir: $work/data
keys_dir: $work/keys
password_hash_cost: $1
rate_limits: { authorize: 100000, sign_in: 100000 }
sign_in: { max_failures: 100000, ip_max_failures: 100000, delay_ms: 0 }
applications:
  - slug: app
    public: true
    redirect_uris: ["https://bench.invalid/cb"]
YAML
}
start() {
    "$binary" --config "$work/config.yaml" serve >/dev/null 2>"$work/log" &
    pid=$!
    until curl -sf -o /dev/null "$base/application/o/app/.well-known/openid-configuration"; do sleep 0.05; done
}
# The user is made while the configured cost is 10, then the cost goes up to 12.
write_config 10
start
printf 'known-user-password-1\n' | "$binary" --config "$work/config.yaml" user add known >/dev/null
kill "$pid"; wait "$pid" 2>/dev/null || true
write_config 12
start

python3 - "$base" "$rounds" <<'PY'
import http.cookiejar, re, statistics, sys, time, urllib.parse, urllib.request
base, rounds = sys.argv[1], int(sys.argv[2])
class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *a, **k): return None
def attempt(username):
    opener = urllib.request.build_opener(NoRedirect, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
    q = urllib.parse.urlencode({"response_type": "code", "client_id": "app", "redirect_uri": "https://bench.invalid/cb",
        "scope": "openid", "code_challenge": "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM", "code_challenge_method": "S256"})
    try: opener.open(f"{base}/application/o/authorize/?{q}")
    except urllib.error.HTTPError as e: login = e.headers["Location"]
    html = opener.open(base + login).read().decode()
    field = lambda n: re.search(f'name="{n}" value="([^"]*)"', html).group(1)
    form = urllib.parse.urlencode({"tx": field("tx"), "csrf_token": field("csrf_token"),
        "username": username, "password": "a-wrong-password"}).encode()
    started = time.perf_counter()
    try: opener.open(base + "/login", form)
    except urllib.error.HTTPError as e: assert e.code == 401, e.code
    return (time.perf_counter() - started) * 1000
attempt("warm-up")
times = {"known": [], "unknown": []}
for i in range(rounds):
    for name in (("known", "unknown") if i % 2 == 0 else ("unknown", "known")):
        times[name].append(attempt("known" if name == "known" else f"nobody-{i}"))
known, unknown = statistics.median(times["known"]), statistics.median(times["unknown"])
print(f"wrong password, median of {rounds}: known user (cost 10) {known:.1f} ms, unknown name {unknown:.1f} ms, "
      f"ratio {known / unknown:.2f}")
PY
