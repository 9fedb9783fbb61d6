"""The dashboard: server-rendered pages over the same services and policy as the API.

Everything lives under ``/ui``; the API middleware leaves these paths alone and the dashboard
authenticates its own requests (daguerre.web.identity), with a signed session cookie and a CSRF
token on every POST (daguerre.web.session). See docs/dashboard.md.
"""

from __future__ import annotations

from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from daguerre.web import pages
from daguerre.web.render import HERE

_IMAGE = "/ui/images/{image_id}"

ROUTES: list = [
    Route("/ui", pages.home, methods=["GET"]),
    Route("/ui/", pages.home, methods=["GET"]),
    Mount("/ui/static", app=StaticFiles(directory=HERE / "static"), name="ui-static"),
    Route("/ui/login", pages.login_form, methods=["GET"]),
    Route("/ui/login", pages.login, methods=["POST"]),
    Route("/ui/logout", pages.logout, methods=["POST"]),
    Route("/ui/images", pages.image_list, methods=["GET"]),
    Route("/ui/images/create", pages.create_form, methods=["GET"]),
    Route("/ui/images/create", pages.create, methods=["POST"]),
    Route(_IMAGE, pages.image_detail, methods=["GET"]),
    Route(_IMAGE + "/upload", pages.upload, methods=["POST", "PUT"]),
    Route(_IMAGE + "/download", pages.download, methods=["GET"]),
    Route(_IMAGE + "/edit", pages.edit_form, methods=["GET"]),
    Route(_IMAGE + "/edit", pages.edit, methods=["POST"]),
    Route(_IMAGE + "/properties", pages.set_property, methods=["POST"]),
    Route(_IMAGE + "/properties/delete", pages.remove_property, methods=["POST"]),
    Route(_IMAGE + "/tags", pages.add_tag, methods=["POST"]),
    Route(_IMAGE + "/tags/delete", pages.remove_tag, methods=["POST"]),
    Route(_IMAGE + "/deactivate", pages.deactivate, methods=["POST"]),
    Route(_IMAGE + "/reactivate", pages.reactivate, methods=["POST"]),
    Route(_IMAGE + "/delete", pages.delete_confirm, methods=["GET"]),
    Route(_IMAGE + "/delete", pages.delete, methods=["POST"]),
    Route(_IMAGE + "/members", pages.add_member, methods=["POST"]),
    Route(_IMAGE + "/members/{member_id}/delete", pages.remove_member, methods=["POST"]),
    Route(_IMAGE + "/members/{member_id}/status", pages.member_status, methods=["POST"]),
    Route(_IMAGE + "/metadata", pages.metadata_form, methods=["GET"]),
    Route(_IMAGE + "/metadata", pages.metadata_save, methods=["POST"]),
    Route("/ui/{rest:path}", pages.not_found, methods=["GET", "POST"]),
]
