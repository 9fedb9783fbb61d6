"""JSON request bodies the server cannot hold or send back are a 400, on every route that reads one.

Each of these used to be a 500 (found by tests/fuzz): nesting past the decoder's recursion limit,
NaN/Infinity and numbers past 64 bits (stored, then unrenderable), lone surrogates (not UTF-8).
"""

from __future__ import annotations

import pytest

from actors import Actor

PATCH = {"Content-Type": "application/openstack-images-v2.1-json-patch"}

BAD_BODIES = {
    "deep array": b"[" * 100_000 + b"]" * 100_000,
    "deep object": b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
    "nested 65 levels": b'{"name": "x", "p": ' + b"[" * 64 + b"]" * 64 + b"}",
    "NaN": b'{"min_ram": NaN}',
    "Infinity": b'{"min_ram": -Infinity}',
    "1e400": b'{"min_ram": 1e400}',
    "2**64": b'{"min_ram": 18446744073709551616}',
    "lone surrogate": b'{"name": "\\ud800"}',
    "lone surrogate key": b'{"\\udfff": "x"}',
    "NUL": b'{"name": "a\\u0000b"}',
}


@pytest.mark.parametrize("what", list(BAD_BODIES))
def test_unholdable_json_is_400(admin: Actor, what: str) -> None:
    body = BAD_BODIES[what]
    iid = admin.create()["id"]
    for method, url, headers in (
        ("POST", "/v2/images", {}),
        ("PATCH", f"/v2/images/{iid}", PATCH),
        ("POST", f"/v2/images/{iid}/members", {}),
        ("POST", f"/v2/images/{iid}/import", {}),
        ("POST", "/v2/tasks", {}),
        ("POST", "/v2/metadefs/namespaces", {}),
    ):
        r = admin.request(method, url, content=body, headers={"Content-Type": "application/json", **headers})
        assert r.status_code == 400, (what, method, url, r.status_code, r.text[:300])
        assert r.json()["code"] == "400 Bad Request"
        assert "Malformed JSON in request body" in r.json()["message"]
    assert admin.get(f"/v2/images/{iid}").json()["name"] is None


def test_metadef_schema_with_huge_integers_is_refused_not_stored(admin: Actor) -> None:
    """A property definition with maxLength past 64 bits was stored, then every read of it was a 500."""
    doc = {
        "namespace": "Fuzz::Huge",
        "properties": {"p": {"title": "t", "type": "string", "maxLength": 10**30}},
    }
    r = admin.post("/v2/metadefs/namespaces", json=doc)
    assert r.status_code == 400, r.text
    assert admin.get("/v2/metadefs/namespaces/Fuzz::Huge").status_code == 404
    doc["properties"]["p"]["maxLength"] = 2**63 - 1
    assert admin.post("/v2/metadefs/namespaces", json=doc).status_code == 201
    got = admin.get("/v2/metadefs/namespaces/Fuzz::Huge")
    assert got.status_code == 200 and got.json()["properties"]["p"]["maxLength"] == 2**63 - 1
    assert admin.delete("/v2/metadefs/namespaces/Fuzz::Huge").status_code == 204


def test_deep_but_allowed_nesting_still_works(admin: Actor) -> None:
    default = {"a": [[{"b": [1]}]]}
    doc = {
        "namespace": "Fuzz::Nest",
        "properties": {"p": {"title": "t", "type": "object", "default": default}},
    }
    assert admin.post("/v2/metadefs/namespaces", json=doc).status_code == 201
    got = admin.get("/v2/metadefs/namespaces/Fuzz::Nest/properties/p").json()
    assert got["default"] == default
    assert admin.delete("/v2/metadefs/namespaces/Fuzz::Nest").status_code == 204
