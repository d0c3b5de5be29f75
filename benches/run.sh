#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: `bash benches/run.sh` (about 3 minutes of measuring,
# plus the first build of the harness). `bash benches/run.sh --quick` for a fast look
# (shorter samples, no single-worker bulk run), printed but not written.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=${1:-}
out=$(mktemp)

cargo build --release --manifest-path benches/harness/Cargo.toml >&2
# criterion prints its own progress on stdout: keep only the report, from its first heading.
tables=$(benches/harness/target/release/tim-follow-bench $quick 2>/dev/null | sed -n '/^### 1\./,$p')

# 4. Long jobs: a 1,000,000-account unfollow job against an emulator in a
# process of its own (every account exists, no rate limit), journaled or not.
jobs_dir=$(mktemp -d)
mkfifo "$jobs_dir/in"
job_bin=benches/harness/target/release/job
$job_bin serve <"$jobs_dir/in" >"$jobs_dir/url" &
exec 7>"$jobs_dir/in"
for _ in $(seq 50); do [ -s "$jobs_dir/url" ] && break; sleep 0.1; done
job_url=$(cat "$jobs_dir/url")
job_run() { # N MODE -> "seconds accounts/s peak-RSS-KiB"
  /usr/bin/time -v $job_bin run "$1" "$2" "$job_url" "$jobs_dir" 2>"$jobs_dir/time" >"$jobs_dir/out"
  echo "$(awk '{print $3, $4}' "$jobs_dir/out") $(awk -F': ' '/Maximum resident/ {print $2}' "$jobs_dir/time")"
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
: >"$jobs_dir/plain"; : >"$jobs_dir/journal"
rounds=3; [ "$quick" = "--quick" ] && rounds=1
for _ in $(seq $rounds); do
  job_run 1000000 plain >>"$jobs_dir/plain"
  job_run 1000000 journal >>"$jobs_dir/journal"
done
small=$(job_run 5000 journal)
exec 7>&-
plain_s=$(awk '{print $1}' "$jobs_dir/plain" | median)
journal_s=$(awk '{print $1}' "$jobs_dir/journal" | median)
plain_rate=$(awk '{print $2}' "$jobs_dir/plain" | median)
journal_rate=$(awk '{print $2}' "$jobs_dir/journal" | median)
plain_rss=$(awk '{print $3}' "$jobs_dir/plain" | median)
journal_rss=$(awk '{print $3}' "$jobs_dir/journal" | median)
small_rss=$(echo "$small" | awk '{print $3}')
journal_size=$(stat -c %s "$jobs_dir/job-1000000.journal")
jobs_table=$(cat <<JOBS
### 4. Long jobs: unfollowing 1,000,000 accounts from one source (50,000 requests)

The emulator runs in a process of its own (every account exists, no rate limit);
the job's client sends on 16 workers with its rate limit off, so this measures
the job machinery and the client, not Tencent's ceiling (at 200 calls/s the
same job takes 250 s). Medians of $rounds runs, journaled and not, in turn.

| run | wall time | accounts/s | peak RSS of the job process |
|---|---:|---:|---:|
| not journaled | $plain_s s | $plain_rate | $((plain_rss / 1024)) MiB ($plain_rss KiB) |
| journaled (one line per request, fsync at least once a second) | $journal_s s | $journal_rate | $((journal_rss / 1024)) MiB ($journal_rss KiB) |
| journaled, 5,000 accounts | | | $((small_rss / 1024)) MiB ($small_rss KiB) |

Journal overhead: $(awk -v a="$journal_s" -v b="$plain_s" 'BEGIN {printf "%+.1f%%", (a / b - 1) * 100}') of wall time
(target ≤ 10%). Peak RSS at 1,000,000 accounts is $(awk -v a="$journal_rss" -v b="$small_rss" 'BEGIN {printf "%.2f", a / b}')× that at
5,000 (target ≤ 1.5×): the input is streamed and resuming needs one bit per
request. The 1,000,000-account journal is $((journal_size / 1024 / 1024)) MiB.
JOBS
)
rm -rf "$jobs_dir"

# 4b. Exports: peak RSS of a 1,000,000-relation snapshot against 5,000.
export_section=$(bash benches/export.sh)
# 4c. The webhook receiver: deliveries acknowledged per second.
receiver_section=$(bash benches/receiver.sh)

# 5. Several processes, one app budget (a redis-server of its own, if installed).
fleet_bin=benches/harness/target/release/fleet
read -r plain_sent plain_limited plain_took plain_busiest <<<"$($fleet_bin plain)"
fleet_table="| four clients, default settings (adaptive pacing, no coordination) | $plain_sent | $plain_limited ($(awk -v a="$plain_limited" -v b="$plain_sent" 'BEGIN {printf "%.1f", a * 100 / b}') %) | $plain_busiest | $plain_took s | $(awk -v a="$plain_took" 'BEGIN {printf "%.2f", a / 8}')× |"
permit_line="redis-server is not installed here: the shared-budget rows were not measured."
if command -v redis-server >/dev/null 2>&1; then
  redis_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no >/dev/null &
  redis_pid=$!
  for _ in $(seq 50); do (exec 3<>"/dev/tcp/127.0.0.1/$redis_port") 2>/dev/null && break; sleep 0.1; done
  read -r redis_sent redis_limited redis_took redis_busiest <<<"$($fleet_bin redis "redis://127.0.0.1:$redis_port")"
  read -r permit_median permit_p99 <<<"$($fleet_bin permit "redis://127.0.0.1:$redis_port")"
  kill "$redis_pid"
  fleet_table="$fleet_table
| four clients sharing a 100/s budget in Redis (RedisLimiter) | $redis_sent | $redis_limited ($(awk -v a="$redis_limited" -v b="$redis_sent" 'BEGIN {printf "%.1f", a * 100 / b}') %) | $redis_busiest | $redis_took s | $(awk -v a="$redis_took" 'BEGIN {printf "%.2f", a / 8}')× |"
  permit_line="One Redis permit (the GCRA script, on a local redis-server over loopback): median $permit_median µs, 99th percentile $permit_p99 µs, over 10,000 calls."
fi
fleet_section=$(cat <<FLEET
### 5. Several processes, one app budget

Four clients (each with its own limiter, as four processes would have) each
follow 4,000 accounts (200 requests each, 800 in all) against an emulator that
allows 100 calls per second of follow_add: the floor is 8 s.

| run | requests sent | rate-limit answers | busiest second (calls) | wall time | vs 8 s floor |
|---|---:|---:|---:|---:|---:|
$fleet_table

Every account was applied in every run. $permit_line
FLEET
)

count() { cargo tree -e normal --prefix none "$@" 2>/dev/null | sed 's/ (\*)//' | sort -u; }
ours=$(count | wc -l)
ureq_only=$(count -p ureq | wc -l)
added=$(comm -23 <(count) <(count -p ureq) | grep -v '^tim-follow ' || true)
added_runtime=$(echo "$added" | grep -v -E '^(serde_derive|syn|quote|proc-macro2|unicode-ident) ' || true)
native=$(count --no-default-features --features native-tls,usersig | wc -l)

size_of() { # features… -> stripped size of the demo in bytes
  CARGO_PROFILE_RELEASE_STRIP=true cargo build --release --example demo "$@" >&2
  stat -c %s target/release/examples/demo
}
size_default=$(size_of)
size_native=$(size_of --no-default-features --features native-tls)

{
cat <<HEAD
# Benchmarks

Regenerated by \`bash benches/run.sh\` (the harness is \`benches/harness\`, a package
of its own so that \`cargo test\` never builds criterion or reqwest). Medians from
criterion; loopback runs use one local fixed-reply server for every client.

Machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),
$(free -g | awk '/Mem:/ {print $2}') GiB; $(rustc --version); measured $(date -u +%Y-%m-%d).

Absolute medians on this 2-core virtual machine drift by tens of percent from one
run to the next, so every target is also measured *interleaved*: the compared jobs run
in turn, round after round, and the median of the per-round ratios is reported. Read
the ratios from the interleaved lines; the tables give the scale.

HEAD
echo "$tables"
echo
echo "$jobs_table"
echo
echo "$export_section"
echo
echo "$receiver_section"
echo
echo "$fleet_section"
cat <<FOOT

### 6. Footprint

| build | crates in \`cargo tree -e normal\` | stripped release \`demo\` |
|---|---:|---:|
| default features (\`rustls\`, \`usersig\`) | $ours (tim-follow included) | $((size_default / 1024)) KiB |
| \`--no-default-features --features native-tls,usersig\` | $native | $((size_native / 1024)) KiB |
| ureq 3 + rustls alone (ureq's own tree) | $ureq_only | |

The demo includes the emulator. Crates the default features add over ureq + rustls:
$(echo "$added" | sed 's/^/- /')

Of these, $(echo "$added_runtime" | grep -c . ) are linked into programs; serde_derive, syn, quote,
proc-macro2 and unicode-ident only run at compile time (serde's derive).
FOOT
} > "$out"

if [ "$quick" = "--quick" ]; then cat "$out"; else mv "$out" "$root/BENCHMARKS.md"; echo "wrote BENCHMARKS.md" >&2; fi
