#!/usr/bin/env bash
# The export benchmark: peak RSS of `job::export` writing a snapshot of 5,000
# and of 1,000,000 relations (the fans of one account), each against an
# emulator in a process of its own. Prints a Markdown section; benches/run.sh
# puts it in BENCHMARKS.md. Needs the harness built (benches/run.sh does it).
set -euo pipefail
cd "$(dirname "$0")/.."
bin=benches/harness/target/release/job
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
export_rss() { # N -> "relations seconds peak-RSS-KiB"
  mkfifo "$dir/in-$1"
  $bin serve-export "$1" <"$dir/in-$1" >"$dir/url-$1" &
  exec 8>"$dir/in-$1"
  for _ in $(seq 600); do [ -s "$dir/url-$1" ] && break; sleep 0.1; done
  /usr/bin/time -v $bin export "$(cat "$dir/url-$1")" "$dir/snap-$1" 2>"$dir/time" >"$dir/out"
  exec 8>&-
  wait
  echo "$(cat "$dir/out") $(awk -F': ' '/Maximum resident/ {print $2}' "$dir/time")"
}
read -r small_n small_s small_rss <<<"$(export_rss 5000)"
read -r big_n big_s big_rss <<<"$(export_rss 1000000)"
big_size=$(stat -c %s "$dir/snap-1000000")
cat <<SECTION
### 4b. Export: a snapshot of 1,000,000 relations

\`job::export\` of one account with 1,000,000 fans (1,000 pages of 1,000), the
emulator in a process of its own, the rate limit off; peak RSS of the
exporting process from \`/usr/bin/time -v\`.

| relations | wall time | peak RSS of the export |
|---:|---:|---:|
| $small_n | $small_s s | $((small_rss / 1024)) MiB ($small_rss KiB) |
| $big_n | $big_s s | $((big_rss / 1024)) MiB ($big_rss KiB) |

Peak RSS at 1,000,000 relations is $(awk -v a="$big_rss" -v b="$small_rss" 'BEGIN {printf "%.2f", a / b}')× that at 5,000
(target ≤ 1.5×): each page is written as it arrives. The snapshot is
$((big_size / 1024 / 1024)) MiB.
SECTION
