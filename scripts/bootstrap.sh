#!/usr/bin/env bash
# Idempotent set-up: a project-local virtualenv with everything kvmsearch needs.
# torch goes in first, pinned to the local CPU build: anything that depends on torch
# and is installed before it makes pip resolve the registry's CUDA build (GBs).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
# Debian's chromium for the web UI's browser tests (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own).
if [ ! -x /usr/bin/chromium ] && command -v apt-get >/dev/null; then
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi
  $SUDO apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
stamp=.venv/.kvmsearch-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  .venv/bin/pip install -q torch==2.13.0
  .venv/bin/pip install -q -e ".[dev]"
  touch "$stamp"
fi
