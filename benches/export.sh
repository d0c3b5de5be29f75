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
tck=$(getconf CLK_TCK)
export_rss() { # N -> "relations seconds peak-RSS-KiB client-cpu-s emulator-cpu-s"
  mkfifo "$dir/in-$1"
  $bin serve-export "$1" <"$dir/in-$1" >"$dir/url-$1" &
  local emu=$!
  exec 8>"$dir/in-$1"
  for _ in $(seq 600); do [ -s "$dir/url-$1" ] && break; sleep 0.1; done
  local before after
  before=$(awk '{print $14 + $15}' "/proc/$emu/stat")
  /usr/bin/time -v $bin export "$(cat "$dir/url-$1")" "$dir/snap-$1" 2>"$dir/time" >"$dir/out"
  after=$(awk '{print $14 + $15}' "/proc/$emu/stat")
  exec 8>&-
  wait
  local cpu
  cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$dir/time")
  echo "$(cat "$dir/out") $(awk -F': ' '/Maximum resident/ {print $2}' "$dir/time") $cpu $(awk -v a="$after" -v b="$before" -v t="$tck" 'BEGIN {printf "%.2f", (a - b) / t}')"
}
read -r small_n small_s small_rss small_cpu small_emu <<<"$(export_rss 5000)"
read -r big_n big_s big_rss big_cpu big_emu <<<"$(export_rss 1000000)"
big_size=$(stat -c %s "$dir/snap-1000000")
cat <<SECTION
### 4b. Export: a snapshot of 1,000,000 relations

\`job::export\` of one account with 1,000,000 fans (1,000 pages of 1,000), the
emulator in a process of its own, the rate limit off; peak RSS of the
exporting process from \`/usr/bin/time -v\`; CPU time is user + system, of the
exporting process and of the emulator over the same run (\`/proc/PID/stat\`):
the cost of listing 1,000,000 relations by \`follow_get\` paging.

| relations | wall time | peak RSS of the export | CPU, exporting process | CPU, emulator |
|---:|---:|---:|---:|---:|
| $small_n | $small_s s | $((small_rss / 1024)) MiB ($small_rss KiB) | $small_cpu s | $small_emu s |
| $big_n | $big_s s | $((big_rss / 1024)) MiB ($big_rss KiB) | $big_cpu s | $big_emu s |

Peak RSS at 1,000,000 relations is $(awk -v a="$big_rss" -v b="$small_rss" 'BEGIN {printf "%.2f", a / b}')× that at 5,000
(target ≤ 1.5×): each page is written as it arrives. The snapshot is
$((big_size / 1024 / 1024)) MiB.
SECTION
