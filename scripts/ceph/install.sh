#!/usr/bin/env bash
# Install what a single-node test Ceph needs (Debian bookworm's Ceph 16.2.15), and make Debian's
# librados/librbd Python bindings importable from the project's venv.
#
#   scripts/ceph/install.sh            # packages (if missing) + venv link
#   VENV=/path/to/venv scripts/ceph/install.sh
#   CEPH_MGR=1 scripts/ceph/install.sh # also install ceph-mgr (not needed for RBD/RADOS/RGW I/O)
#
# Idempotent: does nothing slow when everything is already there.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VENV="${VENV:-$ROOT/.venv}"

PKGS=(ceph-mon ceph-osd radosgw ceph-common python3-rados python3-rbd)
if [[ "${CEPH_MGR:-0}" == 1 ]]; then PKGS+=(ceph-mgr); fi

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if ((${#missing[@]})); then
  [[ $(id -u) == 0 ]] || { echo "install.sh: need root to apt-get install ${missing[*]}" >&2; exit 1; }
  echo "install.sh: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # Postinst says "Failed to connect to bus" without systemd: harmless, nothing starts on its own.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Debian's bindings are built for CPython 3.11 (cpython-311 ABI). PyPI has no rados/rbd package, and
# a pyenv venv with --system-site-packages does not see Debian's dist-packages. So we link only the
# two extension modules into a private folder and name that folder in a .pth file inside the venv:
# Debian's other packages cannot shadow the venv's.
if [[ -x "$VENV/bin/python" ]]; then
  site="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"
  link_dir="$VENV/ceph-bindings"
  mkdir -p "$link_dir"
  for m in rados rbd; do
    so=$(ls /usr/lib/python3/dist-packages/$m.cpython-311-*.so 2>/dev/null | head -n1 || true)
    [[ -n "$so" ]] || { echo "install.sh: python3-$m module not found" >&2; exit 1; }
    ln -sfn "$so" "$link_dir/$(basename "$so")"
  done
  echo "$link_dir" > "$site/daguerre-ceph-bindings.pth"
  "$VENV/bin/python" -c 'import rados, rbd' \
    || { echo "install.sh: $VENV cannot import rados/rbd (needs CPython 3.11)" >&2; exit 1; }
else
  echo "install.sh: no venv at $VENV; skipping the bindings link" >&2
fi
echo "install.sh: ok" >&2
