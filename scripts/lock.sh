#!/usr/bin/env bash
# Regenerates requirements.lock: every package that `pip install -e '.[test]'` pulls in, pinned.
# scripts/bootstrap.sh installs with `-c requirements.lock`, so every machine gets the versions the
# suite last passed with, whatever PyPI has published since.
#
#   scripts/lock.sh                  # newest versions pyproject.toml allows (`make lock`)
#   LOCK_FROM=.venv scripts/lock.sh  # keep the versions a venv already has, drop what .[test] no longer needs
#
# It resolves in a throwaway venv (so the lock holds exactly the closure of .[test], nothing that
# happens to be installed besides), then writes the lock. Run the suite (`make test`) before
# committing a new lock.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$PY" -m venv "$tmp/venv"
# The machine's pip config may list local extra indexes that do not exist; their warnings are noise.
quiet() { "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }; }
quiet "$tmp/venv/bin/pip" install -q --disable-pip-version-check --upgrade pip
cons=()
if [ -n "${LOCK_FROM:-}" ]; then
  "$LOCK_FROM/bin/pip" freeze --exclude-editable > "$tmp/from.txt"
  cons=(-c "$tmp/from.txt")
fi
echo "lock: resolving .[test] in a fresh venv"
quiet "$tmp/venv/bin/pip" install -q --disable-pip-version-check "${cons[@]}" -e '.[test]'
"$tmp/venv/bin/pip" check

{
  echo "# Versions the suite passes with: the whole closure of \`pip install -e '.[test]'\`, pinned."
  echo "# Resolved on Python $("$tmp/venv/bin/python" -c 'import platform; print(platform.python_version())') (Debian 12's is 3.11), Linux x86_64."
  echo "# Used as constraints by scripts/bootstrap.sh. Regenerate with \`make lock\` (scripts/lock.sh)."
  "$tmp/venv/bin/pip" freeze --exclude-editable --disable-pip-version-check
} > requirements.lock.new
mv requirements.lock.new requirements.lock
echo "lock: wrote requirements.lock ($(grep -c '==' requirements.lock) packages)"
