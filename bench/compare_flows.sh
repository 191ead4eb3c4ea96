#!/usr/bin/env bash
# Full sign-in flows (authorize → sign-in form → code → tokens, each flow a
# new browser) against two ferrid binaries in alternating rounds, so the
# machine's drift hits both alike. bcrypt runs at cost 4 here, so what is
# compared is ferrid's own work around the password check (sessions, codes,
# signing, fsyncs), not bcrypt.
#
#   bench/compare_flows.sh BEFORE_BINARY [AFTER_BINARY]    # ROUNDS=5 FLOWS=400
#
# Prints, per binary, the median flows/s and the median of the rounds' p50 (ms).
set -euo pipefail
cd "$(dirname "$0")/.."
before="$1"
target="${CARGO_TARGET_DIR:-target}"
after="${2:-$target/release/ferrid}"
rounds="${ROUNDS:-5}"
flows="${FLOWS:-400}"
cargo build --release --locked --quiet --bin ferrid --example flows
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
load_core=$(($(nproc) - 1))
secret="bench-secret-0123456789abcdef"
password="bench-password-0123"
sha="$(printf %s "$secret" | sha256sum | cut -d' ' -f1)"

# start NAME BINARY: its own data dir and port; sets base_NAME to its URL.
# (Not through $(...): a subshell's pids+= would not reach cleanup, and
# the servers outlived the script.)
start() {
    local port dir
    port="$(free_port)"
    dir="$work/$1"
    mkdir -p "$dir"
    cat > "$dir/config.yaml" <<YAML
listen: 127.0.0.1:$port
public_url: http://127.0.0.1:$port
data_dir: $dir/data
keys_dir: $dir/keys
password_hash_cost: 4
rate_limits: { authorize: 100000000, sign_in: 100000000, token: 100000000, introspect: 100000000, userinfo: 100000000 }
applications:
  - slug: rs
    client_secret_sha256: $sha
    redirect_uris: ["https://bench.invalid/cb"]
YAML
    "$2" --config "$dir/config.yaml" serve >"$dir/stdout" 2>"$dir/log" &
    pids+=("$!")
    until curl -sf -o /dev/null "http://127.0.0.1:$port/healthz"; do sleep 0.01; done
    printf '%s\n' "$password" | "$2" --config "$dir/config.yaml" user add bench >/dev/null
    printf -v "base_$1" '%s' "http://127.0.0.1:$port"
}
start before "$before"
start after "$after"
for round in $(seq "$rounds"); do
    for which in before after; do
        base_var="base_$which"
        taskset -c "$load_core" "$target/release/examples/flows" --base "${!base_var}" --client rs --secret "$secret" \
            --redirect-uri https://bench.invalid/cb --user bench --password "$password" \
            --count "$flows" --concurrency 8 | sed "s/^/$which /" >>"$work/results"
    done
done
python3 - "$work/results" <<'PY'
import re, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    which = line.split()[0]
    per_s = re.search(r"per_s=([\d.]+)", line)
    p50 = re.search(r"p50_ms=([\d.]+)", line)
    if per_s and p50:
        rows.setdefault(which, []).append((float(per_s.group(1)), float(p50.group(1))))
for which in ("before", "after"):
    r = rows[which]
    print(f"{which}: {statistics.median(x for x, _ in r):.0f} flows/s, p50 {statistics.median(y for _, y in r):.2f} ms ({len(r)} rounds)")
b, a = (statistics.median(x for x, _ in rows[w]) for w in ("before", "after"))
print(f"after/before: {a / b:.2f}")
PY
