#!/usr/bin/env bash
# The pairs benchmark: shuffled `FROM TO` pairs planned (read whole, sorted
# in runs spilled next to the journal, merged, cut into requests; nothing
# sent) at 1,000,000 and 10,000,000 pairs, and the 1,000,000-pair follow job
# run whole against an emulator in a process of its own; wall time, CPU,
# peak RSS (`/usr/bin/time -v`), the sort's disk use and the requests.
# Prints a Markdown section; benches/run.sh puts it in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --manifest-path benches/harness/Cargo.toml >&2
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
bin=benches/harness/target/release/pairs
$bin gen 1000000 50000 "$dir/p1m.txt"
$bin gen 10000000 500000 "$dir/p10m.txt"
# The same 1,000,000 pairs with ids of 32 bytes, the longest there are.
sed 's/acct_/aaaaaaaaaaaaaaaaaaaaacct_/g' "$dir/p1m.txt" >"$dir/p1m-long.txt"
timed() { # OUT-FILE COMMAND… -> "stdout… peak-RSS-KiB cpu-s"
  local out=$1; shift
  /usr/bin/time -v "$@" 2>"$dir/time" >"$dir/out"
  local cpu
  cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$dir/time")
  echo "$(cat "$dir/out") $(awk -F': ' '/Maximum resident/ {print $2}' "$dir/time") $cpu" >"$out"
}
timed "$dir/plan1m" $bin plan "$dir/p1m.txt" "$dir"
timed "$dir/plan10m" $bin plan "$dir/p10m.txt" "$dir"
timed "$dir/plan1m-long" $bin plan "$dir/p1m-long.txt" "$dir"
read -r p1_pairs p1_req p1_runs p1_bytes p1_s p1_rss p1_cpu <"$dir/plan1m"
read -r p10_pairs p10_req p10_runs p10_bytes p10_s p10_rss p10_cpu <"$dir/plan10m"
read -r pl_pairs pl_req pl_runs pl_bytes pl_s pl_rss pl_cpu <"$dir/plan1m-long"
# The requests of consecutive grouping (what 0.2 sent), and the minimum.
consecutive() { awk '$1 != last || n == 20 {r++; n = 0; last = $1} {n++} END {print r}' "$1"; }
c1=$(consecutive "$dir/p1m.txt")
c10=$(consecutive "$dir/p10m.txt")
left=$(find "$dir" -name '.*.sort-*' | wc -l)

# The whole job of 1,000,000 pairs, against the emulator of the jobs benchmark.
mkfifo "$dir/in"
benches/harness/target/release/job serve <"$dir/in" >"$dir/url" &
emu_pid=$!
exec 7>"$dir/in"
for _ in $(seq 50); do [ -s "$dir/url" ] && break; sleep 0.1; done
timed "$dir/run1m" $bin run "$dir/p1m.txt" "$(cat "$dir/url")" "$dir"
exec 7>&-
wait "$emu_pid" 2>/dev/null || true
read -r r_pairs r_req r_s r_rss r_cpu <"$dir/run1m"
input1=$(stat -c %s "$dir/p1m.txt"); input10=$(stat -c %s "$dir/p10m.txt")
input_long=$(stat -c %s "$dir/p1m-long.txt")
mib() { awk -v b="$1" 'BEGIN {printf "%.0f MiB", b / 1048576}'; }
cat <<SECTION
### 4d. Pairs grouped by \`FROM\` whatever their order

Distinct pairs in a scattered order (no two consecutive lines with the same
\`FROM\`; each account has 20 targets), as a migration dump in the key order
of the followee would be. A pairs job sorts them (runs of 262,144 pairs
sorted in memory and spilled next to the journal, merged 64 at most at once)
and sends each \`FROM\`'s targets together, 20 a request. *Plan*: what a job
does before its first request (read the input whole for its checks and its
SHA-256, sort, count the requests, then read them all once more as the
sending does), with nothing sent; *job*: the whole follow job, journaled
without the read first, against the emulator of §4 in a process of its own
(rate limit off). Peak RSS and CPU (user + system) from \`/usr/bin/time -v\`;
disk: the sort's runs, removed when the job ends ($left left after these runs).

| pairs (accounts) | run | wall time | CPU | peak RSS | runs spilled | disk (runs) | requests | grouped minimum | consecutive grouping (0.2) |
|---|---|---:|---:|---:|---:|---:|---:|---:|---:|
| $p1_pairs (50,000) | plan | $p1_s s | $p1_cpu s | $((p1_rss / 1024)) MiB ($p1_rss KiB) | $p1_runs | $(mib "$p1_bytes") (input $(mib "$input1")) | $p1_req | 50000 | $c1 |
| $r_pairs (50,000) | job | $r_s s | $r_cpu s | $((r_rss / 1024)) MiB ($r_rss KiB) | | | $r_req sent | 50000 | |
| $pl_pairs (50,000), ids of 32 bytes | plan | $pl_s s | $pl_cpu s | $((pl_rss / 1024)) MiB ($pl_rss KiB) | $pl_runs | $(mib "$pl_bytes") (input $(mib "$input_long")) | $pl_req | 50000 | |
| $p10_pairs (500,000) | plan | $p10_s s | $p10_cpu s | $((p10_rss / 1024)) MiB ($p10_rss KiB) | $p10_runs | $(mib "$p10_bytes") (input $(mib "$input10")) | $p10_req | 500000 | $c10 |

Requests at 1,000,000 pairs: $(awk -v a="$r_req" 'BEGIN {printf "%.3f", a / 50000}')× the grouped minimum (target ≤ 1.01×);
peak RSS at 10,000,000 pairs: $((p10_rss / 1024)) MiB (target ≤ 64 MiB): it follows the run size and the
length of the ids (a run holds them), not the number of pairs. The whole job of 10,000,000 pairs (500,000 requests, 10,000,000
relations in the emulator) is not run here: its plan is the part that grows
with the input; the sending is the job machinery of §4. On this machine,
shared with other builds, the wall times wait on the disk and on the other
processes (up to 3× the CPU time): read the CPU column for the sort's cost.
SECTION
