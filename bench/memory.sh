#!/usr/bin/env bash
# Memory of a running ferrid (release build, throwaway data dir, loopback):
# RSS idle after start, then after N full sign-in flows, each of which leaves
# one SSO session and one refresh-token family (default N = 10000).
#
#   bench/memory.sh [N]
#   FERRID=path/to/ferrid bench/memory.sh    # another binary (an older build)
#   SMAPS=1 bench/memory.sh                  # where the anonymous memory is
#
# Sign-ins use bcrypt cost 4 here (COST=10 for the production figure; memory
# does not depend on it, only the time to get there).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-10000}"
cost="${COST:-4}"

cargo build --release --locked --quiet --bin ferrid --example flows
target="${CARGO_TARGET_DIR:-target}"
ferrid="${FERRID:-$target/release/ferrid}"
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

"$ferrid" --config "$work/config.yaml" serve >"$work/stdout" 2>"$work/log" &
pid=$!
wait_ready
printf '%s\n' "$password" | "$ferrid" --config "$work/config.yaml" user add bench >/dev/null
sleep 2
idle=$(rss_kb)

"$target/release/examples/flows" --base "$base" --client bench --secret "$secret" \
    --redirect-uri https://bench.invalid/cb --user bench --password "$password" \
    --count "$n" --concurrency 8 | tee "$work/flows.txt"
sleep 1
sessions=$(curl -sf "$base/metrics" | awk '/^ferrid_active_sessions / { print $2 }')
loaded=$(rss_kb)

echo "binary_bytes=$(stat -c %s "$ferrid")"
echo "rss_idle_kb=$idle"
echo "rss_after_${n}_sessions_and_families_kb=$loaded (active sessions: $sessions)"
echo "data_dir_kb=$(du -sk "$work/data" | cut -f1)"

# SMAPS=1: the anonymous memory by kind of mapping. glibc's arenas other than
# the main one are 64 MiB reservations aligned to 64 MiB; a thread's stack
# follows its guard page; [heap] is the main arena; the rest is anonymous
# mmaps (large allocations, sled's and tokio's own).
if [ "${SMAPS:-0}" = 1 ]; then
    python3 - "/proc/$pid/smaps" <<'PY'
import re, sys
maps, cur = [], None
for line in open(sys.argv[1]):
    m = re.match(r"^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ \d+\s*(.*)$", line)
    if m:
        cur = dict(start=int(m.group(1), 16), end=int(m.group(2), 16), perm=m.group(3), name=m.group(4).strip(), anon=0)
        maps.append(cur)
    elif line.startswith("Anonymous:"):
        cur["anon"] = int(line.split()[1])
kinds = {}
for i, m in enumerate(maps):
    kind = m["name"] or "other anonymous mmaps"
    if not m["name"]:
        prev = maps[i - 1] if i else None
        if m["start"] % (64 << 20) == 0 and m["perm"] == "rw-p":
            kind = "glibc arenas (non-main)"
        elif prev and prev["perm"] == "---p" and prev["end"] == m["start"] and prev["end"] - prev["start"] <= 65536:
            kind = "thread stacks"
    elif m["name"] not in ("[heap]", "[stack]"):
        kind = "file-backed (relocations, .data/.bss)"
    k = kinds.setdefault(kind, [0, 0])
    k[0] += m["anon"]
    k[1] += m["anon"] > 0
print(f"anonymous kB by kind (total {sum(m['anon'] for m in maps)}):")
for kind, (kb, n) in sorted(kinds.items(), key=lambda kv: -kv[1][0]):
    if kb:
        print(f"  {kb:>7}  {kind} ({n} mappings)")
PY
fi
