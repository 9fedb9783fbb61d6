#!/usr/bin/env bash
# OpenStack Tempest's image API suite against Daguerre behind a real Keystone, all on loopback.
#
# Flags, and why:
#   image_format_enforcement = false, and on the server [image_format] relaxed_checks =
#     format_mismatch: Tempest's ListUserImagesTest (17 tests) uploads random bytes declared as
#     qcow2, iso, vhd... and can only run against a server that accepts a claim its bytes do not
#     back. Daguerre refuses that by default; for this run we relax exactly that one named check
#     (every relaxation is logged). Every other safety check stays on, and format enforcement
#     itself is tested by our own suite (tests/formats, tests/jobs).
#   import_image = true (glance-direct, web-download, copy-image and glance-download are listed),
#   os_glance_reserved = true, do_secure_hash = true.
#   Multi-store: two filesystem stores, so the multi-store and copy-image tests run.
#   image_caching_enabled = true: each Daguerre process has a node-local cache (/v2/cache).
#   A second Daguerre process (same database and data) is registered as "image_remote", Tempest's
#   alternate_image_endpoint, for the remote import/delete/cache tests.
#   manage_locations = true, http_store_enabled = true, do_secure_hash = true: image locations
#     (PATCH /locations, POST /v2/images/{id}/locations) with a read-only http store named "web";
#     Tempest's do_secure_hash=false variants need hashing off and are skipped in this run.
#   store_weight_enabled = false: the image's "stores" are listed alphabetically (Tempest's import
#   waiters require that), which StoreWeightTest contradicts.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${TEMPEST_WORKDIR:-$PWD/run/tempest}
extra=$(mktemp)
trap 'rm -f "$extra"' EXIT
cat >"$extra" <<INI
[DEFAULT]
enabled_backends = fast:file, cheap:file, web:http
image_cache_dir = $work/daguerre-data/cache
show_multiple_locations = True
show_image_direct_url = True
[image_format]
relaxed_checks = format_mismatch
[glance_store]
default_backend = fast
[fast]
filesystem_store_datadir = $work/stores/fast
weight = 100
description = Fast store
[cheap]
filesystem_store_datadir = $work/stores/cheap
weight = 10
description = Cheap store
[web]
description = Read-only http store (image locations)
INI
export DAGUERRE_EXTRA_CONF="$extra"
export DAGUERRE_IMPORT_METHODS=${DAGUERRE_IMPORT_METHODS:-glance-direct,web-download,copy-image,glance-download}
export DAGUERRE_REMOTE=${DAGUERRE_REMOTE:-1}
export TEMPEST_IMAGE_CACHING_ENABLED=${TEMPEST_IMAGE_CACHING_ENABLED:-true}
export TEMPEST_MANAGE_LOCATIONS=${TEMPEST_MANAGE_LOCATIONS:-true}
export TEMPEST_HTTP_STORE_ENABLED=${TEMPEST_HTTP_STORE_ENABLED:-true}
export TEMPEST_IMAGE_FORMAT_ENFORCEMENT=${TEMPEST_IMAGE_FORMAT_ENFORCEMENT:-false}
exec scripts/openstack/tempest-daguerre.sh "$work" "$@"
