#!/usr/bin/env bash
# Two ferrid binaries side by side in one run: discovery, JWKS, userinfo
# and introspection, each measured against both in alternating rounds
# (the machine's drift hits both alike), with the actix-web floor.
#
#   bench/compare.sh BEFORE_BINARY [AFTER_BINARY]    # ROUNDS=3 CONNS=16 SECONDS=4
#
# Prints, per endpoint and binary, the median req/s and the median server
# CPU per request (µs), and discovery/JWKS as a share of the floor.
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"
after="${2:-target/release/ferrid}"
rounds="${ROUNDS:-3}"
conns="${CONNS:-16}"
seconds="${SECONDS_EACH:-4}"
command -v wrk >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q wrk; }
cargo build --release --locked --quiet --bin ferrid --example flows --example floor
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
load_core=$(($(nproc) - 1))
secret="bench-secret-0123456789abcdef"
sha="$(printf %s "$secret" | sha256sum | cut -d' ' -f1)"
basic="$(printf 'rs:%s' "$secret" | base64 -w0)"
cat > "$work/req.lua" <<'LUA'
local auth, body = os.getenv("AUTH"), os.getenv("BODY")
if auth and auth ~= "" then wrk.headers["Authorization"] = auth end
if body and body ~= "" then
    wrk.method = "POST"
    wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
    wrk.body = body
end
LUA
# measure LABEL PID URL AUTH BODY: one line "LABEL rps cpu_us" into results.
measure() {
    AUTH="$4" BODY="$5" taskset -c "$load_core" wrk -t1 -c"$conns" -d1s -s "$work/req.lua" "$3" >/dev/null
    local t0 t1
    t0=$(awk '{ print $14 + $15 }' "/proc/$2/stat")
    AUTH="$4" BODY="$5" taskset -c "$load_core" wrk -t1 -c"$conns" -d"${seconds}s" -s "$work/req.lua" "$3" >"$work/out"
    t1=$(awk '{ print $14 + $15 }' "/proc/$2/stat")
    grep -q "Non-2xx" "$work/out" && { echo "non-2xx answers for $1" >&2; cat "$work/out" >&2; exit 1; }
    python3 - "$work/out" "$1" "$((t1 - t0))" "$(getconf CLK_TCK)" >>"$work/results" <<'PY'
import re, sys
text, label, ticks, hz = open(sys.argv[1]).read(), sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
n = int(re.search(r"(\d+) requests in", text).group(1))
rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))
print(label, f"{rps:.0f}", f"{ticks / hz / n * 1e6:.2f}")
PY
}
# run_binary NAME BINARY: start it, measure every endpoint, stop it.
run_binary() {
    local port base dir pid token
    dir="$work/$1"
    mkdir -p "$dir"
    # One port per binary: its tokens name the issuer, which names the port.
    [ -f "$dir/port" ] || free_port >"$dir/port"
    port="$(cat "$dir/port")"; base="http://127.0.0.1:$port"
    cat > "$dir/config.yaml" <<YAML
listen: 127.0.0.1:$port
public_url: $base
data_dir: $dir/data
keys_dir: $dir/keys
lifetimes: { access_token: 1h }
rate_limits: { authorize: 100000000, sign_in: 100000000, token: 100000000, introspect: 100000000, userinfo: 100000000 }
applications:
  - slug: rs
    client_secret_sha256: $sha
    redirect_uris: ["https://bench.invalid/cb"]
YAML
    "$2" --config "$dir/config.yaml" serve >/dev/null 2>&1 &
    pid=$!; pids+=("$pid")
    until curl -sf -o /dev/null "$base/application/o/rs/jwks/"; do sleep 0.02; done
    [ -f "$work/size" ] || curl -sf "$base/application/o/rs/.well-known/openid-configuration" | wc -c >"$work/size"
    [ -f "$dir/token" ] || {
        printf 'bench-password-0123\n' | "$2" --config "$dir/config.yaml" user add bench >/dev/null
        target/release/examples/flows --base "$base" --client rs --secret "$secret" --redirect-uri https://bench.invalid/cb \
            --user bench --password bench-password-0123 --count 1 --concurrency 1 --emit "$dir/tokens.json" >/dev/null
        python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["access_token"])' "$dir/tokens.json" >"$dir/token"
    }
    token="$(cat "$dir/token")"
    measure "$1 discovery" "$pid" "$base/application/o/rs/.well-known/openid-configuration" "" ""
    measure "$1 jwks" "$pid" "$base/application/o/rs/jwks/" "" ""
    measure "$1 userinfo" "$pid" "$base/application/o/userinfo/" "Bearer $token" ""
    measure "$1 introspection" "$pid" "$base/application/o/introspect/" "Basic $basic" "token=$token"
    kill "$pid"; wait "$pid" 2>/dev/null || true
}
: >"$work/results"
floor_port="$(free_port)"
for round in $(seq 1 "$rounds"); do
    if [ $((round % 2)) -eq 1 ]; then run_binary before "$before"; run_binary after "$after"
    else run_binary after "$after"; run_binary before "$before"; fi
    # The floor: a fixed body of discovery's size (bench/floor.rs).
    target/release/examples/floor "$floor_port" "$(cat "$work/size")" "$(nproc)" & floor=$!; pids+=("$floor")
    until curl -sf -o /dev/null "http://127.0.0.1:$floor_port/floor"; do sleep 0.02; done
    measure "floor floor" "$floor" "http://127.0.0.1:$floor_port/floor" "" ""
    kill "$floor"; wait "$floor" 2>/dev/null || true
done
python3 - "$work/results" "$rounds" "$conns" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, what, rps, cpu = line.split()
    rows.setdefault((who, what), []).append((float(rps), float(cpu)))
med = {k: (statistics.median(r for r, _ in v), statistics.median(c for _, c in v)) for k, v in rows.items()}
floor = med[("floor", "floor")][0]
print(f"{sys.argv[2]} alternating rounds, {sys.argv[3]} connections; medians. actix floor: {floor:.0f} req/s")
print(f"{'endpoint':14} {'before req/s':>12} {'after req/s':>12} {'before us':>10} {'after us':>10}  after/before CPU")
for what in ("discovery", "jwks", "userinfo", "introspection"):
    (br, bc), (ar, ac) = med[("before", what)], med[("after", what)]
    share = f"   floor: {br / floor:.0%} -> {ar / floor:.0%}" if what in ("discovery", "jwks") else ""
    print(f"{what:14} {br:12.0f} {ar:12.0f} {bc:10.2f} {ac:10.2f}  {ac / bc:5.2f}{share}")
PY
