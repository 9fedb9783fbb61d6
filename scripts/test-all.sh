#!/usr/bin/env bash
# The whole suite, as CI runs it. Each part installs and starts what it needs:
#   - Keystone and Tempest in .venv-openstack (scripts/openstack/setup.sh),
#   - a single-node Ceph from Debian's packages (brought up and torn down by tests/stores),
#   - the PostgreSQL already running on 127.0.0.1:5432,
# then pytest over everything, then OpenStack's Tempest image suite against a live Daguerre
# behind a real Keystone.
set -euo pipefail
cd "$(dirname "$0")/.."
export PYTHONDONTWRITEBYTECODE=1
start=$(date +%s)

status=0
# The checks of the code's shape first (ruff, the tier contracts, mypy): seconds, and a broken
# contract fails the run like a failed test.
make -s lint || status=$?
echo "test-all: lint finished with status $status after $(( $(date +%s) - start )) s"

scripts/openstack/setup.sh

pytest_status=0
.venv/bin/pytest -q -p no:cacheprovider "$@" || pytest_status=$?
[ "$status" = 0 ] && status=$pytest_status
echo "test-all: pytest finished with status $pytest_status after $(( $(date +%s) - start )) s"

if [ "${DAGUERRE_SKIP_TEMPEST:-0}" != 1 ]; then
  tempest_status=0
  scripts/tempest.sh || tempest_status=$?
  echo "test-all: tempest finished with status $tempest_status after $(( $(date +%s) - start )) s"
  [ "$status" = 0 ] && status=$tempest_status
fi
exit "$status"
