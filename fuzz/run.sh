#!/usr/bin/env bash
# Runs every fuzz target for SECONDS each (default 60): `bash fuzz/run.sh 300`.
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# The working corpus grows in fuzz/corpus/TARGET (not committed); the
# documentation samples in fuzz/seeds/TARGET start it. A crash stops the run
# with the input in fuzz/artifacts/TARGET: keep it as a regression test.
set -euo pipefail
cd "$(dirname "$0")"
seconds=${1:-60}
targets=$(cargo +nightly fuzz list)
cargo +nightly fuzz build -O >&2
for t in $targets; do
  mkdir -p "corpus/$t"
  echo "==> fuzzing $t for ${seconds}s"
  log=$(mktemp)
  if ! cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
      -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 40 "$log"
    echo "fuzz target $t found a crash: see fuzz/artifacts/$t" >&2
    exit 1
  fi
  # The closing statistics: runs, executions per second, coverage.
  grep -E '^(stat::number_of_executed_units|stat::average_exec_per_sec|stat::peak_rss_mb)|^#[0-9]+ *DONE' "$log" | sed "s/^/  $t: /"
  rm -f "$log"
done
