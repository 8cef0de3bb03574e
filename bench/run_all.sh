#!/usr/bin/env bash
# Runs every bench/bench_*.py against the built CLI and prints their markdown tables.
# Usage: bench/run_all.sh [BUILD_DIR]   (results belong in BENCHMARKS.md with this command)
set -euo pipefail
build=${1:-build}
here=$(cd "$(dirname "$0")" && pwd)
export SUBLENS_BIN="$(cd "$build" && pwd)/bin/sublens"
for script in "$here"/bench_*.py; do
  echo "## $(basename "$script")"
  /usr/bin/python3 "$script"
done
