#!/usr/bin/env bash
# The whole check, as CI runs it: formatting, clippy with no warnings (no unwrap outside
# tests, see Cargo.toml's [lints]), then every test. Needs ../shared beside the repository.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo fmt --check
cargo clippy --all-targets --locked -- -D warnings
cargo test --locked
