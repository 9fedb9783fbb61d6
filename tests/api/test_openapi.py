"""The OpenAPI description (daguerre.api.openapi) covers the whole route table, and schemathesis reads it."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import jsonschema
import schemathesis

from daguerre.api.openapi import image_create_schema, openapi_document
from daguerre.api.routes import ROUTES
from daguerre.settings import load_settings


def test_every_route_is_described() -> None:
    doc = openapi_document(load_settings(env={}))
    for route in ROUTES:
        path = re.sub(r"{([^}:]+):[^}]+}", r"{\1}", route.path)
        for method in route.methods - {"HEAD"}:
            assert method.lower() in doc["paths"][path], (method, path)
    ops = [r.ok() for r in schemathesis.openapi.from_dict(doc).get_all_operations()]
    assert len(ops) == sum(len(m) for m in doc["paths"].values())


def test_image_body_schema_has_the_service_bounds() -> None:
    schema = image_create_schema(load_settings(env={}))
    check = jsonschema.Draft202012Validator(schema)
    assert check.is_valid({"min_ram": 2**31 - 1, "name": "x", "kernel_id": None})
    assert not check.is_valid({"min_ram": 2**31})
    assert not check.is_valid({"min_disk": -1})
    assert "status" not in schema["properties"] and "size" not in schema["properties"]


def test_cli_prints_it() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "daguerre.cli", "openapi"], capture_output=True, check=True, text=True
    )
    doc = json.loads(out.stdout)
    assert doc["openapi"].startswith("3.1") and "/v2/images/{image_id}/file" in doc["paths"]
