"""Objects, properties, tags and resource type associations inside a namespace."""

from __future__ import annotations

import re

from md_helpers import MD, NS, Namespaces, unique

from actors import Actor

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

# --- objects ------------------------------------------------------------------------------


def test_objects_crud(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    base = f"{NS}/{ns}/objects"
    body = {
        "name": "Serial",
        "description": "serial console",
        "required": ["speed"],
        "properties": {"speed": {"title": "Speed", "type": "integer", "enum": [9600, 115200]}},
    }
    r = admin.post(base, json=body)
    assert r.status_code == 201, r.text
    doc = r.json()
    assert doc["name"] == "Serial" and doc["required"] == ["speed"]
    assert doc["properties"]["speed"]["enum"] == [9600, 115200]
    assert doc["self"] == f"{base}/Serial" and doc["schema"] == "/v2/schemas/metadefs/object"
    assert ISO.match(doc["created_at"]) and ISO.match(doc["updated_at"])

    assert admin.post(base, json=body).status_code == 409
    assert admin.get(f"{base}/Serial").json()["description"] == "serial console"

    listing = admin.get(base).json()
    assert [o["name"] for o in listing["objects"]] == ["Serial"]
    assert listing["schema"] == "/v2/schemas/metadefs/objects"

    r = admin.put(f"{base}/Serial", json={"name": "Console", "properties": {}})
    assert r.status_code == 200, r.text
    assert r.json()["name"] == "Console" and "description" not in r.json() and r.json()["properties"] == {}
    assert admin.get(f"{base}/Serial").status_code == 404
    admin.post(base, json={"name": "Other"})
    assert admin.put(f"{base}/Console", json={"name": "Other"}).status_code == 409

    r = admin.delete(f"{base}/Console")
    assert r.status_code == 204
    assert admin.delete(f"{base}/Console").status_code == 404
    assert [o["name"] for o in admin.get(base).json()["objects"]] == ["Other"]


def test_objects_errors(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    base = f"{NS}/{ns}/objects"
    assert admin.post(base, json={"description": "nameless"}).status_code == 400
    assert admin.post(base, json={"name": "n" * 81}).status_code == 400
    assert admin.post(base, json={"name": "x", "properties": {"p": {"type": "string"}}}).status_code == 400
    assert admin.post(base, json={"name": "x", "required": "p"}).status_code == 400
    assert admin.post(base, json={"name": "x", "extra": True}).status_code == 400
    for ro in ("self", "schema", "created_at", "updated_at"):
        assert admin.post(base, json={"name": "x", ro: "v"}).status_code == 403, ro
    assert admin.post(f"{NS}/{unique()}/objects", json={"name": "x"}).status_code == 404
    assert admin.get(f"{NS}/{unique()}/objects").status_code == 404
    assert admin.get(f"{base}/missing").status_code == 404
    assert admin.put(f"{base}/missing", json={"name": "x"}).status_code == 404
    assert admin.get(base, params={"sort_dir": "sideways"}).status_code == 400
    assert admin.get(base, params={"limit": "0"}).status_code == 400
    assert admin.request("GET", base, content=b"{}").status_code == 400

    protected = namespaces.create(protected=True, objects=[{"name": "kept"}])["namespace"]
    assert admin.delete(f"{NS}/{protected}/objects/kept").status_code == 403
    assert admin.delete(f"{NS}/{protected}/objects/missing").status_code == 404
    # Protected blocks deletes only: changes are allowed.
    assert (
        admin.put(f"{NS}/{protected}/objects/kept", json={"name": "kept", "description": "d"}).status_code
        == 200
    )


# --- properties ---------------------------------------------------------------------------


def test_properties_crud(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    base = f"{NS}/{ns}/properties"
    enum = ["xen", "qemu", "kvm"]
    body = {"name": "OS::Glance::Image", "title": "Hypervisor", "type": "string", "enum": enum,
            "description": "which one", "default": "kvm", "readonly": False, "operators": ["<or>"]}  # fmt: skip
    r = admin.post(base, json=body)
    assert r.status_code == 201, r.text
    assert r.json() == body

    assert admin.post(base, json=body).status_code == 409
    shown = admin.get(f"{base}/OS::Glance::Image").json()
    assert shown["name"] == "OS::Glance::Image" and shown["title"] == "Hypervisor" and shown["enum"] == enum

    full = {"name": "size", "title": "Size", "type": "array", "items": {"type": "string", "enum": ["a", "b"]},
            "minItems": 1, "maxItems": 2, "uniqueItems": True}  # fmt: skip
    assert admin.post(base, json=full).status_code == 201
    numbers = {"name": "n", "title": "N", "type": "number", "minimum": 0.5, "maximum": 9}
    assert admin.post(base, json=numbers).status_code == 201
    text = {"name": "s", "title": "S", "type": "string", "minLength": 1, "maxLength": 5, "pattern": "^a"}
    assert admin.post(base, json=text).status_code == 201

    listing = admin.get(base).json()
    assert set(listing) == {"properties"}
    assert set(listing["properties"]) == {"OS::Glance::Image", "size", "n", "s"}
    assert listing["properties"]["size"]["items"] == {"type": "string", "enum": ["a", "b"]}
    assert "name" not in listing["properties"]["n"]  # the key is the name

    r = admin.put(
        f"{base}/OS::Glance::Image", json={"name": "hypervisor", "title": "Renamed", "type": "string"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"name": "hypervisor", "title": "Renamed", "type": "string"}
    assert admin.get(f"{base}/OS::Glance::Image").status_code == 404
    assert (
        admin.put(f"{base}/hypervisor", json={"name": "size", "title": "T", "type": "string"}).status_code
        == 409
    )

    assert admin.delete(f"{base}/hypervisor").status_code == 204
    assert admin.delete(f"{base}/hypervisor").status_code == 404
    assert "hypervisor" not in admin.get(base).json()["properties"]


def test_properties_errors(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    base = f"{NS}/{ns}/properties"
    ok = {"name": "p", "title": "P", "type": "string"}
    for missing in ("name", "title", "type"):
        body = {k: v for k, v in ok.items() if k != missing}
        assert admin.post(base, json=body).status_code == 400, missing
    assert admin.post(base, json={**ok, "type": "date"}).status_code == 400
    assert admin.post(base, json={**ok, "name": "p" * 81}).status_code == 400
    assert admin.post(base, json={**ok, "minLength": -1}).status_code == 400
    assert admin.post(base, json={**ok, "confidential": True}).status_code == 400
    assert admin.post(base, json={**ok, "created_at": "x"}).status_code == 403
    assert admin.post(base, json={**ok, "updated_at": "x"}).status_code == 403
    assert admin.post(f"{NS}/{unique()}/properties", json=ok).status_code == 404
    assert admin.get(f"{base}/missing").status_code == 404
    assert admin.put(f"{base}/missing", json=ok).status_code == 404
    assert admin.post(base, json=ok).status_code == 201
    assert admin.put(f"{base}/p", json={"title": "no name", "type": "string"}).status_code == 400

    protected = namespaces.create(protected=True, properties={"kept": {"title": "K", "type": "string"}})[
        "namespace"
    ]
    assert admin.delete(f"{NS}/{protected}/properties/kept").status_code == 403


def test_property_show_with_resource_type_prefix(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create(
        resource_type_associations=[
            {"name": "OS::Nova::Flavor", "prefix": "hw:"},
            {"name": "OS::Nova::Server"},
        ],
        properties={"cpu_policy": {"title": "CPU policy", "type": "string"}},
    )["namespace"]
    base = f"{NS}/{ns}/properties"
    r = admin.get(f"{base}/hw:cpu_policy", params={"resource_type": "OS::Nova::Flavor"})
    assert r.status_code == 200 and r.json()["name"] == "cpu_policy"
    # Without the prefix, with an association that has none, or with no association at all: 404.
    assert admin.get(f"{base}/cpu_policy", params={"resource_type": "OS::Nova::Flavor"}).status_code == 404
    assert admin.get(f"{base}/cpu_policy", params={"resource_type": "OS::Nova::Server"}).status_code == 404
    assert (
        admin.get(f"{base}/hw:cpu_policy", params={"resource_type": "OS::Glance::Image"}).status_code == 404
    )


# --- tags ---------------------------------------------------------------------------------


def test_tags_bulk_replace_and_append(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    base = f"{NS}/{ns}/tags"
    tags = [{"name": "sample-tag1"}, {"name": "sample-tag2"}, {"name": "sample-tag3"}]
    r = admin.post(base, json={"tags": tags})
    assert r.status_code == 201, r.text
    assert r.json() == {"tags": tags}
    listing = admin.get(base).json()
    assert sorted(t["name"] for t in listing["tags"]) == ["sample-tag1", "sample-tag2", "sample-tag3"]

    # Without X-Openstack-Append the new list replaces the old one.
    assert admin.post(base, json={"tags": [{"name": "fresh"}]}).status_code == 201
    assert admin.get(base).json() == {"tags": [{"name": "fresh"}]}
    # With it, they are added; an existing name is a conflict and changes nothing.
    r = admin.post(base, json={"tags": [{"name": "more"}]}, headers={"X-Openstack-Append": "true"})
    assert r.status_code == 201 and r.json() == {"tags": [{"name": "more"}]}
    assert sorted(t["name"] for t in admin.get(base).json()["tags"]) == ["fresh", "more"]
    r = admin.post(base, json={"tags": [{"name": "fresh"}]}, headers={"X-Openstack-Append": "True"})
    assert r.status_code == 409
    assert admin.post(base, json={"tags": [{"name": "a"}, {"name": "a"}]}).status_code == 409
    assert sorted(t["name"] for t in admin.get(base).json()["tags"]) == ["fresh", "more"]
    # An empty list changes nothing, even without append.
    assert admin.post(base, json={"tags": []}).status_code == 201
    assert len(admin.get(base).json()["tags"]) == 2

    assert admin.post(base, json={"tags": [{"title": "x"}]}).status_code == 400
    assert admin.post(base, json={"tags": [{"name": "x", "extra": 1}]}).status_code == 400
    assert admin.post(base, json={"tags": [{"name": "t" * 81}]}).status_code == 400
    assert admin.post(base, json={"tags": "nope"}).status_code == 400
    assert admin.post(base, json={"tags": [], "created_at": "x"}).status_code == 403
    assert admin.post(f"{NS}/{unique()}/tags", json={"tags": tags}).status_code == 404

    assert admin.delete(base).status_code == 204
    assert admin.get(base).json() == {"tags": []}


def test_tag_single_crud(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    base = f"{NS}/{ns}/tags"
    r = admin.post(f"{base}/first tag")
    assert r.status_code == 201, r.text
    assert r.json()["name"] == "first tag" and ISO.match(r.json()["created_at"])
    assert admin.post(f"{base}/first tag").status_code == 409
    assert admin.post(f"{base}/{'t' * 81}").status_code == 400
    assert admin.post(f"{base}/withbody", content=b'{"name":"x"}').status_code == 400
    assert admin.get(f"{base}/first tag").json()["name"] == "first tag"

    r = admin.put(f"{base}/first tag", json={"name": "renamed"})
    assert r.status_code == 200 and r.json()["name"] == "renamed"
    assert admin.get(f"{base}/first tag").status_code == 404
    admin.post(f"{base}/other")
    assert admin.put(f"{base}/renamed", json={"name": "other"}).status_code == 409
    assert admin.put(f"{base}/renamed", json={"name": "n", "created_at": "x"}).status_code == 403
    assert admin.put(f"{base}/renamed", json={}).status_code == 400
    assert admin.put(f"{base}/missing", json={"name": "x"}).status_code == 404

    assert admin.delete(f"{base}/renamed").status_code == 204
    assert admin.delete(f"{base}/renamed").status_code == 404
    assert admin.get(base).json() == {"tags": [{"name": "other"}]}

    protected = namespaces.create(protected=True, tags=[{"name": "kept"}])["namespace"]
    assert admin.delete(f"{NS}/{protected}/tags/kept").status_code == 403


def test_tags_list_paging(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    base = f"{NS}/{ns}/tags"
    for name in ("c", "a", "d", "b"):
        assert admin.post(f"{base}/{name}").status_code == 201

    def names(**params) -> list[str]:
        r = admin.get(base, params=params)
        assert r.status_code == 200, r.text
        return [t["name"] for t in r.json()["tags"]]

    assert names() == ["b", "d", "a", "c"]  # newest first by default
    assert names(sort_key="name", sort_dir="asc") == ["a", "b", "c", "d"]
    assert names(sort_key="name", sort_dir="asc", limit=2) == ["a", "b"]
    assert names(sort_key="name", sort_dir="asc", limit=2, marker="b") == ["c", "d"]
    assert admin.get(base, params={"marker": "zzz"}).status_code == 404
    assert admin.get(base, params={"sort_dir": "x"}).status_code == 400
    assert admin.get(base, params={"sort_key": "x"}).status_code == 400
    assert admin.get(base, params={"limit": "x"}).status_code == 400


# --- resource types -----------------------------------------------------------------------


def test_resource_types_list(catalog, admin: Actor, reader: Actor) -> None:
    for who in (admin, reader):
        r = who.get(f"{MD}/resource_types")
        assert r.status_code == 200, r.text
        types = r.json()["resource_types"]
        names = [t["name"] for t in types]
        assert {"OS::Glance::Image", "OS::Cinder::Volume", "OS::Nova::Flavor", "OS::Nova::Server"} <= set(
            names
        )
        assert set(types[0]) == {"name", "created_at", "updated_at"} and ISO.match(types[0]["created_at"])
    assert admin.request("GET", f"{MD}/resource_types", content=b"{}").status_code == 400


def test_associations(catalog, admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create()["namespace"]
    base = f"{NS}/{ns}/resource_types"
    first = admin.get(f"{MD}/resource_types").json()["resource_types"][0]["name"]
    r = admin.post(base, json={"name": first})
    assert r.status_code == 201, r.text
    assert r.json()["name"] == first and "prefix" not in r.json() and ISO.match(r.json()["created_at"])
    assert admin.post(base, json={"name": first}).status_code == 409

    second = "OS::Nova::Flavor" if first != "OS::Nova::Flavor" else "OS::Glance::Image"
    r = admin.post(base, json={"name": second, "prefix": "hw:", "properties_target": "t"})
    assert r.status_code == 201 and r.json()["prefix"] == "hw:" and r.json()["properties_target"] == "t"
    listed = admin.get(base).json()["resource_type_associations"]
    assert [a["name"] for a in listed] == [first, second]

    # Associating an unknown resource type creates it.
    new_rt = f"Test::Kind::{unique()[6:]}"
    assert admin.post(base, json={"name": new_rt}).status_code == 201
    assert new_rt in [t["name"] for t in admin.get(f"{MD}/resource_types").json()["resource_types"]]

    assert admin.delete(f"{base}/{first}").status_code == 204
    assert admin.delete(f"{base}/{first}").status_code == 404
    assert admin.delete(f"{base}/Test::Never::Existed").status_code == 404
    assert first not in [a["name"] for a in admin.get(base).json()["resource_type_associations"]]

    assert admin.post(base, json={"prefix": "x"}).status_code == 400
    assert admin.post(base, json={"name": "n" * 81}).status_code == 400
    assert admin.post(base, json={"name": "OS::Nova::Server", "prefix": "p" * 81}).status_code == 400
    assert admin.post(base, json={"name": "OS::Nova::Server", "created_at": "x"}).status_code == 403
    assert admin.post(f"{NS}/{unique()}/resource_types", json={"name": first}).status_code == 404
    assert admin.get(f"{NS}/{unique()}/resource_types").status_code == 404

    protected = namespaces.create(protected=True, resource_type_associations=[{"name": first}])["namespace"]
    assert admin.delete(f"{NS}/{protected}/resource_types/{first}").status_code == 403
