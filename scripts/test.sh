#!/usr/bin/env bash
# Set up (if needed) and run every gate: lint, then the test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
.venv/bin/ruff check kvmsearch indexer query models tests benchmarks
.venv/bin/python -m pytest -q "$@"
