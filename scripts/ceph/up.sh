#!/usr/bin/env bash
# Bring up a throw-away single-node Ceph (1 mon, 1 OSD, radosgw; optional mgr) on 127.0.0.1.
#
#   scripts/ceph/up.sh [DIR]          # DIR defaults to <repo>/data/ceph
#   scripts/ceph/up.sh --check [DIR]  # exit 0 if the cluster under DIR is up and answering
#
# Environment (all optional):
#   CEPH_STORE=memstore|bluestore   OSD object store (memstore: RAM, fastest; bluestore: sparse file)
#   CEPH_MGR=0|1                    run a ceph-mgr too (default 0: RBD/RADOS/RGW I/O do not need it)
#   CEPH_S3=1|0                     run radosgw with an S3 user (default 1)
#   CEPH_POOL=images                the RBD pool
#   CEPH_MON_PORT=13300 CEPH_MON_V1_PORT=16789 CEPH_RGW_PORT=17480 CEPH_OSD_PORTS=16800-16899
#
# Idempotent: if the cluster under DIR already answers, it only prints where its facts are. If DIR
# holds a dead or broken cluster, that one is wiped and a new one is made (the test cluster holds
# nothing worth keeping). Installs the packages first when they are missing (scripts/ceph/install.sh).
#
# What it leaves in DIR:
#   ceph.conf, keyring (client.admin)    clients need only `-c DIR/ceph.conf` (or CEPH_CONF)
#   cluster.env / cluster.json            fsid, conf, pool, S3 endpoint, access and secret key
#   run/log/*.log                         daemon logs; run/*.pid, run/*.asok
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"

CHECK_ONLY=0
if [[ "${1:-}" == "--check" ]]; then CHECK_ONLY=1; shift; fi
DIR="${1:-$ROOT/data/ceph}"
if ((CHECK_ONLY)) && [[ ! -d "$DIR" ]]; then exit 1; fi
mkdir -p "$DIR"
DIR="$(cd "$DIR" && pwd)"
RUN="$DIR/run"
CONF="$DIR/ceph.conf"
C=(-c "$CONF")

CEPH_STORE="${CEPH_STORE:-memstore}"
CEPH_MGR="${CEPH_MGR:-0}"
CEPH_S3="${CEPH_S3:-1}"
CEPH_POOL="${CEPH_POOL:-images}"
MON_PORT="${CEPH_MON_PORT:-13300}"
MON_V1_PORT="${CEPH_MON_V1_PORT:-16789}"
RGW_PORT="${CEPH_RGW_PORT:-17480}"
OSD_PORTS="${CEPH_OSD_PORTS:-16800-16899}"

T0=${EPOCHREALTIME/[.,]/}
say() {
  local ms=$(((${EPOCHREALTIME/[.,]/} - T0) / 1000))
  printf 'up.sh [%d.%02ds] %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*" >&2
}
die() { say "FAILED: $*"; exit 1; }

http_ok() {  # http_ok URL: any HTTP answer within 2 s
  /usr/bin/python3 - "$1" <<'PY' 2>/dev/null
import sys, urllib.request, urllib.error
try:
    urllib.request.urlopen(sys.argv[1], timeout=2)
except urllib.error.HTTPError:
    pass
PY
}

daemons_alive() {  # every daemon of the cluster under DIR is running (not gone, not a zombie)
  local name pid daemons=(mon.a osd.0)
  [[ ! -f "$DIR/cluster.env" ]] || ! grep -q 'S3_ENDPOINT=http' "$DIR/cluster.env" || daemons+=(client.rgw.a)
  for name in "${daemons[@]}"; do
    pid=$(cat "$RUN/$name.pid" 2>/dev/null) || return 1
    [[ -r "/proc/$pid/status" ]] || return 1
    grep -q '^State:[[:space:]]*Z' "/proc/$pid/status" && return 1
  done
  return 0
}

# Is the cluster under DIR up and doing I/O? (bounded: a wedged cluster must not hang us)
cluster_ok() {
  [[ -f "$DIR/cluster.env" && -f "$CONF" ]] || return 1
  # shellcheck disable=SC1091
  source "$DIR/cluster.env"
  daemons_alive || return 1  # a dead daemon: no need to wait for I/O timeouts
  timeout 15 ceph "${C[@]}" --connect-timeout 5 osd stat -f json 2>/dev/null \
    | /usr/bin/python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(0 if d["num_up_osds"]>=1 else 1)' \
    || return 1
  timeout 15 rados "${C[@]}" -p "$CEPH_POOL" put daguerre-probe "$CONF" 2>/dev/null || return 1
  timeout 15 rados "${C[@]}" -p "$CEPH_POOL" rm daguerre-probe 2>/dev/null || return 1
  if [[ -n "${DAGUERRE_S3_ENDPOINT:-}" ]]; then http_ok "$DAGUERRE_S3_ENDPOINT" || return 1; fi
  return 0
}

if ((CHECK_ONLY)); then
  cluster_ok && { echo "$DIR/cluster.env"; exit 0; }
  exit 1
fi

command -v ceph-mon >/dev/null && command -v ceph-osd >/dev/null && command -v rados >/dev/null \
  && { [[ "$CEPH_S3" != 1 ]] || command -v radosgw >/dev/null; } \
  && { [[ "$CEPH_MGR" != 1 ]] || command -v ceph-mgr >/dev/null; } \
  || CEPH_MGR="$CEPH_MGR" "$HERE/install.sh"

if [[ -f "$DIR/cluster.env" ]]; then
  if cluster_ok; then
    say "already up: $DIR/cluster.env"
    echo "$DIR/cluster.env"
    exit 0
  fi
  # A cluster that stopped doing I/O after a VM clock jump recovers when its OSD re-peers.
  if daemons_alive; then
    say "cluster under $DIR does not answer: marking osd.0 down to make it re-peer"
    timeout 10 ceph "${C[@]}" --connect-timeout 5 osd down 0 >/dev/null 2>&1 || true
    for _ in $(seq 1 20); do
      sleep 0.5
      if cluster_ok; then say "healed"; echo "$DIR/cluster.env"; exit 0; fi
    done
  fi
  say "cluster under $DIR is broken or stopped: wiping it"
fi
"$HERE/down.sh" "$DIR" >/dev/null 2>&1 || true

# --- from empty ------------------------------------------------------------------------------
started=()
on_fail() {
  local rc=$?
  if ((rc != 0)); then
    say "bring-up failed (rc=$rc); stopping what was started, logs kept in $RUN/log"
    "$HERE/down.sh" --keep "$DIR" >/dev/null 2>&1 || true
  fi
}
trap on_fail EXIT

rm -rf "${DIR:?}/mon" "$DIR/osd" "$DIR/mgr" "$DIR/rgw" "$RUN" "$DIR"/*.keyring "$DIR/keyring" \
  "$DIR/monmap" "$DIR/cluster.env" "$DIR/cluster.json" "$CONF"
mkdir -p "$RUN/log" "$DIR/mon/ceph-a" "$DIR/osd/ceph-0" "$DIR/rgw/ceph-rgw.a"
FSID=$(cat /proc/sys/kernel/random/uuid)
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
MON_HOST="[v2:127.0.0.1:$MON_PORT,v1:127.0.0.1:$MON_V1_PORT]"

case "$CEPH_STORE" in
  memstore) OSD_STORE_CONF="osd objectstore = memstore
memstore device bytes = ${CEPH_MEMSTORE_BYTES:-8589934592}" ;;
  bluestore) OSD_STORE_CONF="osd objectstore = bluestore
bluestore block path = \$osd_data/block.img
bluestore block size = ${CEPH_BLUESTORE_BYTES:-10737418240}
bluestore block create = true
bluestore block db create = false
bluestore block wal create = false
osd memory target = 1073741824" ;;
  *) die "CEPH_STORE must be memstore or bluestore" ;;
esac
if [[ "$CEPH_MGR" == 1 ]]; then MGR_GRACE=""; else
  # Without a mgr Pacific warns MGR_DOWN after 120 s; we run without one on purpose.
  MGR_GRACE="mon mgr mkfs grace = 31536000"
fi

cat >"$CONF" <<EOF
[global]
fsid = $FSID
mon initial members = a
mon host = $MON_HOST
public network = 127.0.0.0/8
public addr = 127.0.0.1
cluster addr = 127.0.0.1
ms bind port min = ${OSD_PORTS%-*}
ms bind port max = ${OSD_PORTS#*-}
auth cluster required = cephx
auth service required = cephx
auth client required = cephx
auth allow insecure global id reclaim = false
keyring = $DIR/keyring
run dir = $RUN
admin socket = $RUN/\$name.asok
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon max pg per osd = 1000
mon warn on pool no redundancy = false
paxos propose interval = 0.1
mon data avail warn = 5
mon data avail crit = 2
mon warn on osd down out interval zero = false
mon osd down out interval = 0
$MGR_GRACE
# 600 s PG read lease: a VM clock jump must not leave PGs laggy (see shared/spec/ceph.md)
osd pool default read lease ratio = 30
[client]
log file = $RUN/log/client.log
[mon]
mon data = $DIR/mon/\$cluster-\$id
pid file = $RUN/\$name.pid
log file = $RUN/log/\$name.log
[mgr]
mgr data = $DIR/mgr/\$cluster-\$id
keyring = $DIR/mgr/\$cluster-\$id/keyring
pid file = $RUN/\$name.pid
log file = $RUN/log/\$name.log
mgr initial modules =
[osd]
osd data = $DIR/osd/\$cluster-\$id
keyring = $DIR/osd/\$cluster-\$id/keyring
pid file = $RUN/\$name.pid
log file = $RUN/log/\$name.log
$OSD_STORE_CONF
[client.rgw.a]
rgw data = $DIR/rgw/\$cluster-\$id
keyring = $DIR/rgw/keyring
pid file = $RUN/\$name.pid
log file = $RUN/log/\$name.log
rgw frontends = beast endpoint=127.0.0.1:$RGW_PORT
rgw thread pool size = 64
rgw dns name = localhost
rgw gc obj min wait = 10
rgw gc processor period = 10
EOF

# Ports must be free: another cluster (another checkout) would answer in our place.
for p in "$MON_PORT" "$MON_V1_PORT" "$RGW_PORT"; do
  if ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then
    die "port $p on 127.0.0.1 is taken (another cluster? run its down.sh, or set CEPH_*_PORT)"
  fi
done

# mon
ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
ceph-authtool --create-keyring "$DIR/keyring" --gen-key -n client.admin \
  --cap mon 'allow *' --cap osd 'allow *' --cap mds 'allow *' --cap mgr 'allow *' >/dev/null
ceph-authtool "$DIR/mon.keyring" --import-keyring "$DIR/keyring" >/dev/null
monmaptool --create --fsid "$FSID" --addv a "$MON_HOST" "$DIR/monmap" >/dev/null
ceph-mon "${C[@]}" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring" >>"$RUN/log/mkfs.log" 2>&1
ceph-mon "${C[@]}" -i a >>"$RUN/log/start.log" 2>&1
started+=(mon.a)
for _ in $(seq 1 100); do
  timeout 5 ceph "${C[@]}" --connect-timeout 2 mon stat >/dev/null 2>&1 && break
  sleep 0.1
done
timeout 5 ceph "${C[@]}" --connect-timeout 2 mon stat >/dev/null 2>&1 || die "mon did not answer"
say "mon up"

# mgr (optional)
if [[ "$CEPH_MGR" == 1 ]]; then
  mkdir -p "$DIR/mgr/ceph-x"
  ceph "${C[@]}" auth get-or-create mgr.x mon 'allow profile mgr' osd 'allow *' mds 'allow *' \
    -o "$DIR/mgr/ceph-x/keyring" 2>/dev/null
  ceph-mgr "${C[@]}" -i x >>"$RUN/log/start.log" 2>&1
  say "mgr started"
fi

# one OSD
OSD_ID=$(ceph "${C[@]}" osd new "$OSD_UUID" 2>/dev/null)
[[ "$OSD_ID" == 0 ]] || die "unexpected osd id '$OSD_ID'"
ceph "${C[@]}" auth get-or-create osd.0 mon 'allow profile osd' mgr 'allow profile osd' osd 'allow *' \
  -o "$DIR/osd/ceph-0/keyring" 2>/dev/null
ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$OSD_UUID" >>"$RUN/log/mkfs.log" 2>&1
ceph-osd "${C[@]}" -i 0 >>"$RUN/log/start.log" 2>&1
started+=(osd.0)
for _ in $(seq 1 300); do
  up=$(ceph "${C[@]}" osd stat -f json 2>/dev/null \
    | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["num_up_osds"])' 2>/dev/null || echo 0)
  [[ "$up" == 1 ]] && break
  sleep 0.2
done
[[ "$up" == 1 ]] || die "osd.0 did not come up"
say "osd up ($CEPH_STORE)"

# RBD pool
ceph "${C[@]}" osd pool create "$CEPH_POOL" 32 32 >/dev/null 2>&1
ceph "${C[@]}" osd pool application enable "$CEPH_POOL" rbd >/dev/null 2>&1
timeout 120 rbd "${C[@]}" pool init "$CEPH_POOL" || die "rbd pool init $CEPH_POOL"
say "pool $CEPH_POOL ready"

S3_ENDPOINT="" ACCESS="" SECRET=""
if [[ "$CEPH_S3" == 1 ]]; then
  ceph "${C[@]}" auth get-or-create client.rgw.a mon 'allow rw' osd 'allow rwx' mgr 'allow rw' \
    -o "$DIR/rgw/keyring" 2>/dev/null
  radosgw "${C[@]}" -n client.rgw.a >>"$RUN/log/start.log" 2>&1
  started+=(client.rgw.a)
  S3_ENDPOINT="http://127.0.0.1:$RGW_PORT"
  for _ in $(seq 1 600); do http_ok "$S3_ENDPOINT" && break; sleep 0.1; done
  http_ok "$S3_ENDPOINT" || die "radosgw did not answer on $S3_ENDPOINT"
  ACCESS="DAG$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
  SECRET="$(head -c 30 /dev/urandom | base64 | tr -d '/+=\n')"
  radosgw-admin "${C[@]}" user create --uid=daguerre --display-name="Daguerre tests" \
    --access-key="$ACCESS" --secret="$SECRET" >/dev/null 2>>"$RUN/log/radosgw-admin.log" \
    || die "radosgw-admin user create"
  say "S3 ready on $S3_ENDPOINT"
fi

cat >"$DIR/cluster.env" <<EOF
# written by scripts/ceph/up.sh; source it
export CEPH_CONF=$CONF
export DAGUERRE_CEPH_DIR=$DIR
export DAGUERRE_CEPH_FSID=$FSID
export DAGUERRE_RBD_POOL=$CEPH_POOL
export DAGUERRE_S3_ENDPOINT=$S3_ENDPOINT
export DAGUERRE_S3_ACCESS_KEY=$ACCESS
export DAGUERRE_S3_SECRET_KEY=$SECRET
EOF
/usr/bin/python3 - "$DIR/cluster.json" <<EOF
import json, sys
json.dump({"dir": "$DIR", "conf": "$CONF", "keyring": "$DIR/keyring", "fsid": "$FSID",
           "pool": "$CEPH_POOL", "user": "admin", "store": "$CEPH_STORE",
           "s3": {"endpoint_url": "$S3_ENDPOINT", "access_key": "$ACCESS", "secret_key": "$SECRET",
                  "region": "us-east-1"} if "$S3_ENDPOINT" else None},
          open(sys.argv[1], "w"), indent=2)
EOF
chmod 600 "$DIR/cluster.env" "$DIR/cluster.json"

health=$(ceph "${C[@]}" health 2>/dev/null || true)
[[ "$health" == HEALTH_OK* ]] || die "cluster health: $health"
say "HEALTH_OK; facts in $DIR/cluster.env and $DIR/cluster.json"
trap - EXIT
echo "$DIR/cluster.env"
