#!/usr/bin/env bash
# Run Tempest's image API tests (tempest.api.image, 102 tests) against the image service that the
# Keystone catalog points at (keystone-up.sh registers it; rerun keystone-up.sh to re-point it).
#
#   scripts/openstack/tempest-run.sh <workdir> [--list] [--regex REGEX] [--serial] [--concurrency N]
#
# <workdir> gets: tempest/ (the `tempest init` workspace, never ~/.tempest), tempest/etc/tempest.conf,
# images/ (served on loopback for [image] http_image / http_qcow2_image), tempest-run.log.
#
# Keystone: KEYSTONE_WORKDIR=<keystone-up workdir> (reads its port), or KEYSTONE_URL
# (http://127.0.0.1:PORT/v3); KEYSTONE_ADMIN_PASSWORD (admin-secret, as keystone-up.sh).
# TEMPEST_HTTP_PORT: port of the loopback server for http_image/http_qcow2_image (default: a free one;
# fix it when the image service's [import_filtering_opts] allowed_ports must name it).
# Selection: TEMPEST_REGEX (default '^tempest\.api\.image'), TEMPEST_EXCLUDE_REGEX (added to the two
# off-loopback tests always excluded), TEMPEST_CONCURRENCY (2).
# Feature flags ([image-feature-enabled], [image]; "true"/"false"), defaults = what to claim for Daguerre
# (see docs/openstack.md):
#   TEMPEST_IMPORT_IMAGE=true  TEMPEST_OS_GLANCE_RESERVED=true  TEMPEST_DO_SECURE_HASH=true
#   TEMPEST_IMAGE_FORMAT_ENFORCEMENT=true  TEMPEST_MANAGE_LOCATIONS=false  TEMPEST_HTTP_STORE_ENABLED=false
#   TEMPEST_STORE_WEIGHT_ENABLED=false  TEMPEST_IMAGE_CONVERSION=false  TEMPEST_IMAGE_CACHING_ENABLED=false
#   TEMPEST_HASHING_ALGORITHM=sha512  TEMPEST_DISK_FORMATS=raw,qcow2,ami,ari,aki,vhd,vmdk,vdi,iso,vhdx
#   TEMPEST_CONTAINER_FORMATS=bare,ami,ari,aki,ovf,ova  TEMPEST_ALTERNATE_IMAGE_ENDPOINT=  (service type
#   of a second image endpoint in the catalog)  TEMPEST_ENFORCE_SCOPE_GLANCE=true
#   TEMPEST_IMAGES_MANIFEST_FILE= (os-test-images manifest, for ImagesFormatTest)
#   TEMPEST_EXTRA_CONF=<ini file> merged over the generated tempest.conf last.
# Prints "tempest: N passed, N failed, N skipped" and exits non-zero if anything failed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
venv="${OPENSTACK_VENV:-$root/.venv-openstack}"

usage() { echo "usage: $0 <workdir> [--list] [--regex REGEX] [--serial] [--concurrency N]" >&2; exit 2; }
[[ $# -ge 1 ]] || usage
mkdir -p "$1"
wd="$(cd "$1" && pwd)"
shift
list=0
regex="${TEMPEST_REGEX:-^tempest\.api\.image}"
concurrency="${TEMPEST_CONCURRENCY:-2}"
while [[ $# -gt 0 ]]; do
    case "$1" in
        --list) list=1 ;;
        --regex) regex="$2"; shift ;;
        --serial) concurrency=1 ;;
        --concurrency) concurrency="$2"; shift ;;
        *) usage ;;
    esac
    shift
done
# Off-loopback traffic: a location server on the machine's non-loopback address, and a DNS lookup of a
# random host name. Never run them here.
exclude='test_hash_calculation_cancelled|test_task_create_fake_image_location'
[[ -n "${TEMPEST_EXCLUDE_REGEX:-}" ]] && exclude="$exclude|$TEMPEST_EXCLUDE_REGEX"

"$here/setup.sh" >/dev/null
export PATH="$venv/bin:$PATH"

if [[ -n "${KEYSTONE_URL:-}" ]]; then
    ks_url="${KEYSTONE_URL%/}"
elif [[ -n "${KEYSTONE_WORKDIR:-}" ]]; then
    ks_url="http://127.0.0.1:$(cat "$KEYSTONE_WORKDIR/keystone.port")/v3"
else
    echo "tempest-run: set KEYSTONE_WORKDIR (keystone-up.sh's workdir) or KEYSTONE_URL" >&2
    exit 2
fi
[[ "$ks_url" == */v3 ]] || ks_url="$ks_url/v3"
admin_pw="${KEYSTONE_ADMIN_PASSWORD:-admin-secret}"

# -- tempest workspace ------------------------------------------------------------------------------
ts="$wd/tempest"
if [[ ! -f "$ts/.stestr.conf" ]]; then
    rm -rf "$ts"
    tempest init --config-dir "$venv/etc/tempest" --workspace-path "$wd/workspace.yaml" "$ts" >/dev/null
fi

# -- test images on a loopback HTTP server ------------------------------------------------------------
img="$wd/images"
mkdir -p "$img"
if [[ ! -s "$img/disk.qcow2" ]]; then
    # A real (empty, 16 MiB virtual) qcow2: web-download declares disk_format=qcow2 and the service
    # inspects it. qemu-img is a Debian package (qemu-utils); setup.sh installs it if missing.
    qemu-img create -q -f qcow2 "$img/disk.qcow2.tmp" 16M
    mv "$img/disk.qcow2.tmp" "$img/disk.qcow2"
fi
if [[ ! -s "$img/image.raw" ]]; then
    # http_image is used as a raw image (locations with validation_data, hashing): 1 MiB of random data.
    head -c 1048576 /dev/urandom >"$img/image.raw.tmp" && mv "$img/image.raw.tmp" "$img/image.raw"
fi
http_port="${TEMPEST_HTTP_PORT:-$(python -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}"
python -m http.server --bind 127.0.0.1 --directory "$img" "$http_port" >"$wd/http-server.log" 2>&1 &
http_pid=$!
cleanup() { kill "$http_pid" 2>/dev/null || true; wait "$http_pid" 2>/dev/null || true; }
trap cleanup EXIT
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$http_port/disk.qcow2" && break; sleep 0.1; done

# -- tempest.conf -----------------------------------------------------------------------------------
b() { case "${1,,}" in 1|true|yes|on) echo true ;; *) echo false ;; esac; }
conf="$ts/etc/tempest.conf"
mkdir -p "$ts/etc" "$ts/logs"
cat >"$conf" <<CONF
# Written by scripts/openstack/tempest-run.sh; rewritten on every run.
[DEFAULT]
log_dir = $ts/logs
log_file = tempest.log
use_stderr = false

[auth]
use_dynamic_credentials = true
admin_username = admin
admin_password = $admin_pw
admin_project_name = admin
admin_domain_name = Default
default_credentials_domain_name = Default
create_isolated_networks = false

[identity]
uri_v3 = $ks_url
auth_version = v3
region = ${KEYSTONE_REGION:-RegionOne}
v3_endpoint_type = public
default_domain_id = default

[identity-feature-enabled]
api_v2 = false
api_v3 = true

[service_available]
glance = true
nova = false
neutron = false
cinder = false
swift = false

[image]
catalog_type = image
endpoint_type = public
http_image = http://127.0.0.1:$http_port/image.raw
http_qcow2_image = http://127.0.0.1:$http_port/disk.qcow2
build_timeout = ${TEMPEST_BUILD_TIMEOUT:-120}
build_interval = 1
disk_formats = ${TEMPEST_DISK_FORMATS:-raw,qcow2,ami,ari,aki,vhd,vmdk,vdi,iso,vhdx}
container_formats = ${TEMPEST_CONTAINER_FORMATS:-bare,ami,ari,aki,ovf,ova}
hashing_algorithm = ${TEMPEST_HASHING_ALGORITHM:-sha512}
image_caching_enabled = $(b "${TEMPEST_IMAGE_CACHING_ENABLED:-false}")
CONF
[[ -n "${TEMPEST_ALTERNATE_IMAGE_ENDPOINT:-}" ]] && echo "alternate_image_endpoint = $TEMPEST_ALTERNATE_IMAGE_ENDPOINT" >>"$conf"
[[ -n "${TEMPEST_IMAGES_MANIFEST_FILE:-}" ]] && echo "images_manifest_file = $TEMPEST_IMAGES_MANIFEST_FILE" >>"$conf"
cat >>"$conf" <<CONF

[image-feature-enabled]
import_image = $(b "${TEMPEST_IMPORT_IMAGE:-true}")
os_glance_reserved = $(b "${TEMPEST_OS_GLANCE_RESERVED:-true}")
manage_locations = $(b "${TEMPEST_MANAGE_LOCATIONS:-false}")
http_store_enabled = $(b "${TEMPEST_HTTP_STORE_ENABLED:-false}")
do_secure_hash = $(b "${TEMPEST_DO_SECURE_HASH:-true}")
store_weight_enabled = $(b "${TEMPEST_STORE_WEIGHT_ENABLED:-false}")
image_conversion = $(b "${TEMPEST_IMAGE_CONVERSION:-false}")
image_format_enforcement = $(b "${TEMPEST_IMAGE_FORMAT_ENFORCEMENT:-true}")

[enforce_scope]
glance = $(b "${TEMPEST_ENFORCE_SCOPE_GLANCE:-true}")

[validation]
run_validation = false
CONF
if [[ -n "${TEMPEST_EXTRA_CONF:-}" ]]; then
    python - "$conf" "$TEMPEST_EXTRA_CONF" <<'PY'
import configparser, sys
base, extra = configparser.RawConfigParser(), configparser.RawConfigParser()
base.optionxform = extra.optionxform = str
base.read(sys.argv[1]); extra.read(sys.argv[2])
for sec in extra.sections():
    if not base.has_section(sec):
        base.add_section(sec)
    for k, v in extra.items(sec):
        base.set(sec, k, v)
for k, v in extra.defaults().items():
    base.set("DEFAULT", k, v)
with open(sys.argv[1], "w") as f:
    base.write(f)
PY
fi

cd "$ts"
if [[ $list -eq 1 ]]; then
    tempest run --list-tests --regex "$regex" --exclude-regex "$exclude" 2>/dev/null | grep '^tempest\.'
    exit 0
fi

# -- preflight: the catalog's image endpoint answers --------------------------------------------------
python - "$ks_url" "$admin_pw" <<'PY'
import sys
from keystoneauth1 import session
from keystoneauth1.identity import v3
import requests
s = session.Session(auth=v3.Password(auth_url=sys.argv[1], username="admin", password=sys.argv[2],
                                     project_name="admin", user_domain_id="default",
                                     project_domain_id="default"))
try:
    url = s.get_endpoint(service_type="image", interface="public")
except Exception as e:
    sys.exit(f"tempest-run: no image endpoint in the catalog of {sys.argv[1]}: {e}")
try:
    r = requests.get(url.rstrip("/") + "/", timeout=10)
except requests.RequestException as e:
    sys.exit(f"tempest-run: image endpoint {url} does not answer: {e}")
print(f"tempest-run: image service {url} answers GET / with {r.status_code}")
PY

echo "tempest-run: tempest run --regex '$regex' --exclude-regex '$exclude' --concurrency $concurrency"
t0=$(date +%s)
set +e
tempest run --regex "$regex" --exclude-regex "$exclude" --concurrency "$concurrency" 2>&1 | tee "$wd/tempest-run.log"
rc=${PIPESTATUS[0]}
set -e
elapsed=$(( $(date +%s) - t0 ))

count() { sed -n "s/^ - $1: *\([0-9]\+\).*/\1/p" "$wd/tempest-run.log" | tail -n 1; }
passed="$(count Passed)"; failed="$(count Failed)"; skipped="$(count Skipped)"
unexpected="$(count 'Unexpected Success')"
passed=${passed:-0}; failed=${failed:-0}; skipped=${skipped:-0}; unexpected=${unexpected:-0}
failed=$(( failed + unexpected ))
if [[ $failed -gt 0 ]]; then
    echo "tempest-run: failing tests:"
    stestr failing --list 2>/dev/null | sed 's/^/  /' || true
fi
echo "tempest-run: log $wd/tempest-run.log, tempest's own log $ts/logs/tempest.log, ${elapsed}s"
echo "tempest: $passed passed, $failed failed, $skipped skipped"
if [[ $rc -ne 0 || $failed -gt 0 ]]; then
    [[ $failed -gt 0 ]] || echo "tempest-run: tempest run exited $rc" >&2
    exit 1
fi
