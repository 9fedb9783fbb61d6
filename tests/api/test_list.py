"""GET /v2/images: filters, visibility rules, sorting and marker pagination."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator

import pytest

from actors import Actor


@pytest.fixture
def fresh(trusted_server) -> Iterator[Actor]:
    with Actor(trusted_server.url, f"list-{uuid.uuid4().hex[:8]}", "member,reader") as actor:
        yield actor


def ids(resp) -> list[str]:
    assert resp.status_code == 200, resp.text
    return [i["id"] for i in resp.json()["images"]]


def test_default_view_and_visibilities(fresh: Actor, other: Actor, admin: Actor) -> None:
    mine = fresh.create(name="mine", visibility="private")["id"]
    shared_pending = other.create(name="sh-pending")["id"]
    shared_accepted = other.create(name="sh-accepted")["id"]
    community = other.create(name="comm", visibility="community")["id"]
    public = admin.create(name="pub", visibility="public")["id"]
    hidden = fresh.create(name="hidden", os_hidden=True)["id"]
    other_private = other.create(name="op", visibility="private")["id"]
    for iid in (shared_pending, shared_accepted):
        assert other.post(f"/v2/images/{iid}/members", json={"member": fresh.project}).status_code == 200
    assert (
        fresh.put(
            f"/v2/images/{shared_accepted}/members/{fresh.project}", json={"status": "accepted"}
        ).status_code
        == 200
    )

    default = ids(fresh.get("/v2/images", params={"limit": 1000}))
    assert mine in default and shared_accepted in default and public in default
    assert shared_pending not in default and community not in default and hidden not in default
    assert other_private not in default
    assert community in ids(fresh.get("/v2/images", params={"visibility": "all", "limit": 1000}))
    assert ids(fresh.get("/v2/images", params={"visibility": "community", "owner": other.project})) == [
        community
    ]
    assert shared_pending in ids(fresh.get("/v2/images", params={"member_status": "pending"}))
    assert shared_accepted not in ids(fresh.get("/v2/images", params={"member_status": "pending"}))
    assert set(ids(fresh.get("/v2/images", params={"member_status": "all", "visibility": "shared"}))) >= {
        shared_pending,
        shared_accepted,
    }
    assert ids(fresh.get("/v2/images", params={"os_hidden": "true"})) == [hidden]
    assert ids(fresh.get("/v2/images", params={"visibility": "private"})) == [mine]
    # admins see other projects' private images, but not their community ones by default
    admin_view = ids(admin.get("/v2/images", params={"limit": 1000, "owner": other.project}))
    assert other_private in admin_view and community not in admin_view
    # a pending member may still GET the image itself
    assert fresh.get(f"/v2/images/{shared_pending}").status_code == 200


def test_filters(fresh: Actor) -> None:
    a = fresh.create(
        name="alpha", disk_format="qcow2", tags=["red", "big"], hw_disk_bus="scsi", protected=True
    )["id"]
    b = fresh.create(name="beta", disk_format="raw", tags=["red"])["id"]
    c = fresh.create(name="gamma:x", disk_format="iso")["id"]
    assert fresh.upload(b, b"x" * 2048).status_code == 204
    own = {"owner": fresh.project}
    assert ids(fresh.get("/v2/images", params={**own, "name": "alpha"})) == [a]
    assert set(ids(fresh.get("/v2/images", params={**own, "name": "in:alpha,beta"}))) == {a, b}
    assert ids(fresh.get("/v2/images", params={**own, "name": "eq:gamma:x"})) == [c]
    assert fresh.get("/v2/images", params={"name": "gamma:x"}).status_code == 400
    assert ids(fresh.get("/v2/images", params={**own, "disk_format": "qcow2"})) == [a]
    assert ids(
        fresh.get("/v2/images", params=[("owner", fresh.project), ("tag", "red"), ("tag", "big")])
    ) == [a]
    assert set(ids(fresh.get("/v2/images", params={**own, "tag": "red"}))) == {a, b}
    assert ids(fresh.get("/v2/images", params={**own, "hw_disk_bus": "scsi"})) == [a]
    assert ids(fresh.get("/v2/images", params={**own, "status": "active"})) == [b]
    assert ids(fresh.get("/v2/images", params={**own, "size_min": "1000", "size_max": "4096"})) == [b]
    assert ids(fresh.get("/v2/images", params={**own, "protected": "true"})) == [a]
    assert fresh.get("/v2/images", params={"protected": "maybe"}).status_code == 400
    assert fresh.get("/v2/images", params={"size_min": "big"}).status_code == 400
    created = fresh.get(f"/v2/images/{a}").json()["created_at"]
    assert a in ids(fresh.get("/v2/images", params={**own, "created_at": f"gte:{created}"}))
    assert ids(fresh.get("/v2/images", params={**own, "created_at": "lt:2000-01-01T00:00:00Z"})) == []
    assert fresh.get("/v2/images", params={"created_at": "bogus:2020-01-01T00:00:00Z"}).status_code == 400
    assert fresh.get("/v2/images", params={"created_at": "gt:notatime"}).status_code == 400
    assert fresh.get("/v2/images", params={"visibility": "everyone"}).status_code == 400
    assert fresh.get("/v2/images", params={"member_status": "maybe"}).status_code == 400
    assert fresh.get("/v2/images", params={"changes-since": "2020-01-01"}).status_code == 400


def test_integer_filters_out_of_range_are_400(fresh: Actor) -> None:
    """A filter value the column cannot hold is a 400, not a 500 from the database driver."""
    own = {"owner": fresh.project}
    big = fresh.create(min_ram=2**31 - 1)["id"]
    assert ids(fresh.get("/v2/images", params={**own, "min_ram": str(2**31 - 1)})) == [big]
    assert ids(fresh.get("/v2/images", params={**own, "size_max": str(2**63 - 1)})) == []
    assert ids(fresh.get("/v2/images", params={**own, "size_min": str(-(2**63))})) == []
    for key, value in (("size_min", 2**63), ("size_max", -(2**63) - 1), ("virtual_size", 10**30),
                       ("min_ram", 2**31), ("min_disk_max", 2**31), ("min_ram_min", -(2**31) - 1)):  # fmt: skip
        r = fresh.get("/v2/images", params={key: str(value)})
        assert r.status_code == 400, (key, r.text)
        assert "out of range" in r.json()["message"]
    for limit in (2**31, 2**63, 10**30):
        assert fresh.get("/v2/images", params={"limit": str(limit)}).status_code == 200
        assert fresh.get("/v2/metadefs/namespaces", params={"limit": str(limit)}).status_code == 200


def test_thousands_of_filters_or_sort_keys_are_400(fresh: Actor) -> None:
    """3000 property filters, tags or sort keys overflowed SQLite's expression limits: a 500."""
    own = {"owner": fresh.project}
    iid = fresh.create(name="many", tags=["t0"], p0="v")["id"]
    ok = [("owner", fresh.project), *((f"p{i}", "v") for i in range(1)), *(("tag", "t0") for _ in range(150))]
    assert ids(fresh.get("/v2/images", params=ok)) == [iid]
    assert ids(fresh.get("/v2/images", params={**own, "sort": ",".join(["name:asc"] * 50)})) == [iid]
    for params in ([(f"p{i}", "v") for i in range(3000)], [("tag", f"t{i}") for i in range(3000)],
                   {"sort": ",".join(["name:asc"] * 3000)}, [("sort_key", "name")] * 3000):  # fmt: skip
        r = fresh.get("/v2/images", params=params)
        assert r.status_code == 400, r.text[:300]
        assert "Too many" in r.json()["message"]


def test_sort_and_pagination(fresh: Actor) -> None:
    made = []
    for i in range(7):
        made.append(fresh.create(name=f"n{i % 3}")["id"])
        time.sleep(0.002)
    own = {"owner": fresh.project}
    newest_first = ids(fresh.get("/v2/images", params=own))
    assert newest_first == list(reversed(made))
    seen, url, pages = [], "/v2/images", 0
    params = {**own, "limit": 3, "sort_key": "name", "sort_dir": "asc"}
    while url and pages < 10:
        r = fresh.get(url, params=params if pages == 0 else None)
        body = r.json()
        seen += [i["id"] for i in body["images"]]
        url = body.get("next")
        pages += 1
    assert sorted(seen) == sorted(made) and len(seen) == 7
    names = [fresh.get(f"/v2/images/{i}").json()["name"] for i in seen]
    assert names == sorted(names)
    r = fresh.get("/v2/images", params={**own, "sort": "name:asc,created_at:desc"})
    assert r.status_code == 200
    assert fresh.get("/v2/images", params={"sort_key": "owner"}).status_code == 400
    assert fresh.get("/v2/images", params={"sort_dir": "sideways"}).status_code == 400
    assert fresh.get("/v2/images", params={"sort": "name:asc", "sort_key": "name"}).status_code == 400
    assert fresh.get("/v2/images", params=[("sort_key", "name"), ("sort_key", "size"), ("sort_dir", "asc"),
                                           ("sort_dir", "asc"), ("sort_dir", "desc")]).status_code == 400  # fmt: skip
    assert fresh.get("/v2/images", params={"marker": str(uuid.uuid4())}).status_code == 400
    assert fresh.get("/v2/images", params={"limit": "-1"}).status_code == 400
    assert fresh.get("/v2/images", params={"limit": "abc"}).status_code == 400
    body = fresh.get("/v2/images", params={**own, "limit": 2}).json()
    assert body["first"].startswith("/v2/images?") and "marker=" in body["next"]
    assert body["schema"] == "/v2/schemas/images"
    assert len(fresh.get("/v2/images", params={"limit": 5000}).json()["images"]) <= 1000
