#!/usr/bin/env bash
# The webhook receiver benchmark: deliveries acknowledged per second by the
# command-line receiver (`tim-follow webhooks --out FILE`, each group of
# events fsynced before it is acknowledged) from 8 concurrent senders on
# loopback, beside `Verifier::verify` alone. Prints a Markdown section;
# benches/run.sh puts it in BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --features cli >&2
cargo build --release --manifest-path benches/harness/Cargo.toml >&2
bin=benches/harness/target/release/receiver
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
runs=$(for _ in 1 2 3 4 5; do $bin serve target/release/tim-follow 20000; done)
rate=$(echo "$runs" | awk '{print $3}' | median)
low=$(echo "$runs" | awk '{print $3}' | sort -n | head -1)
high=$(echo "$runs" | awk '{print $3}' | sort -n | tail -1)
verify=$($bin verify 200000 | awk '{print $3}')
cat <<SECTION
### 4c. Webhook receiver: deliveries acknowledged per second

\`tim-follow webhooks --listen 127.0.0.1:PORT --out FILE\` (release build), 8
sender threads on keep-alive connections posting 20,000 signed
\`Follow.CallbackAfterFollowAdd\` deliveries; each delivery is verified (SdkAppid,
Sign, RequestTime), checked for repeats, appended to FILE and synced to disk
(\`fdatasync\`, one per group of events waiting together) before its
acknowledgement is sent. Every delivery was acknowledged and is in FILE once.

| what | per second |
|---|---:|
| receiver, end to end (median of 5 runs; lowest $low, highest $high) | $rate deliveries |
| \`Verifier::verify\` alone, one thread | $verify verifications |

Target: ≥ 2,000 deliveries per second.
SECTION
