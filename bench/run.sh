#!/usr/bin/env bash
# ferrid's benchmark: one command, one run, figures with their limits.
#
#   bench/run.sh            # DURATION=10 CONNS=32 by default
#
# Builds ferrid (release), starts it on loopback with a throwaway data dir,
# and drives load from a separate process pinned to the last core (wrk for
# single requests, bench/flows.rs for refresh rotation and full sign-ins).
# Beside each figure, its limit measured in the same run: the actix-web
# floor (bench/floor.rs, a fixed body of discovery's size) and one core's
# raw OpenSSL sign rate. The single-request endpoints also run against
# oidc-provider (bench/peers/oidc-provider, pinned by its package-lock.json)
# for ferrid/peer ratios. Any non-2xx response fails the run, except in the
# rows named *_refused, whose answers are refusals and must each cost at
# most 5x a normal request of that endpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-10}"
conns="${CONNS:-32}"
flows="${FLOWS:-300}"
refreshes="${REFRESHES:-5000}"
cores="$(nproc)"
load_core=$((cores - 1))

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -q && apt-get install -y -q wrk
fi
cargo build --release --locked --quiet --bin ferrid --example flows --example floor

work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

port="$(free_port)"
base="http://127.0.0.1:$port"
secret="bench-secret-0123456789abcdef"
password="bench-password-0123"
secret_sha="$(printf %s "$secret" | sha256sum | cut -d' ' -f1)"
huge=100000000
cat > "$work/config.yaml" <<YAML
listen: 127.0.0.1:$port
public_url: $base
data_dir: $work/data
keys_dir: $work/keys
lifetimes: { access_token: 1h }
rate_limits: { authorize: $huge, sign_in: $huge, token: $huge, introspect: $huge, userinfo: $huge, pages: $huge }
trusted_proxies: ["127.0.0.1"]
applications:
  - slug: site
    proxy: { hosts: ["site.bench"] }
  - slug: rs
    client_secret_sha256: $secret_sha
    redirect_uris: ["https://bench.invalid/cb"]
  - slug: es
    client_secret_sha256: $secret_sha
    redirect_uris: ["https://bench.invalid/cb"]
    signing_alg: ES256
YAML
ferrid=(target/release/ferrid --config "$work/config.yaml")
discovery="$base/application/o/rs/.well-known/openid-configuration"

now_ms() { date +%s%3N; }
start_ferrid() {
    "${ferrid[@]}" serve >>"$work/stdout" 2>>"$work/log" &
    pid=$!
    pids+=("$pid")
    until curl -sf -o /dev/null "$discovery"; do sleep 0.002; done
}
stop_ferrid() { kill "$pid"; wait "$pid" 2>/dev/null || true; }
# Resident memory, and the anonymous part of it: the rest is the binary's
# and libraries' pages, shared with the page cache and reclaimable.
rss_kb() { awk '/^VmRSS:/ { r = $2 } /^RssAnon:/ { a = $2 } END { printf "%s kB (anonymous %s kB)", r, a }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# Cold start: the first start makes keys; the second is what a restart costs.
t0=$(now_ms); start_ferrid; first_start_ms=$(( $(now_ms) - t0 )); stop_ferrid
t0=$(now_ms); start_ferrid; cold_start_ms=$(( $(now_ms) - t0 ))
sleep 1
rss_idle=$(rss_kb "$pid")
printf '%s\n' "$password" | "${ferrid[@]}" user add bench >/dev/null

# One user token for userinfo and introspection (the configured bcrypt cost).
flows_cmd=(target/release/examples/flows --base "$base" --client rs --secret "$secret"
    --redirect-uri https://bench.invalid/cb --user bench --password "$password")
taskset -c "$load_core" "${flows_cmd[@]}" --count 1 --concurrency 1 --emit "$work/tokens.json" >/dev/null
access_token="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$work/tokens.json")"
basic="$(printf 'rs:%s' "$secret" | base64 -w0)"
basic_es="$(printf 'es:%s' "$secret" | base64 -w0)"

# Forward-auth: a session cookie (signed in once, by curl) and a PAT.
jar="$work/cookies"
login="$(curl -s -c "$jar" -b "$jar" -o /dev/null -w '%{redirect_url}' "$base/?rd=http%3A%2F%2Fsite.bench%2F")"
form="$(curl -s -c "$jar" -b "$jar" "$login")"
tx="$(sed -n 's/.*name="tx" value="\([^"]*\)".*/\1/p' <<<"$form")"
csrf="$(sed -n 's/.*name="csrf_token" value="\([^"]*\)".*/\1/p' <<<"$form")"
curl -s -c "$jar" -b "$jar" -o /dev/null --data-urlencode "tx=$tx" --data-urlencode "csrf_token=$csrf" \
    --data-urlencode "username=bench" --data-urlencode "password=$password" "$base/login"
session="$(awk '$6 == "ferrid_session" { print $7 }' "$jar")"
[ -n "$session" ] || { echo "bench: no session cookie for the forward-auth rows" >&2; exit 1; }
pat="$("${ferrid[@]}" token create --user bench --app site --expires 1d --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["token"])')"
pat_basic="$(printf 'bench:%s' "$pat" | base64 -w0)"
cat > "$work/headers.lua" <<'LUA'
for line in string.gmatch(os.getenv("HEADERS") or "", "[^\n]+") do
    local name, value = string.match(line, "^([^:]+):%s*(.*)$")
    wrk.headers[name] = value
end
LUA

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("AUTH")
wrk.body = os.getenv("BODY")
LUA
cat > "$work/get.lua" <<'LUA'
local auth = os.getenv("AUTH")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
LUA

results="$work/results"
: > "$results"
# run NAME URL LUA [AUTH BODY] (HEADERS from the environment, for headers.lua)
run() {
    local name=$1 url=$2 lua=$3 auth=${4:-} body=${5:-}
    local before after
    # A short warm-up first (connections, caches, the peer's JIT), not counted.
    AUTH="$auth" BODY="$body" taskset -c "$load_core" wrk -t1 -c"$conns" -d2s -s "$lua" "$url" >/dev/null
    before=$(cpu_ticks "$pid")
    AUTH="$auth" BODY="$body" taskset -c "$load_core" wrk -t1 -c"$conns" -d"${duration}s" --latency -s "$lua" "$url" >"$work/$name.wrk"
    after=$(cpu_ticks "$pid")
    python3 - "$work/$name.wrk" "$name" "$((after - before))" "$duration" "$(getconf CLK_TCK)" >>"$results" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
name, ticks, seconds, hz = sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5])
def ms(label):
    m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, text, re.M)
    v, unit = float(m.group(1)), m.group(2)
    return v / 1000 if unit == "us" else v * 1000 if unit == "s" else v
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
errors = re.search(r"Socket errors: (.*)", text)
print(f"{name} {rps:.0f} {ms('50%'):.3f} {ms('99%'):.3f} {int(bad.group(1)) if bad else 0} {ticks / hz / seconds:.2f} {1 if errors else 0}")
PY
}

floor_port="$(free_port)"
size=$(curl -sf "$discovery" | wc -c)
target/release/examples/floor "$floor_port" "$size" "$cores" &
floor_pid=$!
pids+=("$floor_pid")
until curl -sf -o /dev/null "http://127.0.0.1:$floor_port/floor"; do sleep 0.01; done
# The floor is measured with its own CPU accounting.
saved_pid=$pid; pid=$floor_pid
run floor "http://127.0.0.1:$floor_port/floor" "$work/get.lua"
pid=$saved_pid; kill "$floor_pid"

run discovery "$discovery" "$work/get.lua"
run jwks "$base/application/o/rs/jwks/" "$work/get.lua"
run client_credentials_rs256 "$base/application/o/token/" "$work/post.lua" "Basic $basic" "grant_type=client_credentials"
run client_credentials_es256 "$base/application/o/token/" "$work/post.lua" "Basic $basic_es" "grant_type=client_credentials"
run userinfo "$base/application/o/userinfo/" "$work/get.lua" "Bearer $access_token"
run introspection "$base/application/o/introspect/" "$work/post.lua" "Basic $basic" "token=$access_token"
# An unauthenticated 64 KiB form of ~16,000 distinct keys: refused with
# invalid_request after the first 65, never parsed whole.
many_keys="$(python3 -c '
import itertools, string
chars = string.ascii_letters + string.digits
keys = ("".join(p) for n in (2, 3) for p in itertools.product(chars, repeat=n))
body = "token=x"
for key in keys:
    if len(body) + len(key) + 1 > 65000: break
    body += "&" + key
print(body)')"
run introspection_many_keys_refused "$base/application/o/introspect/" "$work/post.lua" "" "$many_keys"

# Forward-auth, asked on every proxied request: a session cookie at both
# endpoints, and Basic user:PAT. (No store write per request: the session's
# last-seen is written at most once a minute, a PAT's last use likewise.)
forwarded=$'X-Forwarded-Proto: http\nX-Forwarded-Host: site.bench\nX-Forwarded-Uri: /page?x=1'
HEADERS="$forwarded"$'\n'"Cookie: ferrid_session=$session" \
    run forward_auth_cookie "$base/api/authz/forward-auth" "$work/headers.lua"
HEADERS=$'X-Original-URL: http://site.bench/page?x=1\n'"Cookie: ferrid_session=$session" \
    run auth_request_cookie "$base/api/authz/auth-request" "$work/headers.lua"
HEADERS="$forwarded"$'\n'"Authorization: Basic $pat_basic" \
    run forward_auth_basic_pat "$base/api/authz/forward-auth" "$work/headers.lua"

# Through nginx: the same upstream (the actix floor) behind nginx with and
# without auth_request to ferrid; the ratio is what forward-auth costs a site.
if command -v nginx >/dev/null 2>&1; then
    target/release/examples/floor "$floor_port" "$size" 1 &
    pids+=("$!")
    until curl -sf -o /dev/null "http://127.0.0.1:$floor_port/floor"; do sleep 0.01; done
    nginx_port="$(free_port)"
    mkdir -p "$work/nginx"
    cat > "$work/nginx/nginx.conf" <<NGINX
worker_processes 1;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
    fastcgi_temp_path $work/nginx/fastcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
    upstream floor { server 127.0.0.1:$floor_port; keepalive 64; }
    upstream ferrid { server 127.0.0.1:$port; keepalive 64; }
    server {
        listen 127.0.0.1:$nginx_port;
        location = /internal/ferrid/authz {
            internal;
            proxy_pass http://ferrid/api/authz/auth-request;
            proxy_http_version 1.1; proxy_set_header Connection "";
            proxy_pass_request_body off;
            proxy_set_header Content-Length "";
            proxy_set_header X-Original-URL http://site.bench\$request_uri;
        }
        location /plain/ { proxy_pass http://floor/floor; proxy_http_version 1.1; proxy_set_header Connection ""; }
        location /guarded/ {
            auth_request /internal/ferrid/authz;
            proxy_pass http://floor/floor; proxy_http_version 1.1; proxy_set_header Connection "";
        }
    }
}
NGINX
    nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" -g 'daemon off;' &
    nginx_pid=$!
    pids+=("$nginx_pid")
    until curl -sf -o /dev/null "http://127.0.0.1:$nginx_port/plain/"; do sleep 0.01; done
    saved_pid=$pid; pid=$nginx_pid
    run nginx_plain "http://127.0.0.1:$nginx_port/plain/" "$work/get.lua"
    pid=$saved_pid
    HEADERS="Cookie: ferrid_session=$session" run nginx_auth_request "http://127.0.0.1:$nginx_port/guarded/" "$work/headers.lua"
    kill "$nginx_pid"
fi

# The same single requests against oidc-provider (bench/peers/), one at a time
# beside ferrid: its process is measured like ferrid's.
peer_port="$(free_port)"
peer="http://127.0.0.1:$peer_port"
bench/peers/oidc-provider/start.sh "$peer_port" "$secret" >"$work/peer.out" 2>"$work/peer.log" &
peer_pid=$!
pids+=("$peer_pid")
until grep -q '^{' "$work/peer.out" 2>/dev/null; do
    kill -0 "$peer_pid" 2>/dev/null || { cat "$work/peer.log" >&2; exit 1; }
    sleep 0.05
done
sleep 1
peer_rss_idle=$(rss_kb "$peer_pid")
peer_token="$(python3 -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["access_token"])' "$work/peer.out")"
saved_pid=$pid; pid=$peer_pid
run peer_discovery "$peer/.well-known/openid-configuration" "$work/get.lua"
run peer_jwks "$peer/jwks" "$work/get.lua"
run peer_client_credentials_rs256 "$peer/token" "$work/post.lua" "Basic $basic" "grant_type=client_credentials"
run peer_client_credentials_es256 "$peer/token" "$work/post.lua" "Basic $basic_es" "grant_type=client_credentials"
run peer_userinfo "$peer/me" "$work/get.lua" "Bearer $peer_token"
run peer_introspection "$peer/token/introspection" "$work/post.lua" "Basic $basic" "token=$peer_token"
peer_rss_loaded=$(rss_kb "$peer_pid")
pid=$saved_pid; kill "$peer_pid"

# Refresh rotation and full sign-ins (bcrypt at the configured cost).
ticks_before=$(cpu_ticks "$pid")
taskset -c "$load_core" "${flows_cmd[@]}" --mode refresh --count "$refreshes" --concurrency "$conns" >"$work/refresh.txt"
ticks_after=$(cpu_ticks "$pid")
taskset -c "$load_core" "${flows_cmd[@]}" --count "$flows" --concurrency 8 >"$work/flow.txt"
python3 - "$work/refresh.txt" "$work/flow.txt" "$((ticks_after - ticks_before))" "$(getconf CLK_TCK)" >>"$results" <<'PY'
import re, sys
for path, name in ((sys.argv[1], "refresh_token"), (sys.argv[2], "sign_in_flow")):
    t = open(path).read()
    get = lambda k: float(re.search(k + r"=([\d.]+)", t).group(1))
    cores = int(sys.argv[3]) / int(sys.argv[4]) / get("seconds") if name == "refresh_token" else 0
    print(f"{name} {get('per_s'):.0f} {get('p50_ms'):.3f} {get('p99_ms'):.3f} 0 {cores:.2f} 0")
PY
# Discovery while refreshes run: a refresh waits for an fdatasync (10–50 ms
# on an SD card) and two RSA signatures; none of that may hold up the
# requests that share its worker.
taskset -c "$load_core" "${flows_cmd[@]}" --mode refresh --count 100000000 --concurrency 16 \
    >/dev/null 2>"$work/background.log" &
background=$!
pids+=("$background")
sleep 1
run discovery_during_refresh "$discovery" "$work/get.lua"
# Still running means no refresh failed (flows stops at the first error).
if ! kill "$background" 2>/dev/null; then
    echo "the refreshes beside discovery_during_refresh stopped early:" >&2
    cat "$work/background.log" >&2
    exit 1
fi
rss_loaded=$(rss_kb "$pid")

# One core's raw signing rate: the limit for token endpoints.
speed="$(taskset -c 0 openssl speed -seconds 3 rsa2048 ecdsap256 2>/dev/null)"
rsa_sign=$(awk '/^rsa 2048 bits/ { print $6 }' <<<"$speed")
rsa_verify=$(awk '/^rsa 2048 bits/ { print $7 }' <<<"$speed")
ec_sign=$(awk '/256 bits ecdsa \(nistp256\)/ { print $7 }' <<<"$speed")

status=0
python3 - "$results" "$rsa_sign" "$ec_sign" "$rsa_verify" <<'PY' || status=$?
import sys
rows = [l.split() for l in open(sys.argv[1]) if l.strip()]
rsa, ec, rsa_verify = float(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
by = {r[0]: r for r in rows}
floor = float(by["floor"][1])
limits = {
    "discovery": ("actix floor", floor, False),
    "jwks": ("actix floor", floor, False),
    "discovery_during_refresh": ("discovery alone", float(by["discovery"][1]), False),
    # Forward-auth: target, a cookie check at >= 75% of the floor.
    "forward_auth_cookie": ("actix floor", floor, False),
    "auth_request_cookie": ("actix floor", floor, False),
    "forward_auth_basic_pat": ("actix floor", floor, False),
    "client_credentials_rs256": ("openssl rsa2048 sign/s/core", rsa, True),
    "client_credentials_es256": ("openssl p256 sign/s/core", ec, True),
    # A refresh grant signs an access token and an id_token.
    "refresh_token": ("openssl rsa2048 sign/s/core / 2", rsa / 2, True),
    # Both verify the RS256 access token first.
    "userinfo": ("openssl rsa2048 verify/s/core", rsa_verify, True),
    "introspection": ("openssl rsa2048 verify/s/core", rsa_verify, True),
}
# Refusals and the normal request whose server CPU they are held to (at most 5x).
refusals = {"introspection_many_keys_refused": "introspection"}
if "nginx_plain" in by:
    limits["nginx_auth_request"] = ("the same nginx without auth_request", float(by["nginx_plain"][1]), False)
print(f"{'endpoint':32} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non2xx':>6} {'srv cores':>9} {'/peer':>6}  limit")
failed = False
for name, rps, p50, p99, bad, cores, sockerr in rows:
    rps, cores = float(rps), float(cores)
    note = ""
    if name in limits:
        label, value, per_core = limits[name]
        mine = rps / cores if per_core and cores > 0 else rps
        note = f"{mine / value:6.1%} of {label} ({value:.0f}{', per server core' if per_core else ''})"
    peer = by.get("peer_" + name)
    ratio = f"{rps / float(peer[1]):5.1f}x" if peer else ""
    if name in refusals:
        normal = by[refusals[name]]
        # Server CPU seconds per request, this row against the normal one.
        cost = (cores / rps) / (float(normal[5]) / float(normal[1]))
        note = f"{cost:.2f}x the server CPU of a normal {refusals[name]} request (must be <= 5x)"
        if cost > 5 or int(sockerr):
            failed = True
    elif int(bad) or int(sockerr):
        failed = True
    print(f"{name:32} {rps:8.0f} {float(p50):8.3f} {float(p99):8.3f} {bad:>6} {cores:9.2f} {ratio:>6}  {note}")
print(f"openssl one core: rsa2048 {rsa:.0f} sign/s, {rsa_verify:.0f} verify/s; ecdsa p256 {ec:.0f} sign/s")
sys.exit(1 if failed else 0)
PY
echo "cold start to first 200: ${cold_start_ms} ms (first start, making keys: ${first_start_ms} ms)"
echo "RSS: idle ${rss_idle}, after the load ${rss_loaded} (sessions: bench/memory.sh)"
echo "binary: $(stat -c %s target/release/ferrid) bytes"
echo "peer (oidc-provider $(node -p 'require("./bench/peers/oidc-provider/node_modules/oidc-provider/package.json").version'), node $(node --version)): RSS idle ${peer_rss_idle}, after its load ${peer_rss_loaded}"
exit $status
