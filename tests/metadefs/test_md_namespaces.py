"""Namespaces: create (with nested content), show (with resource_type prefixing), list, update, delete."""

from __future__ import annotations

import re

from md_helpers import NS, Namespaces, unique

from actors import Actor

ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


def test_create_minimal_defaults(admin: Actor, namespaces: Namespaces) -> None:
    name = unique()
    r = admin.post(NS, json={"namespace": name})
    assert r.status_code == 201, r.text
    namespaces.created.append(name)
    doc = r.json()
    assert r.headers["location"] == f"{admin.client.base_url}/v2/metadefs/namespaces/{name}"
    assert doc["namespace"] == name
    assert doc["visibility"] == "private"
    assert doc["protected"] is False
    assert doc["owner"] == admin.project
    assert ISO.match(doc["created_at"]) and ISO.match(doc["updated_at"])
    assert doc["self"] == f"/v2/metadefs/namespaces/{name}"
    assert doc["schema"] == "/v2/schemas/metadefs/namespace"
    assert "description" not in doc and "display_name" not in doc  # unset fields are left out
    assert r.headers["content-type"].startswith("application/json")


def test_create_nested_and_show(admin: Actor, namespaces: Namespaces) -> None:
    name = unique()
    body = {
        "namespace": name,
        "display_name": "Nested",
        "description": "with everything",
        "visibility": "public",
        "protected": True,
        "resource_type_associations": [
            {"name": "OS::Glance::Image", "prefix": "hw_"},
            {"name": "OS::Nova::Flavor", "prefix": "hw:", "properties_target": "extra"},
        ],
        "properties": {"cpu_cores": {"title": "Cores", "type": "integer", "minimum": 1}},
        "objects": [
            {
                "name": "Topology",
                "required": ["cpu_cores"],
                "properties": {"cpu_cores": {"title": "Cores", "type": "integer"}},
            }
        ],
        "tags": [{"name": "alpha"}, {"name": "beta"}],
    }
    r = admin.post(NS, json=body)
    assert r.status_code == 201, r.text
    namespaces.created.append(name)
    created = r.json()
    assert created["protected"] is True and created["visibility"] == "public"
    assert {a["name"] for a in created["resource_type_associations"]} == {
        "OS::Glance::Image",
        "OS::Nova::Flavor",
    }

    shown = admin.get(f"{NS}/{name}").json()
    assert shown["display_name"] == "Nested" and shown["description"] == "with everything"
    assert shown["properties"] == {"cpu_cores": {"title": "Cores", "type": "integer", "minimum": 1}}
    (obj,) = shown["objects"]
    assert obj["name"] == "Topology" and obj["required"] == ["cpu_cores"]
    assert obj["self"] == f"/v2/metadefs/namespaces/{name}/objects/Topology"
    assert obj["schema"] == "/v2/schemas/metadefs/object"
    assert ISO.match(obj["created_at"])
    assert shown["tags"] == [{"name": "alpha"}, {"name": "beta"}]
    flavor = next(a for a in shown["resource_type_associations"] if a["name"] == "OS::Nova::Flavor")
    assert (
        flavor["prefix"] == "hw:"
        and flavor["properties_target"] == "extra"
        and ISO.match(flavor["created_at"])
    )

    # ?resource_type= prefixes property names, object property names and object required lists.
    img = admin.get(f"{NS}/{name}", params={"resource_type": "OS::Glance::Image"}).json()
    assert list(img["properties"]) == ["hw_cpu_cores"]
    assert list(img["objects"][0]["properties"]) == ["hw_cpu_cores"]
    assert img["objects"][0]["required"] == ["hw_cpu_cores"]
    flv = admin.get(f"{NS}/{name}", params={"resource_type": "OS::Nova::Flavor"}).json()
    assert list(flv["properties"]) == ["hw:cpu_cores"]
    # An unassociated resource type changes nothing.
    other = admin.get(f"{NS}/{name}", params={"resource_type": "OS::Nova::Server"}).json()
    assert list(other["properties"]) == ["cpu_cores"]


def test_create_errors(admin: Actor, namespaces: Namespaces) -> None:
    taken = namespaces.create()["namespace"]
    assert admin.post(NS, json={"namespace": taken}).status_code == 409
    assert admin.post(NS, json={"display_name": "no name"}).status_code == 400
    assert admin.post(NS, json={"namespace": "x" * 81}).status_code == 400
    assert admin.post(NS, json={"namespace": unique(), "description": "d" * 501}).status_code == 400
    assert admin.post(NS, json={"namespace": unique(), "visibility": "shared"}).status_code == 400
    assert admin.post(NS, json={"namespace": unique(), "protected": "yes"}).status_code == 400
    assert admin.post(NS, json={"namespace": unique(), "unknown": 1}).status_code == 400
    assert admin.post(NS, json=[{"namespace": unique()}]).status_code == 400
    assert (
        admin.post(NS, content=b"{not json", headers={"Content-Type": "application/json"}).status_code == 400
    )
    assert admin.post(NS).status_code == 400
    for ro in ("self", "schema", "created_at", "updated_at"):
        assert admin.post(NS, json={"namespace": unique(), ro: "x"}).status_code == 403, ro
    # Nested content is validated too.
    bad_prop = {"namespace": unique(), "properties": {"p": {"type": "string"}}}  # no title
    assert admin.post(NS, json=bad_prop).status_code == 400
    bad_type = {"namespace": unique(), "properties": {"p": {"title": "P", "type": "date"}}}
    assert admin.post(NS, json=bad_type).status_code == 400
    assert (
        admin.post(NS, json={"namespace": unique(), "objects": [{"description": "no name"}]}).status_code
        == 400
    )
    assert admin.post(NS, json={"namespace": unique(), "tags": [{"name": "t" * 81}]}).status_code == 400
    # A duplicate inside the body fails the whole create: nothing is left behind.
    name = unique()
    dup = {"namespace": name, "tags": [{"name": "same"}, {"name": "same"}]}
    assert admin.post(NS, json=dup).status_code == 409
    assert admin.get(f"{NS}/{name}").status_code == 404


def test_show_not_found_and_body_rejected(admin: Actor) -> None:
    assert admin.get(f"{NS}/{unique()}").status_code == 404
    assert admin.get(f"{NS}/{'x' * 200}").status_code == 404
    r = admin.request("GET", f"{NS}/{unique()}", content=b"{}")
    assert r.status_code == 400


def test_update(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create(display_name="before", protected=True, description="d")
    name = ns["namespace"]
    r = admin.put(f"{NS}/{name}", json={"namespace": name, "display_name": "after", "visibility": "public"})
    assert r.status_code == 200, r.text
    doc = r.json()
    # Omitted optional fields fall back to the create defaults.
    assert doc["display_name"] == "after" and doc["protected"] is False and "description" not in doc
    assert doc["visibility"] == "public" and doc["owner"] == admin.project
    assert doc["updated_at"] >= ns["updated_at"]

    renamed = unique()
    r = admin.put(f"{NS}/{name}", json={"namespace": renamed, "visibility": "private", "protected": True})
    assert r.status_code == 200
    namespaces.created.append(renamed)
    assert admin.get(f"{NS}/{name}").status_code == 404
    assert admin.get(f"{NS}/{renamed}").json()["visibility"] == "private"

    other = namespaces.create()["namespace"]
    assert admin.put(f"{NS}/{renamed}", json={"namespace": other}).status_code == 409
    assert admin.put(f"{NS}/{renamed}", json={"display_name": "no namespace"}).status_code == 400
    assert admin.put(f"{NS}/{renamed}", json={"namespace": renamed, "created_at": "x"}).status_code == 403
    assert admin.put(f"{NS}/{unique()}", json={"namespace": "whatever"}).status_code == 404


def test_delete_protected_then_unprotected(admin: Actor, namespaces: Namespaces) -> None:
    ns = namespaces.create(protected=True)
    name = ns["namespace"]
    assert admin.delete(f"{NS}/{name}").status_code == 403
    admin.put(f"{NS}/{name}", json={"namespace": name, "protected": False})
    r = admin.delete(f"{NS}/{name}")
    assert r.status_code == 204 and r.content == b""
    assert admin.get(f"{NS}/{name}").status_code == 404
    assert admin.delete(f"{NS}/{name}").status_code == 404
    assert admin.request("DELETE", f"{NS}/{name}", content=b"{}").status_code == 400


def test_delete_cascades_contents(admin: Actor, namespaces: Namespaces) -> None:
    name = namespaces.create(
        properties={"p": {"title": "P", "type": "string"}},
        objects=[{"name": "o"}],
        tags=[{"name": "t"}],
        resource_type_associations=[{"name": "OS::Glance::Image"}],
    )["namespace"]
    assert admin.delete(f"{NS}/{name}").status_code == 204
    # Re-creating the same name starts empty.
    again = namespaces.create(name)
    assert "properties" not in again and "objects" not in again and "tags" not in again
    shown = admin.get(f"{NS}/{name}").json()
    assert "properties" not in shown and "objects" not in shown and "resource_type_associations" not in shown


def test_bulk_deletes(admin: Actor, namespaces: Namespaces) -> None:
    name = namespaces.create(
        properties={"p": {"title": "P", "type": "string"}, "q": {"title": "Q", "type": "integer"}},
        objects=[{"name": "o1"}, {"name": "o2"}],
        tags=[{"name": "t1"}, {"name": "t2"}],
    )["namespace"]
    for what in ("objects", "properties", "tags"):
        r = admin.delete(f"{NS}/{name}/{what}")
        assert r.status_code == 204, (what, r.text)
    shown = admin.get(f"{NS}/{name}").json()
    assert "properties" not in shown and "objects" not in shown and "tags" not in shown
    assert admin.get(f"{NS}/{name}/properties").json() == {"properties": {}}

    protected = namespaces.create(protected=True, objects=[{"name": "o"}], tags=[{"name": "t"}],
                                  properties={"p": {"title": "P", "type": "string"}})["namespace"]  # fmt: skip
    for what in ("objects", "properties", "tags"):
        assert admin.delete(f"{NS}/{protected}/{what}").status_code == 403, what
        assert admin.delete(f"{NS}/{unique()}/{what}").status_code == 404, what
    shown = admin.get(f"{NS}/{protected}").json()
    assert shown["tags"] == [{"name": "t"}] and len(shown["objects"]) == 1 and "p" in shown["properties"]


def test_list_paging_sorting_filters(admin: Actor, namespaces: Namespaces) -> None:
    tag = unique("page")
    made = [namespaces.create(f"{tag}-{i}", visibility="public" if i % 2 else "private") for i in range(5)]
    names = sorted(m["namespace"] for m in made)

    def listing(**params) -> dict:
        r = admin.get(NS, params=params)
        assert r.status_code == 200, r.text
        return r.json()

    first = listing(sort_key="namespace", sort_dir="asc", limit=1000)
    mine = [n["namespace"] for n in first["namespaces"] if n["namespace"].startswith(tag)]
    assert mine == names
    assert first["schema"] == "/v2/schemas/metadefs/namespaces"
    assert first["first"].startswith("/v2/metadefs/namespaces?")

    # Walk ours two at a time with marker/next (desc by namespace, starting just after the last one).
    page = listing(sort_key="namespace", sort_dir="desc", limit=2, marker=names[-1])
    assert [n["namespace"] for n in page["namespaces"]] == [names[-2], names[-3]]
    assert "marker=" in page["next"] and "marker" not in page["first"]
    nxt = admin.get(page["next"]).json()
    assert [n["namespace"] for n in nxt["namespaces"]] == [names[-4], names[-5]]

    public = listing(visibility="public", limit=1000)["namespaces"]
    assert all(n["visibility"] == "public" for n in public)
    assert {m["namespace"] for m in made if m["visibility"] == "public"} <= {n["namespace"] for n in public}
    private = listing(visibility="private", limit=1000)["namespaces"]
    assert all(n["visibility"] == "private" for n in private)

    assert admin.get(NS, params={"sort_dir": "up"}).status_code == 400
    assert admin.get(NS, params={"visibility": "shared"}).status_code == 400
    assert admin.get(NS, params={"limit": "x"}).status_code == 400
    assert admin.get(NS, params={"limit": "-1"}).status_code == 400
    assert admin.get(NS, params={"sort_key": "nonsense"}).status_code == 400
    assert admin.get(NS, params={"marker": unique()}).status_code == 404
    assert listing(limit=0)["namespaces"] == []


def test_list_by_resource_types(admin: Actor, namespaces: Namespaces) -> None:
    rt_a, rt_b = f"Test::RT::{unique('a')[6:]}", f"Test::RT::{unique('b')[6:]}"
    a = namespaces.create(resource_type_associations=[{"name": rt_a, "prefix": "a_"}])["namespace"]
    b = namespaces.create(resource_type_associations=[{"name": rt_b}])["namespace"]
    namespaces.create()
    only_a = admin.get(NS, params={"resource_types": rt_a}).json()["namespaces"]
    assert [n["namespace"] for n in only_a] == [a]
    assert only_a[0]["resource_type_associations"][0]["prefix"] == "a_"
    both = admin.get(NS, params={"resource_types": f"{rt_a},{rt_b}", "sort_key": "namespace"}).json()
    assert sorted(n["namespace"] for n in both["namespaces"]) == sorted([a, b])
    assert admin.get(NS, params={"resource_types": "Test::Nothing::Here"}).json()["namespaces"] == []
