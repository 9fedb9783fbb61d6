"""Idempotent Keystone registrations for a Daguerre test cloud (run with .venv-openstack's python).

    python ks_register.py --auth-url URL --admin-password PW --service-password PW \
        --image-url http://127.0.0.1:19292 [--region RegionOne] [--service-name glance]

Creates (or updates) project `service`, user `daguerre` with roles admin + service on it, the
`image` service and its public/internal/admin endpoints in the region. Rerunning with another
--image-url re-points the endpoints (clients and Tempest find the image service only through the
catalog). Uses keystoneauth1 and the plain v3 REST API.
"""

from __future__ import annotations

import argparse
import sys

from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

DOMAIN = "default"


def one(items: list[dict], what: str) -> dict | None:
    if len(items) > 1:
        sys.exit(f"ks_register: more than one {what}: {[i.get('id') for i in items]}")
    return items[0] if items else None


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--auth-url", required=True)
    ap.add_argument("--admin-password", required=True)
    ap.add_argument("--service-user", default="daguerre")
    ap.add_argument("--service-password", required=True)
    ap.add_argument("--service-project", default="service")
    ap.add_argument("--image-url", required=True)
    ap.add_argument("--region", default="RegionOne")
    ap.add_argument("--service-name", default="glance")
    # A second image service (e.g. "image_remote" for Tempest's alternate_image_endpoint tests).
    ap.add_argument("--service-type", default="image")
    a = ap.parse_args()

    auth = v3.Password(
        auth_url=a.auth_url,
        username="admin",
        password=a.admin_password,
        project_name="admin",
        user_domain_id=DOMAIN,
        project_domain_id=DOMAIN,
    )
    s = ks_session.Session(auth=auth)
    ep = {"endpoint_filter": {"service_type": "identity", "interface": "public"}}

    def get(path: str, key: str, **params: str) -> list[dict]:
        return s.get(path, params=params, **ep).json()[key]

    def post(path: str, key: str, body: dict) -> dict:
        return s.post(path, json={key: body}, **ep).json()[key]

    project = one(get("/projects", "projects", name=a.service_project, domain_id=DOMAIN), "project")
    if project is None:
        project = post(
            "/projects",
            "project",
            {"name": a.service_project, "domain_id": DOMAIN, "description": "Service accounts"},
        )

    user = one(get("/users", "users", name=a.service_user, domain_id=DOMAIN), "user")
    if user is None:
        user = post(
            "/users",
            "user",
            {
                "name": a.service_user,
                "domain_id": DOMAIN,
                "password": a.service_password,
                "default_project_id": project["id"],
            },
        )
    else:
        s.patch(
            f"/users/{user['id']}", json={"user": {"password": a.service_password, "enabled": True}}, **ep
        )

    for role_name in ("admin", "service"):
        role = one(get("/roles", "roles", name=role_name), "role")
        if role is None:
            role = post("/roles", "role", {"name": role_name})
        s.put(f"/projects/{project['id']}/users/{user['id']}/roles/{role['id']}", **ep)

    service = one(get("/services", "services", type=a.service_type), "image service")
    if service is None:
        service = post(
            "/services",
            "service",
            {
                "type": a.service_type,
                "name": a.service_name,
                "enabled": True,
                "description": "Daguerre image service",
            },
        )

    url = a.image_url.rstrip("/")
    for interface in ("public", "internal", "admin"):
        found = one(
            get("/endpoints", "endpoints", service_id=service["id"], interface=interface, region_id=a.region),
            f"{interface} image endpoint",
        )
        if found is None:
            post(
                "/endpoints",
                "endpoint",
                {
                    "service_id": service["id"],
                    "interface": interface,
                    "region_id": a.region,
                    "url": url,
                    "enabled": True,
                },
            )
        elif found["url"] != url or not found.get("enabled", True):
            s.patch(f"/endpoints/{found['id']}", json={"endpoint": {"url": url, "enabled": True}}, **ep)
    print(
        f"ks_register: image endpoints -> {url}; user {a.service_user} (admin, service) "
        f"on project {a.service_project} ({project['id']})"
    )


if __name__ == "__main__":
    main()
