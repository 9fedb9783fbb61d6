#!/usr/bin/env bash
# Installs what Daguerre needs on a Debian machine: qemu-utils, a venv with the package and its
# test tools, at the versions pinned in requirements.lock (`make lock` regenerates it). Fast when
# everything is already there (a stamp holds the hash of pyproject.toml and requirements.lock).
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v qemu-img >/dev/null 2>&1 || need_apt+=(qemu-utils)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
# Only for the test suite (--test): the dashboard's browser tests drive Debian's Chromium
# (Playwright never downloads a browser here). `make run` does not need it.
if [ "${1:-}" = "--test" ]; then
  [ -x /usr/bin/chromium ] || need_apt+=(chromium)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ]; then
    echo "bootstrap: installing Debian packages: ${need_apt[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "bootstrap: please install Debian packages: sudo apt-get install ${need_apt[*]}" >&2
    exit 1
  fi
fi

PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  echo "bootstrap: creating .venv"
  "$PY" -m venv .venv
fi
stamp=.venv/.daguerre-installed
want=$(cat pyproject.toml requirements.lock | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: installing Python packages into .venv"
  .venv/bin/pip install -q --upgrade pip >/dev/null
  .venv/bin/pip install -q -c requirements.lock -e '.[test]'
  echo "$want" > "$stamp"
fi
