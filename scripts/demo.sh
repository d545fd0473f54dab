#!/usr/bin/env bash
# Set up (if needed) and run the main job on the bundled default data in data/.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
exec .venv/bin/kvmsearch parse data/ "$@"
