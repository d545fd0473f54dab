#!/usr/bin/env bash
# The main job on the bundled default data: set up (if needed), build the demo index from
# data/ on first use (with progress), then search it.
#   bash scripts/demo.sh                      # searches "dirty log DBM"
#   bash scripts/demo.sh "stolen time"        # any query and options
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
export KVMSEARCH_HOME="${KVMSEARCH_HOME:-$PWD/.kvmsearch-demo}"
if ! .venv/bin/kvmsearch status >/dev/null 2>&1; then
  echo "building the demo index from data/ into $KVMSEARCH_HOME (first run only)..." >&2
  .venv/bin/kvmsearch index add data/
else
  .venv/bin/kvmsearch update --quiet
fi
if [ $# -eq 0 ]; then
  set -- "dirty log DBM"
fi
exec .venv/bin/kvmsearch "$@"
