#!/usr/bin/env bash
# The long-job benchmark: a 1,000,000-account unfollow job against an
# emulator in a process of its own (every account exists, no rate limit),
# journaled or not, in turn; wall time, peak RSS and CPU time of the job
# process and of the emulator. Prints a Markdown section; benches/run.sh
# puts it in BENCHMARKS.md. `bash benches/jobs.sh --quick` runs one round.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=${1:-}
cargo build --release --manifest-path benches/harness/Cargo.toml >&2
jobs_dir=$(mktemp -d)
trap 'rm -rf "$jobs_dir"' EXIT
mkfifo "$jobs_dir/in"
job_bin=benches/harness/target/release/job
$job_bin serve <"$jobs_dir/in" >"$jobs_dir/url" &
emu_pid=$!
exec 7>"$jobs_dir/in"
for _ in $(seq 50); do [ -s "$jobs_dir/url" ] && break; sleep 0.1; done
job_url=$(cat "$jobs_dir/url")
tck=$(getconf CLK_TCK)
emu_cpu() { awk -v t="$tck" '{printf "%.2f", ($14 + $15) / t}' "/proc/$emu_pid/stat"; }
job_run() { # N MODE -> "seconds accounts/s peak-RSS-KiB job-cpu-s emulator-cpu-s"
  local before after
  before=$(emu_cpu)
  /usr/bin/time -v $job_bin run "$1" "$2" "$job_url" "$jobs_dir" 2>"$jobs_dir/time" >"$jobs_dir/out"
  after=$(emu_cpu)
  local cpu
  cpu=$(awk -F': ' '/User time/ {u = $2} /System time/ {s = $2} END {printf "%.2f", u + s}' "$jobs_dir/time")
  echo "$(awk '{print $3, $4}' "$jobs_dir/out") $(awk -F': ' '/Maximum resident/ {print $2}' "$jobs_dir/time") $cpu $(awk -v a="$after" -v b="$before" 'BEGIN {printf "%.2f", a - b}')"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$jobs_dir/plain"; : >"$jobs_dir/journal"; : >"$jobs_dir/read-first"
rounds=3; [ "$quick" = "--quick" ] && rounds=1
for _ in $(seq $rounds); do
  job_run 1000000 plain >>"$jobs_dir/plain"
  job_run 1000000 journal >>"$jobs_dir/journal"
  job_run 1000000 read-first >>"$jobs_dir/read-first"
done
# The last journal (read first: the same lines as the others, a follow's).
journal_size=$(stat -c %s "$jobs_dir/job-1000000.journal")
small=$(job_run 5000 journal)
# Once, on the default cap: with no rate limit, in flight is the cap.
cap=$(job_run 1000000 journal-cap)
exec 7>&-
wait "$emu_pid" 2>/dev/null || true
col() { awk -v c="$2" '{print $c}' "$jobs_dir/$1" | median; }
plain_s=$(col plain 1); journal_s=$(col journal 1)
plain_rate=$(col plain 2); journal_rate=$(col journal 2)
plain_rss=$(col plain 3); journal_rss=$(col journal 3)
plain_cpu=$(col plain 4); journal_cpu=$(col journal 4)
plain_emu=$(col plain 5); journal_emu=$(col journal 5)
read_s=$(col read-first 1); read_rate=$(col read-first 2); read_rss=$(col read-first 3)
read_cpu=$(col read-first 4); read_emu=$(col read-first 5)
small_rss=$(echo "$small" | awk '{print $3}')
read -r cap_s cap_rate cap_rss cap_cpu cap_emu <<<"$cap"
cat <<JOBS
### 4. Long jobs: unfollowing 1,000,000 accounts from one source (50,000 requests)

The emulator runs in a process of its own (every account exists, no rate limit);
the job's client keeps 16 requests in flight (\`.concurrency(16)\`, version
0.2's 16 workers) with its rate limit off, so this measures
the job machinery and the client, not Tencent's ceiling (at 200 calls/s the
same job takes 250 s). Medians of $rounds runs, the three in turn (so from
the second round on, the unfollows remove the relations the round before's
follow made: more work for the emulator, the same for the job). CPU
time is user + system, of the job process (\`/usr/bin/time -v\`) and of the
emulator over the same run (\`/proc/PID/stat\`).

| run | wall time | accounts/s | peak RSS of the job process | CPU, job process | CPU, emulator |
|---|---:|---:|---:|---:|---:|
| not journaled | $plain_s s | $plain_rate | $((plain_rss / 1024)) MiB ($plain_rss KiB) | $plain_cpu s | $plain_emu s |
| journaled, \`--no-check-first\` (a \`sending\` line before each request and a \`done\` line after, each with its checksum; fsync at least once a second) | $journal_s s | $journal_rate | $((journal_rss / 1024)) MiB ($journal_rss KiB) | $journal_cpu s | $journal_emu s |
| journaled, read first (the default: one \`follow_check\` before each request; a follow of the same accounts, none followed, so that every one is sent) | $read_s s | $read_rate | $((read_rss / 1024)) MiB ($read_rss KiB) | $read_cpu s | $read_emu s |
| journaled, 5,000 accounts | | | $((small_rss / 1024)) MiB ($small_rss KiB) | | |
| journaled, \`--no-check-first\`, the default cap (once): with no rate limit, 256 in flight | $cap_s s | $cap_rate | $((cap_rss / 1024)) MiB ($cap_rss KiB) | $cap_cpu s | $cap_emu s |

Journal overhead (without the reads): $(awk -v a="$journal_s" -v b="$plain_s" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}') of wall time
(target ≤ 10%), $(awk -v a="$journal_cpu" -v b="$plain_cpu" 'BEGIN {printf "%.2f", a / b}')× the job process's CPU (target ≤ 1.2×). The read
first doubles the calls: $(awk -v a="$read_cpu" -v b="$plain_cpu" 'BEGIN {printf "%.2f", a / b}')× the job process's CPU and $(awk -v a="$read_s" -v b="$plain_s" 'BEGIN {printf "%.2f", a / b}')× the wall time here,
where nothing limits the rate; at Tencent's ceiling the reads go on
\`follow_check\`'s own 200 calls/s and the job takes as long as the writes. Peak RSS at 1,000,000 accounts is $(awk -v a="$journal_rss" -v b="$small_rss" 'BEGIN {printf "%.2f", a / b}')× that at
5,000 (target ≤ 1.5×): the input is streamed and resuming needs one bit per
request. The 1,000,000-account journal is $((journal_size / 1024 / 1024)) MiB.
With no rate limit Little's law gives no number, so a client keeps its cap
in flight (256 by default, each request a thread and a connection); the last
row is what that costs here. \`.concurrency(n)\` lowers it.
JOBS
