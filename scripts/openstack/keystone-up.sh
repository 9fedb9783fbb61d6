#!/usr/bin/env bash
# Bring Keystone up on 127.0.0.1:<port> with SQLite, fernet tokens, and Daguerre registered as `image`.
#
#   scripts/openstack/keystone-up.sh <workdir> <port> [<daguerre-url>]
#   DAGUERRE_URL=http://127.0.0.1:19292 scripts/openstack/keystone-up.sh /tmp/ks 15000
#
# From an empty <workdir>: writes keystone.conf, fernet + credential keys, db_sync, switches the DB to
# WAL, bootstraps admin / RegionOne, starts uwsgi (1 process x 1 thread) in its own session, waits for
# /v3, then registers project `service`, user `daguerre` (admin + service) and the image endpoints.
# On a workdir that is already set up it only (re)starts what is needed; if that Keystone is already
# running on <port> it just re-points the image endpoints (so rerun it to switch Daguerre URLs).
# Stop with keystone-down.sh <workdir>.
#
# Env knobs: DAGUERRE_URL (default http://127.0.0.1:19292), KEYSTONE_ADMIN_PASSWORD (admin-secret),
# DAGUERRE_SERVICE_PASSWORD (daguerre-secret), KEYSTONE_TOKEN_EXPIRATION (seconds, 3600),
# KEYSTONE_REGION (RegionOne), OPENSTACK_VENV (<repo>/.venv-openstack), KEYSTONE_UP_TIMEOUT (60).
#
# Files left in <workdir>: keystone.conf, keystone.db, keystone.log, keystone.pid, keystone.port,
# admin-openrc.sh, clouds.yaml (clouds `admin`, `admin-system`, `daguerre`), and
# daguerre-keystone.conf (the [auth] + [keystone_authtoken] sections for `daguerre serve`).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${OPENSTACK_VENV:-$root/.venv-openstack}"

if [[ $# -lt 2 ]]; then
    echo "usage: $0 <workdir> <port> [<daguerre-url>]" >&2
    exit 2
fi
mkdir -p "$1"
wd="$(cd "$1" && pwd)"
port="$2"
image_url="${3:-${DAGUERRE_URL:-http://127.0.0.1:19292}}"
admin_pw="${KEYSTONE_ADMIN_PASSWORD:-admin-secret}"
svc_pw="${DAGUERRE_SERVICE_PASSWORD:-daguerre-secret}"
region="${KEYSTONE_REGION:-RegionOne}"
expiration="${KEYSTONE_TOKEN_EXPIRATION:-3600}"
timeout="${KEYSTONE_UP_TIMEOUT:-60}"
url="http://127.0.0.1:$port"
t0=$(date +%s.%N)

[[ -x "$venv/bin/keystone-manage" ]] || { echo "keystone-up: $venv missing: run scripts/openstack/setup.sh" >&2; exit 1; }
export PATH="$venv/bin:$PATH"
km() { keystone-manage --config-file "$wd/keystone.conf" "$@" >>"$wd/keystone-manage.log" 2>&1 \
       || { echo "keystone-up: keystone-manage $1 failed; tail of $wd/keystone-manage.log:" >&2;
            tail -n 30 "$wd/keystone-manage.log" >&2; exit 1; }; }

register() {
    python "$here/ks_register.py" --auth-url "$url/v3" --admin-password "$admin_pw" \
        --service-password "$svc_pw" --image-url "$image_url" --region "$region"
}

running_pid() {
    local pid
    [[ -f "$wd/keystone.pid" ]] || return 1
    pid="$(cat "$wd/keystone.pid")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null && echo "$pid"
}

# Already up on this port: only re-point the endpoints.
if pid="$(running_pid)" && [[ "$(cat "$wd/keystone.port" 2>/dev/null)" == "$port" ]] \
        && curl -sf -o /dev/null "$url/v3"; then
    register
    echo "keystone-up: already running (pid $pid) at $url/v3"
    exit 0
fi
if pid="$(running_pid)"; then
    echo "keystone-up: stopping the Keystone (pid $pid) left in $wd" >&2
    "$here/keystone-down.sh" "$wd"
fi
if curl -s -o /dev/null --max-time 2 "$url/"; then
    echo "keystone-up: something already listens on 127.0.0.1:$port" >&2
    exit 1
fi

cat >"$wd/keystone.conf" <<CONF
# Written by scripts/openstack/keystone-up.sh; rewritten on every run.
[DEFAULT]
debug = false
use_stderr = true

[database]
connection = sqlite:///$wd/keystone.db?timeout=30

[token]
provider = fernet
expiration = $expiration

[fernet_tokens]
key_repository = $wd/fernet-keys
max_active_keys = 3

[fernet_receipts]
key_repository = $wd/fernet-keys

[credential]
key_repository = $wd/credential-keys

[identity]
password_hash_rounds = 4

[cache]
enabled = false

[oslo_policy]
enforce_scope = true
enforce_new_defaults = true
CONF

user="$(id -un)"; group="$(id -gn)"
if [[ ! -f "$wd/.bootstrapped" ]]; then
    rm -rf "$wd/keystone.db" "$wd/keystone.db-wal" "$wd/keystone.db-shm" "$wd/fernet-keys" "$wd/credential-keys"
    : >"$wd/keystone-manage.log"
    km fernet_setup --keystone-user "$user" --keystone-group "$group"
    km credential_setup --keystone-user "$user" --keystone-group "$group"
    km db_sync
    python - "$wd/keystone.db" <<'PY'
import sqlite3, sys
con = sqlite3.connect(sys.argv[1])
mode = con.execute("PRAGMA journal_mode=WAL").fetchone()[0]
con.close()
assert mode == "wal", mode
PY
fi
if [[ ! -f "$wd/.bootstrapped" || "$(cat "$wd/.bootstrapped")" != "$port $admin_pw" ]]; then
    # Idempotent: also re-points the identity endpoints when the port changed.
    km bootstrap --bootstrap-password "$admin_pw" --bootstrap-region-id "$region" \
        --bootstrap-public-url "$url/v3" --bootstrap-internal-url "$url/v3" --bootstrap-admin-url "$url/v3"
    echo "$port $admin_pw" >"$wd/.bootstrapped"
fi

# uwsgi: --die-on-term (SIGTERM would reload otherwise), Connection: close (its http-socket has no
# keep-alive; keystoneauth would reuse connections and get resets). One process, one thread: SQLite.
echo "$port" >"$wd/keystone.port"
OS_KEYSTONE_CONFIG_FILES="$wd/keystone.conf" setsid "$venv/bin/uwsgi" \
    --http-socket "127.0.0.1:$port" \
    --module keystone.wsgi.api:application \
    --processes 1 --threads 1 \
    --die-on-term --need-app \
    --add-header "Connection: close" \
    --buffer-size 65535 \
    --disable-logging \
    </dev/null >>"$wd/keystone.log" 2>&1 &
echo $! >"$wd/keystone.pid"

deadline=$(( $(date +%s) + timeout ))
until curl -sf -o /dev/null --max-time 2 "$url/v3"; do
    if ! running_pid >/dev/null; then
        echo "keystone-up: uwsgi exited; tail of $wd/keystone.log:" >&2
        tail -n 40 "$wd/keystone.log" >&2
        exit 1
    fi
    if (( $(date +%s) > deadline )); then
        echo "keystone-up: no answer from $url/v3 after ${timeout}s; tail of $wd/keystone.log:" >&2
        tail -n 40 "$wd/keystone.log" >&2
        "$here/keystone-down.sh" "$wd" || true
        exit 1
    fi
    sleep 0.2
done

register

cat >"$wd/admin-openrc.sh" <<RC
export OS_AUTH_URL=$url/v3
export OS_IDENTITY_API_VERSION=3
export OS_REGION_NAME=$region
export OS_USERNAME=admin
export OS_PASSWORD=$admin_pw
export OS_PROJECT_NAME=admin
export OS_USER_DOMAIN_NAME=Default
export OS_PROJECT_DOMAIN_NAME=Default
RC
cat >"$wd/clouds.yaml" <<YAML
clouds:
  admin:
    auth: {auth_url: "$url/v3", username: admin, password: "$admin_pw", project_name: admin,
           user_domain_name: Default, project_domain_name: Default}
    region_name: $region
    identity_api_version: 3
  admin-system:
    auth: {auth_url: "$url/v3", username: admin, password: "$admin_pw", system_scope: all,
           user_domain_name: Default}
    region_name: $region
    identity_api_version: 3
  daguerre:
    auth: {auth_url: "$url/v3", username: daguerre, password: "$svc_pw", project_name: service,
           user_domain_name: Default, project_domain_name: Default}
    region_name: $region
    identity_api_version: 3
YAML
cat >"$wd/daguerre-keystone.conf" <<INI
[auth]
strategy = keystone

[keystone_authtoken]
www_authenticate_uri = $url/v3
auth_url = $url/v3
auth_type = password
username = daguerre
password = $svc_pw
project_name = service
user_domain_name = Default
project_domain_name = Default
region_name = $region
interface = public
token_cache_time = 300
INI

printf 'keystone-up: %s/v3 ready (pid %s) in %.1f s; image endpoints -> %s\n' \
    "$url" "$(cat "$wd/keystone.pid")" "$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN{print b-a}')" "$image_url"
