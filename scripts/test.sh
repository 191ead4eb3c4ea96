#!/usr/bin/env bash
# The project's one test command (README "Test"); .ci/run calls it on a
# clean checkout. It installs what the tests need, then checks formatting,
# lints, and runs every test against the real server binary.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked
