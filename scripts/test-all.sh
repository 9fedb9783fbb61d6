#!/usr/bin/env bash
# The whole suite, as CI runs it. Each part installs and starts what it needs.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
.venv/bin/pytest -q -p no:cacheprovider "$@"
