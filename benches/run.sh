#!/usr/bin/env bash
# Regenerates BENCHMARKS.md: `bash benches/run.sh` (about 15 minutes of measuring,
# plus the first build of the harness). `bash benches/run.sh --quick` for a fast look
# (shorter samples, no single-worker bulk run), printed but not written.
# `bash benches/run.sh --stages` prints only the stage table of one call (needs valgrind).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=${1:-}
out=$(mktemp)
if [ "$quick" = "--stages" ]; then
  exec python3 benches/stages.py
fi

cargo build --release --manifest-path benches/harness/Cargo.toml >&2
# criterion prints its own progress on stdout: keep only the report, from its first heading.
tables=$(benches/harness/target/release/tim-follow-bench $quick 2>/dev/null | sed -n '/^### 1\./,$p')

# 3b. The latency table: each case in a process of its own (about 4 minutes).
latency_section=$(benches/harness/target/release/latency table $quick)

# 2b. Where the time of one call goes (callgrind, interleaved wall time).
stages_section=$(python3 benches/stages.py $quick)

# 4. Long jobs: a 1,000,000-account unfollow job, journaled or not.
jobs_table=$(bash benches/jobs.sh $quick)

# 4b. Exports: peak RSS of a 1,000,000-relation snapshot against 5,000.
export_section=$(bash benches/export.sh)
# 4c. The webhook receiver: deliveries acknowledged per second.
receiver_section=$(bash benches/receiver.sh)
# … and beside floods: deliveries acknowledged, their latency, the receiver's RSS.
floods_section=$(bash benches/floods.sh)
# 4d. Pairs in any order: the sort's time, memory and disk, and the requests.
pairs_section=$(bash benches/pairs.sh)

# 5. Several processes, one app budget (a redis-server of its own, if installed).
fleet_bin=benches/harness/target/release/fleet
# Five runs without coordination: the wall time must hold in each, not on average.
fleet_runs=$(for _ in 1 2 3 4 5; do $fleet_bin plain; done)
fleet_table=$(echo "$fleet_runs" | awk '{n++; printf "| four clients, default settings (adaptive pacing, no coordination), run %d | %d | %d (%.1f %%) | %d | %.2f s | %.2f× |\n", n, $1, $2, $2 * 100 / $1, $4, $3, $3 / 8}')
# … and far from the service: each answer 300 ms ±20 % later.
fleet_far=$(for _ in 1 2 3; do $fleet_bin plain 300; done)
fleet_table="$fleet_table
$(echo "$fleet_far" | awk '{n++; printf "| the same at 300 ms a call, run %d | %d | %d (%.1f %%) | %d | %.2f s | %.2f× |\n", n, $1, $2, $2 * 100 / $1, $4, $3, $3 / 8}')"
fleet_far_spread=$(echo "$fleet_far" | awk 'NR == 1 {lo = hi = $3; tlo = thi = $2 * 100 / $1} {if ($3 < lo) lo = $3; if ($3 > hi) hi = $3; t = $2 * 100 / $1; if (t < tlo) tlo = t; if (t > thi) thi = t} END {printf "At 300 ms a call, three runs took %.2f–%.2f s (%.2f–%.2f×) with %.1f–%.1f %% answered with a rate limit.", lo, hi, lo / 8, hi / 8, tlo, thi}')
fleet_spread=$(echo "$fleet_runs" | awk 'NR == 1 {lo = hi = $3; tlo = thi = $2 * 100 / $1} {if ($3 < lo) lo = $3; if ($3 > hi) hi = $3; t = $2 * 100 / $1; if (t < tlo) tlo = t; if (t > thi) thi = t} END {printf "Without coordination, five runs took %.2f–%.2f s (%.2f–%.2f× the floor; target ≤ 1.3× in each) with %.1f–%.1f %% of requests answered with a rate limit (target ≤ 10 %%).", lo, hi, lo / 8, hi / 8, tlo, thi}')
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

$fleet_spread $fleet_far_spread Every account was applied in every run. $permit_line
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
# With the small profile: what the library adds to a program (benches/size), and the CLI.
small_lib=$root/target/size-lib
cargo build -q --profile small --manifest-path benches/size/Cargo.toml --target-dir "$small_lib" >&2
small_with=$(stat -c %s "$small_lib/small/with_lib")
small_bare=$(stat -c %s "$small_lib/small/bare")
cargo build -q --profile small --bin tim-follow --target-dir target/size \
  --no-default-features --features rustls,usersig,cli >&2
small_cli=$(stat -c %s target/size/small/tim-follow)

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
echo "$tables" | sed '/^### 3\./,$d'
echo "$stages_section"
echo
echo "$tables" | sed -n '/^### 3\./,$p'
echo
echo "$latency_section"
echo
cat benches/latency-notes.md
echo
echo "$jobs_table"
echo
echo "$export_section"
echo
echo "$receiver_section"
echo
echo "$floods_section"
echo
echo "$pairs_section"
echo
echo "$fleet_section"
cat <<FOOT

### 6. Footprint

| build | crates in \`cargo tree -e normal\` | stripped release \`demo\` |
|---|---:|---:|
| default features (\`rustls\`, \`usersig\`) | $ours (tim-follow included) | $((size_default / 1024)) KiB |
| \`--no-default-features --features native-tls,usersig\` | $native | $((size_native / 1024)) KiB |
| ureq 3 + rustls alone (ureq's own tree) | $ureq_only | |

The demo includes the emulator. With \`--profile small\` (opt-level z, LTO, one codegen
unit, abort on panic, stripped) and rustls:

| program | size |
|---|---:|
| one 20-account \`follow_delete\` through tim-follow, default features (\`benches/size\`, \`with_lib\`) | $((small_with / 1024)) KiB |
| the same POST through bare ureq + serde_json (\`bare\`) | $((small_bare / 1024)) KiB |
| **what the library adds to a program** (target ≤ 200 KiB) | **$(((small_with - small_bare) / 1024)) KiB** |
| the command-line tool, \`--features cli\` (target ≤ 2.5 MiB) | $(awk -v b="$small_cli" 'BEGIN {printf "%.2f MiB", b / 1048576}') |

Crates the default features add over ureq + rustls:
$(echo "$added" | sed 's/^/- /')

Of these, $(echo "$added_runtime" | grep -c . ) are linked into programs; serde_derive, syn, quote,
proc-macro2 and unicode-ident only run at compile time (serde's derive).

FOOT
cat benches/size-notes.md
echo
cat benches/first-build.md
} > "$out"

if [ "$quick" = "--quick" ]; then cat "$out"; else mv "$out" "$root/BENCHMARKS.md"; echo "wrote BENCHMARKS.md" >&2; fi
