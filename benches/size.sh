#!/usr/bin/env bash
# The size of the command-line tool (`--features cli`: the emulator for
# `--emulator`, journaled jobs, the webhook receiver) as src/guides/embedded.md
# reports it: stripped, built with the release profile and with the crate's
# `small` profile, with rustls and with native-tls. Prints a Markdown table.
# Builds in a target directory of its own (about 5 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SIZE_TARGET_DIR:-target/size}
size_of() { # profile features -> MiB, stripped
  CARGO_PROFILE_RELEASE_STRIP=true cargo build -q --profile "$1" --bin tim-follow \
    --target-dir "$dir" --no-default-features --features "$2" >&2
  awk -v b="$(stat -c %s "$dir/$1/tim-follow")" 'BEGIN {printf "%.2f MiB", b / 1048576}'
}
echo "| build | rustls (default) | native-tls |"
echo "|---|---:|---:|"
echo "| \`cargo build --release\` (stripped) | $(size_of release rustls,usersig,cli) | $(size_of release native-tls,usersig,cli) |"
echo "| \`cargo build --profile small\` | $(size_of small rustls,usersig,cli) | $(size_of small native-tls,usersig,cli) |"
