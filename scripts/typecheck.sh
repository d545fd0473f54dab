#!/usr/bin/env bash
# Type-check the product as the one import root users see (kvmsearch.*).
# indexer/, query/ and models/ sit at the repository root and are installed as
# kvmsearch.indexer etc. through pyproject's package-dir map; mypy cannot follow an
# editable install's import hook, so it reads a tree of symlinks with that shape.
# Settings (strict parts, third-party modules without types) are in pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir "$root/kvmsearch"
for f in kvmsearch/*; do ln -s "$PWD/$f" "$root/kvmsearch/"; done
for pkg in indexer query models; do ln -s "$PWD/$pkg" "$root/kvmsearch/$pkg"; done
cd "$root"
MYPYPATH="$root" "$OLDPWD/.venv/bin/mypy" --config-file "$OLDPWD/pyproject.toml" \
  --cache-dir "$OLDPWD/.mypy_cache" -p kvmsearch 2>&1 | sed "s#^kvmsearch/#kvmsearch/#"
exit "${PIPESTATUS[0]}"
