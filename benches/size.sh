#!/usr/bin/env bash
# The size of the command-line tool (`--features cli`: the emulator for
# `--emulator`, journaled jobs, the webhook receiver) as src/guides/embedded.md
# reports it: stripped, built with the release profile and with the crate's
# `small` profile, with rustls and with native-tls; and what the library adds
# to a small program (benches/size: one 20-account follow_delete through
# tim-follow against the same POST through bare ureq + serde_json, both with
# rustls and `--profile small`). Prints a Markdown table.
# `bash benches/size.sh --small` builds only the `--profile small` rustls tool
# and the two small programs.
# Builds in target directories of their own (about 5 minutes a build on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${SIZE_TARGET_DIR:-target/size}
only_small=${1:-}
mib() { awk -v b="$1" 'BEGIN {printf "%.2f MiB", b / 1048576}'; }
size_of() { # profile features -> MiB, stripped
  CARGO_PROFILE_RELEASE_STRIP=true cargo build -q --profile "$1" --bin tim-follow \
    --target-dir "$dir" --no-default-features --features "$2" >&2
  mib "$(stat -c %s "$dir/$1/tim-follow")"
}
lib_dir=$(pwd)/target/size-lib
cargo build -q --profile small --manifest-path benches/size/Cargo.toml --target-dir "$lib_dir" >&2
with_lib=$(stat -c %s "$lib_dir/small/with_lib")
bare=$(stat -c %s "$lib_dir/small/bare")
lib_row="| what the library adds to a small program (one \`follow_delete\`, \`--profile small\`): $((with_lib / 1024)) KiB against $((bare / 1024)) KiB for bare ureq + serde_json | $(((with_lib - bare) / 1024)) KiB | |"
echo "| build | rustls (default) | native-tls |"
echo "|---|---:|---:|"
if [ "$only_small" = "--small" ]; then
  echo "| \`cargo build --profile small\` | $(size_of small rustls,usersig,cli) | |"
else
  echo "| \`cargo build --release\` (stripped) | $(size_of release rustls,usersig,cli) | $(size_of release native-tls,usersig,cli) |"
  echo "| \`cargo build --profile small\` | $(size_of small rustls,usersig,cli) | $(size_of small native-tls,usersig,cli) |"
fi
echo "$lib_row"
