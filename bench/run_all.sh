#!/usr/bin/env bash
# Runs every benchmark at the sizes recorded in BENCHMARKS.md, against build/bin/sublens, from the
# repository root (each script compares with its NumPy/SciPy reference in the same run).
# This takes a long time (the N = 70,000 cases): run one script alone for a quick look, e.g.
#   /usr/bin/python3 bench/bench_graph.py --quick
set -euo pipefail
cd "$(dirname "$0")/.."
export SUBLENS_BIN=build/bin/sublens
for script in bench/bench_*.py; do
  echo "## $script" >&2
  /usr/bin/python3 "$script"
done
