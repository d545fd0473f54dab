#!/usr/bin/env bash
# Set up (if needed) and run every gate: lint, format, types, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
paths=(kvmsearch indexer query models tests benchmarks)
.venv/bin/ruff check "${paths[@]}"
.venv/bin/ruff format --check "${paths[@]}"
bash scripts/typecheck.sh
.venv/bin/python -m pytest -q "$@"
