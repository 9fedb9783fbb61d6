"""The configuration sections for Daguerre's Ceph stores, written from the facts of a running
cluster (``scripts/ceph/up.sh`` writes them as JSON: pool, ceph.conf, user, keyring, and the
RADOS Gateway's S3 endpoint and keys). Shared by the Ceph tests and the stores benchmark."""

from __future__ import annotations


def ceph_store_sections(
    facts: dict, bucket: str, *, rbd: str = "ceph", s3: str = "objects", rbd_weight: int | None = None
) -> str:
    """``[<rbd>]`` (an RBD store) and ``[<s3>]`` (an S3 store on the gateway) as INI text."""
    gw = facts["s3"]
    rbd_lines = [
        f"[{rbd}]",
        f"rbd_store_pool = {facts['pool']}",
        f"rbd_store_ceph_conf = {facts['conf']}",
        f"rbd_store_keyring = {facts['keyring']}",
    ]
    if facts.get("user"):
        rbd_lines.append(f"rbd_store_user = {facts['user']}")
    if rbd_weight is not None:
        rbd_lines.append(f"weight = {rbd_weight}")
    s3_lines = [
        f"[{s3}]",
        f"s3_store_host = {gw['endpoint_url']}",
        f"s3_store_bucket = {bucket}",
        f"s3_store_access_key = {gw['access_key']}",
        f"s3_store_secret_key = {gw['secret_key']}",
    ]
    return "\n".join([*rbd_lines, *s3_lines]) + "\n"
