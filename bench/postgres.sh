#!/usr/bin/env bash
# PostgreSQL beside sled: the grants that write (client_credentials, refresh
# rotation, the code exchange within full sign-ins) on sled, on PostgreSQL
# with one ferrid instance, and with two instances on one database; the
# database statements each grant costs (pg_stat_statements, one grant at a
# time); resident memory per instance.
#
#   bench/postgres.sh        # DURATION=10 REFRESHES=3000 FLOWS=200 by default
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

command -v wrk >/dev/null 2>&1 || { apt-get update -q && apt-get install -y -q wrk; }
cargo build --release --locked --quiet --bin ferrid --example flows
release="${CARGO_TARGET_DIR:-target}/release"

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
    "$release"/ferrid --config "$work/$1/config.yaml" serve >>"$work/$1/stdout" 2>>"$work/$1/log" &
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
        "$release"/examples/flows --base "$base" --client rs --secret "$secret" \
            --redirect-uri https://bench.invalid/cb --user bench --password "$password" \
            --mode refresh --count $((refreshes / n)) --concurrency $((16 / n)) >"$work/$label-rf-$i" &
    done
    wait_jobs
    for base in "$@"; do
        i=$((i + 1))
        "$release"/examples/flows --base "$base" --client rs --secret "$secret" \
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
printf '%s\n' "$password" | "$release"/ferrid --config "$work/sled/config.yaml" user add bench >/dev/null
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
printf '%s\n' "$password" | "$release"/ferrid --config "$work/pg_a/config.yaml" user add bench >/dev/null
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

python3 - "$results" "$work/stmts" "$sled_rss" "$pg_rss_a" "$pg_rss_b" "$duration" <<'PY'
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
PY
