#!/usr/bin/env bash
# End to end: Keystone + Daguerre (keystone auth) + Tempest's image suite, all on loopback, then teardown.
#
#   scripts/openstack/tempest-daguerre.sh [<workdir>] [tempest-run.sh options: --list, --regex R, ...]
#
# <workdir> defaults to ./run/tempest-daguerre (git-ignored) and is emptied first. Ports are picked free.
# The Daguerre config is <workdir>/daguerre.conf: keystone-up.sh's [auth]/[keystone_authtoken] snippet,
# import methods (DAGUERRE_IMPORT_METHODS, default glance-direct,web-download), import filtering that
# allows only the loopback image server, then DAGUERRE_EXTRA_CONF (an ini file) appended if set.
# All TEMPEST_* variables of tempest-run.sh apply. Exit status: tempest-run.sh's.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
wd="${1:-$root/run/tempest-daguerre}"
[[ $# -gt 0 ]] && shift
rm -rf "$wd"
mkdir -p "$wd"
wd="$(cd "$wd" && pwd)"

"$here/setup.sh"
[[ -x "$root/.venv/bin/daguerre" ]] || { echo "tempest-daguerre: $root/.venv/bin/daguerre missing (make install)" >&2; exit 1; }

free_port() { "$root/.venv-openstack/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
ks_port=$(free_port); dg_port=$(free_port); http_port=$(free_port)
dg_url="http://127.0.0.1:$dg_port"

dg_pid=""
dg2_pid=""
cleanup() {
    if [[ -n "$dg2_pid" ]] && kill -0 "$dg2_pid" 2>/dev/null; then
        kill -TERM "$dg2_pid" 2>/dev/null || true
        sleep 1
        kill -KILL "$dg2_pid" 2>/dev/null || true
    fi
    if [[ -n "$dg_pid" ]] && kill -0 "$dg_pid" 2>/dev/null; then
        kill -TERM "$dg_pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$dg_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$dg_pid" 2>/dev/null || true
    fi
    "$here/keystone-down.sh" "$wd/keystone" >/dev/null 2>&1 || true
}
trap cleanup EXIT

t0=$(date +%s)
"$here/keystone-up.sh" "$wd/keystone" "$ks_port" "$dg_url"

{
    cat "$wd/keystone/daguerre-keystone.conf"
    cat <<INI

[DEFAULT]
enabled_import_methods = ${DAGUERRE_IMPORT_METHODS:-glance-direct,web-download}

[import_filtering_opts]
allowed_hosts = 127.0.0.1
allowed_ports = $http_port
INI
    if [[ -n "${DAGUERRE_EXTRA_CONF:-}" ]]; then echo; cat "$DAGUERRE_EXTRA_CONF"; fi
} >"$wd/daguerre.conf"

setsid "$root/.venv/bin/daguerre" serve --config "$wd/daguerre.conf" --host 127.0.0.1 --port "$dg_port" \
    --data-dir "$wd/daguerre-data" </dev/null >"$wd/daguerre.log" 2>&1 &
dg_pid=$!
echo "$dg_pid" >"$wd/daguerre.pid"
for _ in $(seq 1 300); do
    code=$(curl -s -o /dev/null -w '%{http_code}' "$dg_url/" || true)
    [[ "$code" == 300 ]] && break
    kill -0 "$dg_pid" 2>/dev/null || { echo "tempest-daguerre: daguerre exited; tail of $wd/daguerre.log:" >&2; tail -n 40 "$wd/daguerre.log" >&2; exit 1; }
    sleep 0.1
done
echo "tempest-daguerre: daguerre (pid $dg_pid) at $dg_url, keystone at http://127.0.0.1:$ks_port/v3, up in $(( $(date +%s) - t0 )) s"

# DAGUERRE_REMOTE=1: a second Daguerre process sharing the database and data directory, with its
# own image cache, registered as the "image_remote" service (Tempest's alternate_image_endpoint).
if [[ "${DAGUERRE_REMOTE:-0}" == 1 ]]; then
    dg2_port=$(free_port)
    DAGUERRE_DEFAULT__IMAGE_CACHE_DIR="$wd/daguerre-data/cache-remote" setsid "$root/.venv/bin/daguerre" serve \
        --config "$wd/daguerre.conf" --host 127.0.0.1 --port "$dg2_port" --data-dir "$wd/daguerre-data" \
        </dev/null >"$wd/daguerre-remote.log" 2>&1 &
    dg2_pid=$!
    for _ in $(seq 1 300); do
        [[ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$dg2_port/" || true)" == 300 ]] && break
        sleep 0.1
    done
    "$root/.venv-openstack/bin/python" "$here/ks_register.py" --auth-url "http://127.0.0.1:$ks_port/v3" \
        --admin-password "${KEYSTONE_ADMIN_PASSWORD:-admin-secret}" --service-password "${DAGUERRE_SERVICE_PASSWORD:-daguerre-secret}" \
        --image-url "http://127.0.0.1:$dg2_port" --service-type image_remote --service-name daguerre-remote
    export TEMPEST_ALTERNATE_IMAGE_ENDPOINT=image_remote
    echo "tempest-daguerre: second daguerre (pid $dg2_pid) at http://127.0.0.1:$dg2_port as image_remote"
fi

set +e
KEYSTONE_WORKDIR="$wd/keystone" TEMPEST_HTTP_PORT="$http_port" "$here/tempest-run.sh" "$wd" "$@"
rc=$?
set -e
echo "tempest-daguerre: total $(( $(date +%s) - t0 )) s; logs in $wd (daguerre.log, keystone/keystone.log, tempest-run.log)"
exit $rc
