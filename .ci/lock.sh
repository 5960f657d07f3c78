#!/usr/bin/env bash
# Writes a universal constraints file for every extra (Python >= 3.11, every platform) to the
# path given, resolving the newest releases the bounds in pyproject.toml allow. Needs uv on
# PATH (`pip install uv`); called by .ci/latest.
set -euo pipefail
cd "$(dirname "$0")/.."
out="$1"
pins=$(mktemp)
trap 'rm -f "$pins"' EXIT
uv pip compile pyproject.toml --all-extras --universal --python-version 3.11 \
  --upgrade --no-header --quiet --output-file "$pins"
{
  echo "# The committed lock: every dependency of every extra, pinned for Python >= 3.11 on any"
  echo "# platform. Install from it: pip install -c constraints.txt -e \".[dev]\""
  echo "# Refresh it with: bash .ci/latest --lock (see CONTRIBUTING.md). Do not edit by hand."
  cat "$pins"
} >"$out"
