#!/usr/bin/env bash
# Create (or reuse) .venv-openstack: Keystone + uWSGI + Tempest, from PyPI only.
#
#   scripts/openstack/setup.sh            # idempotent; ~1 s when already installed
#   FORCE=1 scripts/openstack/setup.sh    # rebuild the venv from scratch
#
# The venv lives at the repo root (git-ignored by `.venv-*/`) and is separate from .venv:
# Keystone/Tempest pin their own oslo.* / SQLAlchemy versions. A stamp file holds the hash of
# requirements.txt + constraints.txt + this script; when it matches, nothing is done.
# Also makes sure qemu-img is present (tempest-run.sh builds a real qcow2 with it).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${OPENSTACK_VENV:-$root/.venv-openstack}"
stamp="$venv/.daguerre-openstack-stamp"
req="$here/requirements.txt"
con="$here/constraints.txt"

want="$(cat "$req" "$con" "$here/setup.sh" | sha256sum | cut -d' ' -f1)"

need_apt=()
command -v qemu-img >/dev/null 2>&1 || need_apt+=(qemu-utils)
command -v curl >/dev/null 2>&1 || need_apt+=(curl)

if [[ -z "${FORCE:-}" && -f "$stamp" && "$(cat "$stamp")" == "$want" && -x "$venv/bin/keystone-manage" \
      && -x "$venv/bin/tempest" && -x "$venv/bin/uwsgi" && ${#need_apt[@]} -eq 0 ]]; then
    echo "setup: $venv up to date"
    exit 0
fi

apt_install() {
    # $@: Debian packages. Only when missing, and only as root.
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: need Debian packages: $* (run as root or install them)" >&2
        exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends "$@" >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        apt-get install -y -q --no-install-recommends "$@" >/dev/null
    fi
}

if [[ ${#need_apt[@]} -gt 0 ]]; then
    echo "setup: apt-get install ${need_apt[*]}"
    apt_install "${need_apt[@]}"
fi

# A Python 3.11 interpreter: $PYTHON, else python3.11, else python3 (Debian 12's is 3.11).
py="${PYTHON:-}"
if [[ -z "$py" ]]; then
    for c in python3.11 python3; do
        if command -v "$c" >/dev/null 2>&1; then py="$(command -v "$c")"; break; fi
    done
fi
[[ -n "$py" ]] || { apt_install python3 python3-venv; py=/usr/bin/python3; }

t0=$(date +%s)
if [[ -n "${FORCE:-}" ]]; then rm -rf "$venv"; fi
if [[ ! -x "$venv/bin/python" ]]; then
    rm -rf "$venv"
    if ! "$py" -m venv "$venv" 2>/dev/null; then
        # Debian's python3 needs python3-venv for ensurepip.
        rm -rf "$venv"
        apt_install python3-venv
        "$py" -m venv "$venv"
    fi
fi
echo "setup: pip install into $venv (about 20-100 s the first time)"
# The machine's pip config may list local extra indexes that do not exist; their warnings are noise.
"$venv/bin/pip" install -q --disable-pip-version-check -r "$req" -c "$con" 2>&1 \
    | grep -v "is ignored: it is neither a file nor a directory" || true
"$venv/bin/python" -c 'import keystone, keystone.wsgi, tempest, keystoneauth1'
[[ -x "$venv/bin/uwsgi" ]] || { echo "setup: uwsgi missing from $venv" >&2; exit 1; }
echo "$want" > "$stamp"
echo "setup: done in $(( $(date +%s) - t0 )) s"
