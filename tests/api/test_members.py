"""Image members: sharing, accepting, who may do what."""

from __future__ import annotations

from actors import Actor


def test_member_lifecycle(member: Actor, other: Actor, admin: Actor) -> None:
    image = member.create(name="to-share")
    iid = image["id"]
    r = member.post(f"/v2/images/{iid}/members", json={"member": other.project})
    assert r.status_code == 200
    assert r.json()["status"] == "pending" and r.json()["schema"] == "/v2/schemas/member"
    assert member.post(f"/v2/images/{iid}/members", json={"member": other.project}).status_code == 409
    assert member.post(f"/v2/images/{iid}/members", json={}).status_code == 400
    assert member.post(f"/v2/images/{iid}/members", json={"member": 5}).status_code == 400
    # The member sees the image while pending, but not in its default list.
    assert other.get(f"/v2/images/{iid}").status_code == 200
    assert iid not in [i["id"] for i in other.get("/v2/images").json()["images"]]
    # Only the member may accept; the owner gets 403.
    assert (
        member.put(f"/v2/images/{iid}/members/{other.project}", json={"status": "accepted"}).status_code
        == 403
    )
    assert other.put(f"/v2/images/{iid}/members/{other.project}", json={"status": "bogus"}).status_code == 400
    assert other.put(f"/v2/images/{iid}/members/{other.project}", json={}).status_code == 400
    r = other.put(f"/v2/images/{iid}/members/{other.project}", json={"status": "accepted"})
    assert r.status_code == 200 and r.json()["status"] == "accepted"
    assert iid in [i["id"] for i in other.get("/v2/images").json()["images"]]
    # Owner sees all members; the member sees only itself.
    assert member.post(f"/v2/images/{iid}/members", json={"member": "third"}).status_code == 200
    assert len(member.get(f"/v2/images/{iid}/members").json()["members"]) == 2
    assert [m["member_id"] for m in other.get(f"/v2/images/{iid}/members").json()["members"]] == [
        other.project
    ]
    assert other.get(f"/v2/images/{iid}/members/{other.project}").status_code == 200
    assert other.get(f"/v2/images/{iid}/members/third").status_code == 404
    # A member may not remove members or modify the image.
    assert other.delete(f"/v2/images/{iid}/members/third").status_code == 403
    assert other.patch(iid, [{"op": "replace", "path": "/name", "value": "x"}]).status_code == 403
    assert member.delete(f"/v2/images/{iid}/members/third").status_code == 204
    assert member.delete(f"/v2/images/{iid}/members/third").status_code == 404
    assert admin.get(f"/v2/images/{iid}/members").status_code == 200
    # Quota: the test server allows 5 members.
    for i in range(4):
        member.post(f"/v2/images/{iid}/members", json={"member": f"m{i}"})
    assert member.post(f"/v2/images/{iid}/members", json={"member": "one-too-many"}).status_code == 413
    member.delete(f"/v2/images/{iid}/members/{other.project}")
    assert other.get(f"/v2/images/{iid}").status_code == 404


def test_members_only_on_shared(member: Actor, other: Actor) -> None:
    image = member.create(visibility="private")
    iid = image["id"]
    assert member.post(f"/v2/images/{iid}/members", json={"member": other.project}).status_code == 403
    assert member.get(f"/v2/images/{iid}/members").status_code == 403
    assert member.get(f"/v2/images/{iid}/members/{other.project}").status_code == 404
