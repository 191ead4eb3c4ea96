#!/usr/bin/env bash
# PostgreSQL beside sled: the grants that write (client_credentials, refresh
# rotation, the code exchange within full sign-ins) on sled, on PostgreSQL
# with one ferrid instance, and with two instances on one database; the
# database statements each grant costs (pg_stat_statements, one grant at a
# time); resident memory per instance. Then PostgreSQL behind a TCP proxy
# that adds DELAY_MS each way (bench/delay_proxy.rs: a database on another
# machine): sign-ins, code exchanges (authorize → code → tokens in a browser
# already signed in, 16 at once) and refreshes; and discovery alone, then
# beside those 16 code exchanges (the ratio shows whether store calls hold
# up the requests that need no store).
#
#   bench/postgres.sh        # DURATION=10 REFRESHES=3000 FLOWS=200 EXCHANGES=2000 DELAY_MS=2
#
# PostgreSQL is Debian's, started here with initdb/pg_ctl in a temporary
# folder (as the postgres user when run as root), fsync and
# synchronous_commit on, as in production. Everything shares this machine's
# cores: the database, the load generators and the instances.
set -euo pipefail
cd "$(dirname "$0")/.."
duration="${DURATION:-10}"
refreshes="${REFRESHES:-3000}"
flows="${FLOWS:-200}"
exchanges="${EXCHANGES:-2000}"
delay_ms="${DELAY_MS:-2}"

command -v wrk >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q wrk; }
cargo build --release --locked --quiet --bin ferrid --example flows --example delay_proxy
target="${CARGO_TARGET_DIR:-target}"

work="$(mktemp -d)"
chmod 755 "$work"
pids=()
cleanup() {
    local status=$?
    [ "$status" = 0 ] || for log in "$work"/*/log; do echo "== $log" >&2; grep -v ' INFO ' "$log" | tail -5 >&2; done
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${pgbin:-}" ] && as_pg "$pgbin/pg_ctl" -D "$work/pg/data" stop -m fast >/dev/null 2>&1 || true
    rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }

# --- the database ---
pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
mkdir -p "$work/pg"
[ "$(id -u)" = 0 ] && chown postgres:postgres "$work/pg"
as_pg "$pgbin/initdb" -D "$work/pg/data" --auth=trust --username=ferrid --encoding=UTF8 >/dev/null
pgport="$(free_port)"
as_pg "$pgbin/pg_ctl" -D "$work/pg/data" -l "$work/pg/log" -w start \
    -o "-p $pgport -k $work/pg -c listen_addresses=127.0.0.1 -c shared_preload_libraries=pg_stat_statements" >/dev/null
psql_() { "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U ferrid -qtA "$@"; }
psql_ -d postgres -c "CREATE DATABASE ferrid" -c "CREATE DATABASE ferrid2"
psql_ -d ferrid -c "CREATE EXTENSION pg_stat_statements"

secret="bench-secret-0123456789abcdef"
password="bench-password-0123"
secret_sha="$(printf %s "$secret" | sha256sum | cut -d' ' -f1)"
huge=100000000
basic="$(printf 'rs:%s' "$secret" | base64 -w0)"

# write_config NAME PORT PUBLIC STORE_LINE
write_config() {
    mkdir -p "$work/$1"
    cat > "$work/$1/config.yaml" <<YAML
$4
listen: 127.0.0.1:$2
public_url: $3
data_dir: $work/$1/data
keys_dir: $work/$1/keys
password_hash_cost: 4
lifetimes: { access_token: 1h }
rate_limits: { authorize: $huge, sign_in: $huge, token: $huge, introspect: $huge, userinfo: $huge, pages: $huge }
applications:
  - slug: rs
    client_secret_sha256: $secret_sha
    redirect_uris: ["https://bench.invalid/cb"]
YAML
}
# start NAME PORT: starts ferrid and waits for discovery; sets $started.
start() {
    "$target"/release/ferrid --config "$work/$1/config.yaml" serve >>"$work/$1/stdout" 2>>"$work/$1/log" &
    started=$!
    pids+=("$started")
    until curl -sf -o /dev/null "http://127.0.0.1:$2/application/o/rs/.well-known/openid-configuration"; do
        kill -0 "$started" 2>/dev/null || { cat "$work/$1/log" >&2; exit 1; }
        sleep 0.01
    done
}
rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

cat > "$work/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Authorization"] = os.getenv("AUTH")
wrk.body = "grant_type=client_credentials"
LUA
wrk_rps() { grep -o 'Requests/sec: *[0-9.]*' "$1" | awk '{ print $2 }'; }
flows_rate() { grep -o 'per_s=[0-9.]*' "$1" | cut -d= -f2; }

# measure LABEL BASE...: client_credentials, refresh rotation and sign-ins,
# the load split evenly over the bases given (one process per base).
results="$work/results"
: > "$results"
measure() {
    local label=$1; shift
    local n=$# i=0 base cc=0 rf=0 fl=0
    for base in "$@"; do
        i=$((i + 1))
        AUTH="Basic $basic" wrk -t1 -c$((32 / n)) -d"${duration}s" -s "$work/post.lua" "$base/application/o/token/" \
            >"$work/$label-cc-$i" &
    done
    wait_jobs
    for base in "$@"; do
        i=$((i + 1))
        "$target"/release/examples/flows --base "$base" --client rs --secret "$secret" \
            --redirect-uri https://bench.invalid/cb --user bench --password "$password" \
            --mode refresh --count $((refreshes / n)) --concurrency $((16 / n)) >"$work/$label-rf-$i" &
    done
    wait_jobs
    for base in "$@"; do
        i=$((i + 1))
        "$target"/release/examples/flows --base "$base" --client rs --secret "$secret" \
            --redirect-uri https://bench.invalid/cb --user bench --password "$password" \
            --count $((flows / n)) --concurrency $((8 / n)) >"$work/$label-fl-$i" &
    done
    wait_jobs
    for f in "$work/$label"-cc-*; do cc=$(python3 -c "print($cc + $(wrk_rps "$f"))"); done
    for f in "$work/$label"-rf-*; do rf=$(python3 -c "print($rf + $(flows_rate "$f"))"); done
    for f in "$work/$label"-fl-*; do fl=$(python3 -c "print($fl + $(flows_rate "$f"))"); done
    grep -l 'Non-2xx' "$work/$label"-cc-* >/dev/null 2>&1 && { echo "non-2xx answers in $label" >&2; exit 1; }
    printf '%s %.0f %.0f %.1f\n' "$label" "$cc" "$rf" "$fl" >>"$results"
}
wait_jobs() { for j in $(jobs -p); do case " ${pids[*]} " in *" $j "*) ;; *) wait "$j";; esac; done; }

# --- sled ---
port="$(free_port)"
write_config sled "$port" "http://127.0.0.1:$port" ""
start sled "$port"; sled_pid=$started
printf '%s\n' "$password" | "$target"/release/ferrid --config "$work/sled/config.yaml" user add bench >/dev/null
measure sled "http://127.0.0.1:$port"
sled_rss=$(rss_mb "$sled_pid")
kill "$sled_pid"

# --- PostgreSQL, one instance, then two on one database ---
url="postgres://ferrid@127.0.0.1:$pgport/ferrid"
port_a="$(free_port)"; port_b="$(free_port)"
public="http://127.0.0.1:$port_a"
write_config pg_a "$port_a" "$public" "store: { postgres: \"$url\" }"
write_config pg_b "$port_b" "$public" "store: { postgres: \"$url\" }"
start pg_a "$port_a"; a_pid=$started
printf '%s\n' "$password" | "$target"/release/ferrid --config "$work/pg_a/config.yaml" user add bench >/dev/null
measure postgres_1 "http://127.0.0.1:$port_a"
mkdir -p "$work/pg_b/keys" && cp "$work/pg_a/keys/seal.key" "$work/pg_b/keys/"
start pg_b "$port_b"; b_pid=$started
measure postgres_2 "http://127.0.0.1:$port_a" "http://127.0.0.1:$port_b"
pg_rss_a=$(rss_mb "$a_pid"); pg_rss_b=$(rss_mb "$b_pid")
kill "$b_pid"; wait "$b_pid" 2>/dev/null || true # gone: its polls would land in the counts below

# --- statements per grant, one grant at a time ---
stmts_reset() { psql_ -d ferrid -c "SELECT pg_stat_statements_reset()" >/dev/null; }
# Statements executed, and round trips: a batch's BEGIN, SET LOCAL and
# COMMIT travel with its statement, so they add statements, not trips.
stmts() {
    psql_ -d ferrid -F ' ' -c "SELECT coalesce(sum(calls), 0),
            coalesce(sum(calls) FILTER (WHERE query !~* '^(begin|set|commit)'), 0),
            coalesce(sum(calls) FILTER (WHERE query ~* '^commit'), 0)
        FROM pg_stat_statements
        WHERE query NOT ILIKE '%pg_stat_statements%' AND dbid = (SELECT oid FROM pg_database WHERE datname = 'ferrid')"
}
b="http://127.0.0.1:$port_a"
jar="$work/jar"
location() { curl -s -o /dev/null -w '%{redirect_url}' -b "$jar" -c "$jar" "$@"; }
login="$(location "$b/application/o/authorize/?response_type=code&client_id=rs&redirect_uri=https://bench.invalid/cb&scope=openid%20offline_access&state=s")"
page="$(curl -s -b "$jar" -c "$jar" "$login")"
tx="$(printf %s "$page" | grep -o 'name="tx" value="[^"]*"' | cut -d'"' -f4)"
csrf="$(printf %s "$page" | grep -o 'name="csrf_token" value="[^"]*"' | cut -d'"' -f4)"
callback="$(location -X POST "$b/login" --data-urlencode "tx=$tx" --data-urlencode "csrf_token=$csrf" \
    --data-urlencode "username=bench" --data-urlencode "password=$password")"
code="$(python3 -c 'import sys, urllib.parse as u; print(u.parse_qs(u.urlparse(sys.argv[1]).query)["code"][0])' "$callback")"
sleep 1.5 # the housekeeping and catalog polls run every second: start between two
per_grant() { # NAME BODY: statements and commits of one token request
    stmts_reset
    curl -sf -o "$work/grant.json" -u "rs:$secret" "$b/application/o/token/" -d "$2"
    printf '%s %s\n' "$1" "$(stmts)" >>"$work/stmts"
}
: > "$work/stmts"
per_grant code_exchange "grant_type=authorization_code&code=$code&redirect_uri=https://bench.invalid/cb"
refresh="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["refresh_token"])' "$work/grant.json")"
per_grant refresh "grant_type=refresh_token&refresh_token=$refresh"
per_grant client_credentials "grant_type=client_credentials"

kill "$a_pid"

# --- PostgreSQL behind the delay proxy, one instance, its own database ---
psql_ -d postgres -c "CREATE DATABASE ferrid_delay"
"$target"/release/examples/delay_proxy --to "127.0.0.1:$pgport" --delay-ms "$delay_ms" >"$work/proxy.out" &
pids+=("$!")
until grep -q '^listening on ' "$work/proxy.out" 2>/dev/null; do sleep 0.01; done
proxy="$(sed -n 's/^listening on //p' "$work/proxy.out")"
port_d="$(free_port)"
d="http://127.0.0.1:$port_d"
write_config pg_delay "$port_d" "$d" "store: { postgres: \"postgres://ferrid@$proxy/ferrid_delay\" }"
start pg_delay "$port_d"; d_pid=$started
printf '%s\n' "$password" | "$target"/release/ferrid --config "$work/pg_delay/config.yaml" user add bench >/dev/null
flows_d=("$target"/release/examples/flows --base "$d" --client rs --secret "$secret"
    --redirect-uri https://bench.invalid/cb --user bench --password "$password")
"${flows_d[@]}" --count "$flows" --concurrency 8 >"$work/delay-fl"
"${flows_d[@]}" --mode exchange --count "$exchanges" --concurrency 16 >"$work/delay-ex"
"${flows_d[@]}" --mode refresh --count "$refreshes" --concurrency 16 >"$work/delay-rf"
printf 'postgres_delay %s %s %s\n' "$(flows_rate "$work/delay-fl")" "$(flows_rate "$work/delay-ex")" \
    "$(flows_rate "$work/delay-rf")" >"$work/delay"
# Discovery alone, then beside 16 code exchanges that outlast it.
discovery="$d/application/o/rs/.well-known/openid-configuration"
wrk -t1 -c16 -d"${duration}s" --latency "$discovery" >"$work/disc-alone"
"${flows_d[@]}" --mode exchange --count 1000000000 --concurrency 16 >"$work/disc-ex" 2>&1 &
loader=$!
sleep 2
wrk -t1 -c16 -d"${duration}s" --latency "$discovery" >"$work/disc-loaded"
kill -0 "$loader" 2>/dev/null || { echo "the code exchanges beside discovery stopped early:" >&2; cat "$work/disc-ex" >&2; exit 1; }
kill "$loader"
wait "$loader" 2>/dev/null || true
p99() { awk '$1 == "99%" { print $2 }' "$1"; }
printf '%s %s %s %s\n' "$(wrk_rps "$work/disc-alone")" "$(p99 "$work/disc-alone")" \
    "$(wrk_rps "$work/disc-loaded")" "$(p99 "$work/disc-loaded")" >"$work/discovery"
grep -l 'Non-2xx' "$work"/disc-* >/dev/null 2>&1 && { echo "non-2xx discovery answers" >&2; exit 1; }
delay_rss=$(rss_mb "$d_pid")

python3 - "$results" "$work/stmts" "$sled_rss" "$pg_rss_a" "$pg_rss_b" "$duration" \
    "$work/delay" "$work/discovery" "$delay_ms" "$delay_rss" <<'PY'
import sys
rows = {l.split()[0]: [float(x) for x in l.split()[1:]] for l in open(sys.argv[1])}
print(f"ferrid on sled and on PostgreSQL (this machine: {__import__('os').cpu_count()} cores shared by everything)\n")
print(f"{'':<14}{'client_credentials/s':>22}{'refreshes/s':>14}{'sign-ins/s':>12}")
for name in ("sled", "postgres_1", "postgres_2"):
    cc, rf, fl = rows[name]
    print(f"{name:<14}{cc:>22.0f}{rf:>14.0f}{fl:>12.1f}")
one, two = rows["postgres_1"], rows["postgres_2"]
print(f"{'2 / 1 inst.':<14}{two[0]/one[0]:>22.2f}{two[1]/one[1]:>14.2f}{two[2]/one[2]:>12.2f}")
print(f"{'pg / sled':<14}{one[0]/rows['sled'][0]:>22.2f}{one[1]/rows['sled'][1]:>14.2f}{one[2]/rows['sled'][2]:>12.2f}")
print("\ndatabase work per grant, one grant at a time (a batch's BEGIN and COMMIT travel with its")
print("statement: one round trip):")
for line in open(sys.argv[2]):
    name, stmts, trips, commits = line.split()
    print(f"  {name:<20} {trips} round trips ({stmts} statements), {commits} explicit transaction(s)")
print(f"\nresident memory after the runs: sled {sys.argv[3]} MB; PostgreSQL instance A {sys.argv[4]} MB, B {sys.argv[5]} MB")

_, fl, ex, rf = open(sys.argv[7]).read().split()
fl, ex, rf = float(fl), float(ex), float(rf)
alone, alone_p99, loaded, loaded_p99 = open(sys.argv[8]).read().split()
alone, loaded = float(alone), float(loaded)
sled_fl = rows["sled"][2]
print(f"\nPostgreSQL behind {sys.argv[9]} ms of added latency each way (bench/delay_proxy.rs), one instance:")
print(f"{'':<22}{'sign-ins/s':>12}{'code exchanges/s':>18}{'refreshes/s':>13}")
print(f"{'postgres_1 (direct)':<22}{one[2]:>12.1f}{'':>18}{one[1]:>13.0f}")
print(f"{'postgres_delay':<22}{fl:>12.1f}{ex:>18.1f}{rf:>13.0f}")
print(f"{'direct / sled':<22}{one[2]/sled_fl:>12.2f}   (sign-ins; target >= 0.80)")
print(f"{'delayed / sled':<22}{fl/sled_fl:>12.2f}")
print("\ndiscovery on the delayed instance (wrk, 1 thread, 16 connections):")
print(f"  alone                      {alone:>9.0f} req/s   p99 {alone_p99}")
print(f"  beside 16 code exchanges   {loaded:>9.0f} req/s   p99 {loaded_p99}")
print(f"  beside / alone             {loaded/alone:>9.2f}         (target >= 0.70)")
print(f"\nresident memory of the delayed instance after its runs: {sys.argv[10]} MB")
PY
