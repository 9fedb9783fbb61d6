#!/usr/bin/env bash
# Stop the Keystone that keystone-up.sh started in <workdir> (by its recorded PID only).
#   scripts/openstack/keystone-down.sh <workdir> [--purge]     (--purge also deletes the workdir)
set -euo pipefail
if [[ $# -lt 1 ]]; then echo "usage: $0 <workdir> [--purge]" >&2; exit 2; fi
wd="$1"
if [[ -f "$wd/keystone.pid" ]]; then
    pid="$(cat "$wd/keystone.pid")"
    if [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null; then
        kill -TERM "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid" 2>/dev/null || true; fi
        echo "keystone-down: stopped pid $pid"
    fi
    rm -f "$wd/keystone.pid"
fi
if [[ "${2:-}" == "--purge" ]]; then rm -rf "$wd"; fi
