#!/usr/bin/env bash
# Stop the single-node Ceph that up.sh started under DIR and remove DIR.
#
#   scripts/ceph/down.sh [DIR]          # stop every daemon, remove DIR (default <repo>/data/ceph)
#   scripts/ceph/down.sh --keep [DIR]   # stop every daemon, keep DIR (logs in DIR/run/log)
#
# Only processes that are ours are signalled: the PID comes from DIR/run/*.pid and must be a
# ceph daemon whose command line names DIR/ceph.conf. Idempotent: nothing running is fine.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
KEEP=0
if [[ "${1:-}" == "--keep" ]]; then KEEP=1; shift; fi
DIR="${1:-$ROOT/data/ceph}"
[[ -d "$DIR" ]] || exit 0
DIR="$(cd "$DIR" && pwd)"
CONF="$DIR/ceph.conf"

ours() {  # ours PID: a live (non-zombie) ceph daemon started with our conf
  local pid=$1 exe state
  [[ -d /proc/$pid ]] || return 1
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo X)
  [[ "$state" != Z && "$state" != X ]] || return 1
  exe=$(readlink "/proc/$pid/exe" 2>/dev/null || true)
  case "$(basename "${exe% (deleted)}")" in ceph-mon | ceph-osd | ceph-mgr | radosgw) ;; *) return 1 ;; esac
  tr '\0' '\n' <"/proc/$pid/cmdline" 2>/dev/null | grep -qxF "$CONF"
}

pids=()
for f in "$DIR"/run/*.pid; do
  [[ -e "$f" ]] || continue
  pid=$(cat "$f" 2>/dev/null || true)
  [[ "$pid" =~ ^[0-9]+$ ]] && ours "$pid" && pids+=("$pid")
done

if ((${#pids[@]})); then
  if ((KEEP)); then
    kill -TERM "${pids[@]}" 2>/dev/null || true
    for _ in $(seq 1 50); do
      alive=0
      for p in "${pids[@]}"; do ours "$p" && alive=1; done
      ((alive)) || break
      sleep 0.1
    done
  fi
  # A memstore cluster holds nothing worth a graceful stop; SIGKILL what is left.
  for p in "${pids[@]}"; do ours "$p" && kill -KILL "$p" 2>/dev/null || true; done
  for _ in $(seq 1 50); do
    alive=0
    for p in "${pids[@]}"; do ours "$p" && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  ((alive == 0)) || { echo "down.sh: could not stop ${pids[*]}" >&2; exit 1; }
fi

if ((KEEP)); then
  rm -f "$DIR"/run/*.pid "$DIR"/run/*.asok
else
  rm -rf "$DIR"
fi
echo "down.sh: stopped ${#pids[@]} daemon(s)${KEEP:+}" >&2
