#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time (not part of CI).
# Usage: scripts/fuzz.sh [seconds per target, default 60]
# cargo-fuzz needs nightly features; RUSTC_BOOTSTRAP lets the stable
# toolchain (the only one on this machine) provide them.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"
seconds="${1:-60}"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in form_params basic_auth jwt_verify; do
    echo "== $target: ${seconds}s"
    # Committed seeds (fuzz/seeds/TARGET) join the local corpus.
    mkdir -p "corpus/$target"
    seeds=()
    [ -d "seeds/$target" ] && seeds=("seeds/$target")
    cargo fuzz run "$target" "corpus/$target" "${seeds[@]}" -- -max_total_time="$seconds" -rss_limit_mb=2048 2>&1 | grep -E "^#[0-9]+.*DONE|SUMMARY|ERROR|panicked|Done" || true
done
