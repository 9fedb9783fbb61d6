"""Fuzzing every route of the API from its own OpenAPI description (schemathesis): no input is a 5xx.

The description comes from ``daguerre.api.openapi`` (the route table and the JSON schemas the
handlers validate with). Every operation gets requests that fit the schemas (positive) and requests
that break them (negative: wrong types, out-of-range numbers, missing fields), with path
parameters drawn half from real objects seeded first (so the handlers get past the 404) and half
at random. Two identities: the default noauth admin, and a plain member through trusted headers.
After the run the server must still create, upload, show, download and delete an image, and its
log must hold no traceback.

Budget: DAGUERRE_API_FUZZ_EXAMPLES examples per operation and mode (default small, so the full
suite stays within a couple of minutes); ``make fuzz`` raises it.

Only the 5xx check runs. Conformance checks (status codes documented, Allow on 405, Location on
201, Range/416) are left out on purpose: another change owns those, and this test is about
crashes.
"""

from __future__ import annotations

import copy
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from daguerre.api.openapi import openapi_document
from daguerre.settings import load_settings
from daguerre.testing.server import ServerProcess

pytestmark = pytest.mark.slow
# PATCH /v2/images/{id} takes JSON under Glance's own media type.
schemathesis.serializer.alias("application/openstack-images-v2.1-json-patch", "application/json")

EXAMPLES = int(os.environ.get("DAGUERRE_API_FUZZ_EXAMPLES", "3"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    derandomize=os.environ.get("DAGUERRE_API_FUZZ_RANDOM") != "1",  # make fuzz: a new draw each run
    phases=[Phase.explicit, Phase.generate],  # no shrinking: every failure is reported, not raised
    suppress_health_check=list(HealthCheck),
)
MEMBER_HEADERS = {"X-Identity-Status": "Confirmed", "X-Project-Id": "fuzz-project", "X-User-Id": "fuzz-user",
                  "X-Roles": "member,reader"}  # fmt: skip
ADMIN_HEADERS = {"X-Identity-Status": "Confirmed", "X-Project-Id": "fuzz-admin", "X-User-Id": "fuzz-admin",
                 "X-Roles": "admin,member,reader"}  # fmt: skip
# web-download and location URLs: only loopback may be named, so nothing leaves the machine and no
# name is looked up.
NO_NETWORK = {"DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_HOSTS": "127.0.0.1"}


@dataclass
class Target:
    server: ServerProcess
    headers: dict[str, str] = field(default_factory=dict)


@pytest.fixture(scope="module")
def noauth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Target]:
    server = ServerProcess(tmp_path_factory.mktemp("fuzz-noauth"), env=NO_NETWORK).start()
    yield Target(server)
    server.stop()


@pytest.fixture(scope="module")
def trusted(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {
        **NO_NETWORK,
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers",
        "DAGUERRE_DEFAULT__IMAGE_MEMBER_QUOTA": "5",
    }
    server = ServerProcess(tmp_path_factory.mktemp("fuzz-trusted"), env=env).start()
    yield server
    server.stop()


def seed(base: str, headers: dict[str, str], admin_headers: dict[str, str]) -> dict[str, list[str]]:
    """Real objects for the path parameters: images in several states, a member, metadefs, a task."""
    with (
        httpx.Client(base_url=base, headers={"Accept": "application/json", **headers}, timeout=30) as c,
        httpx.Client(base_url=base, headers={"Accept": "application/json", **admin_headers}, timeout=30) as a,
    ):
        return seed_with(c, a)


def seed_with(c: httpx.Client, a: httpx.Client) -> dict[str, list[str]]:
    def image(**body: object) -> str:
        r = c.post("/v2/images", json={"disk_format": "raw", "container_format": "bare", **body})
        assert r.status_code == 201, r.text
        return r.json()["id"]

    queued = [image(name=f"q{i}", tags=["t1"]) for i in range(3)]
    active = [image(name=f"a{i}") for i in range(3)]
    for iid in active:
        r = c.put(
            f"/v2/images/{iid}/file",
            content=b"\0" * 4096,
            headers={"Content-Type": "application/octet-stream"},
        )
        assert r.status_code == 204, r.text
    assert c.post(f"/v2/images/{active[0]}/members", json={"member": "fuzz-member"}).status_code == 200
    ns = "OS::Fuzz::Seed"
    r = a.post("/v2/metadefs/namespaces", json={
        "namespace": ns, "visibility": "public",
        "properties": {"prop": {"title": "p", "type": "integer", "minimum": 0, "maximum": 10}},
        "objects": [{"name": "obj", "properties": {"x": {"title": "x", "type": "string"}}}],
        "tags": [{"name": "tag"}],
        "resource_type_associations": [{"name": "OS::Glance::Image", "prefix": "fz_"}],
    })  # fmt: skip
    assert r.status_code == 201, r.text
    r = a.post("/v2/tasks", json={"type": "import", "input": {"import_from": "http://127.0.0.1:9/x",
                                                              "import_from_format": "raw",
                                                              "image_properties": {"disk_format": "raw",
                                                                                   "container_format": "bare"}}})  # fmt: skip
    tasks = [r.json()["id"]] if r.status_code == 201 else []
    return {
        "image_id": queued + active, "member_id": ["fuzz-member", "fuzz-project"], "task_id": tasks,
        "namespace": [ns, "OS::Compute::Watchdog"], "object_name": ["obj"], "property_name": ["prop", "hw_watchdog_action"],
        "tag_name": ["tag"], "tag": ["t1"], "resource_type": ["OS::Glance::Image", "OS::Nova::Flavor"],
        "store_id": ["file", "default"], "name": ["image", "images", "member", "task", "metadefs/namespace"],
    }  # fmt: skip


def with_known(doc: dict, known: dict[str, list[str]]) -> dict:
    """Path parameters drawn from real objects as well as at random."""
    doc = copy.deepcopy(doc)
    for operations in doc["paths"].values():
        for op in operations.values():
            for param in op["parameters"]:
                values = known.get(param["name"])
                if param["in"] == "path" and values:
                    param["schema"] = {"anyOf": [{"enum": values}, param["schema"]]}
    return doc


def fuzz(base: str, headers: dict[str, str], known: dict[str, list[str]]) -> list[str]:
    doc = with_known(openapi_document(load_settings(env={})), known)
    schema = schemathesis.openapi.from_dict(doc)
    schema.config.output.sanitization.enabled = False  # show the real values in the curl lines
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 60, "every route of routes.ROUTES should be described"
    with requests.Session() as session:
        session.headers.update({"Accept": "application/json", **headers})
        for op in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    fuzz_operation(op, mode, base, session, failures)
                except Unsatisfiable:
                    assert mode is GenerationMode.NEGATIVE, op.label  # nothing to break: no parameters
    return failures


def fuzz_operation(op: schemathesis.APIOperation, mode: GenerationMode, base: str, session: requests.Session,
                   failures: list[str]) -> None:  # fmt: skip
    @FUZZ
    @given(case=op.as_strategy(generation_mode=mode))
    def run(case: schemathesis.Case) -> None:
        try:
            response = case.call(base_url=base, session=session, timeout=60)
        except requests.RequestException as exc:
            failures.append(f"{op.label} [{mode.value}]: no answer ({exc!r})\n  {case.as_curl_command()}")
            return
        if response.status_code >= 500:
            failures.append(f"{op.label} [{mode.value}]: {response.status_code}\n  {case.as_curl_command()}")

    run()


def still_works(base: str, headers: dict[str, str]) -> None:
    with httpx.Client(base_url=base, headers={"Accept": "application/json", **headers}, timeout=30) as c:
        still_works_with(c)


def still_works_with(c: httpx.Client) -> None:
    r = c.post("/v2/images", json={"name": "after-fuzz", "disk_format": "raw", "container_format": "bare"})
    assert r.status_code == 201, r.text
    iid = r.json()["id"]
    data = uuid.uuid4().bytes * 100
    r = c.put(f"/v2/images/{iid}/file", content=data, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 204, r.text
    assert c.get(f"/v2/images/{iid}").json()["status"] == "active"
    assert c.get(f"/v2/images/{iid}/file").content == data
    assert iid in [i["id"] for i in c.get("/v2/images", params={"name": "after-fuzz"}).json()["images"]]
    assert c.delete(f"/v2/images/{iid}").status_code == 204
    assert c.get(f"/v2/images/{iid}").status_code == 404


def check(server: ServerProcess, headers: dict[str, str], admin_headers: dict[str, str]) -> None:
    known = seed(server.url, headers, admin_headers)
    failures = fuzz(server.url, headers, known)
    assert server.proc is not None and server.proc.poll() is None, "the server died"
    still_works(server.url, headers)
    assert not failures, f"{len(failures)} requests got a 5xx:\n" + "\n".join(failures[:40])
    log = server.log_tail(10**9)
    assert "Traceback" not in log, log[log.index("Traceback") - 300 :][:6000]


def test_fuzz_as_noauth_admin(noauth: Target) -> None:
    check(noauth.server, {}, {})


def test_fuzz_as_member(trusted: ServerProcess) -> None:
    check(trusted, MEMBER_HEADERS, ADMIN_HEADERS)
