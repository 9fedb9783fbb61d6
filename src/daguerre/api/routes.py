"""One route table for the whole HTTP surface.

Every API path is a ``Resource`` (daguerre.api.routing): a request with a method the path does not
take gets 405 with ``Allow`` listing exactly the methods it does take. HEAD is answered only on the
version documents; on API resources it gets 405, as in Glance (docs/api-differences.md).
"""

from __future__ import annotations

from starlette.routing import Route

from daguerre.api import versions
from daguerre.api.routing import Resource, resources
from daguerre.api.v2 import cache, data, discovery, images, locations, members, metadefs, tasks

IMG = "/v2/images/{image_id}"

VERSION_DOCUMENTS = [
    Resource("/", {"GET": versions.multiple_choices, "HEAD": versions.multiple_choices}),
    Resource("/versions", {"GET": versions.versions, "HEAD": versions.versions}),
    Resource("/v2/", {"GET": versions.multiple_choices, "HEAD": versions.multiple_choices}),
]

API = [
    Route("/v2/images", images.index, methods=["GET"]),
    Route("/v2/images", images.create, methods=["POST"]),
    Route(IMG, images.show, methods=["GET"]),
    Route(IMG, images.update, methods=["PATCH"]),
    Route(IMG, images.delete, methods=["DELETE"]),
    Route(IMG + "/file", data.upload, methods=["PUT"]),
    Route(IMG + "/file", data.download, methods=["GET"]),
    Route(IMG + "/stage", data.stage, methods=["PUT"]),
    Route(IMG + "/actions/deactivate", images.deactivate, methods=["POST"]),
    Route(IMG + "/actions/reactivate", images.reactivate, methods=["POST"]),
    Route(IMG + "/tags/{tag:path}", images.add_tag, methods=["PUT"]),
    Route(IMG + "/tags/{tag:path}", images.delete_tag, methods=["DELETE"]),
    Route(IMG + "/members", members.index, methods=["GET"]),
    Route(IMG + "/members", members.create, methods=["POST"]),
    Route(IMG + "/members/{member_id}", members.show, methods=["GET"]),
    Route(IMG + "/members/{member_id}", members.update, methods=["PUT"]),
    Route(IMG + "/members/{member_id}", members.delete, methods=["DELETE"]),
    Route(IMG + "/import", tasks.import_image, methods=["POST"]),
    Route(IMG + "/tasks", tasks.image_tasks, methods=["GET"]),
    Route("/v2/tasks", tasks.index, methods=["GET"]),
    Route("/v2/tasks", tasks.create, methods=["POST"]),
    Route("/v2/tasks/{task_id}", tasks.show, methods=["GET"]),
    Route("/v2/tasks/{task_id}", tasks.delete, methods=["DELETE"]),
    Route("/v2/stores/{store_id}/{image_id}", images.delete_from_store, methods=["DELETE"]),
    Route("/v2/cache", cache.index, methods=["GET"]),
    Route("/v2/cache", cache.clear, methods=["DELETE"]),
    Route("/v2/cache/{image_id}", cache.queue, methods=["PUT"]),
    Route("/v2/cache/{image_id}", cache.delete, methods=["DELETE"]),
    *metadefs.ROUTES,
    Route("/v2/schemas/{name:path}", discovery.schema, methods=["GET"]),
    Route("/v2/info/import", discovery.import_info, methods=["GET"]),
    Route("/v2/info/stores", discovery.stores_info, methods=["GET"]),
    Route("/v2/info/stores/detail", discovery.stores_detail, methods=["GET"]),
    Route("/v2/info/usage", discovery.usage, methods=["GET"]),
    *locations.ROUTES,
]

ROUTES = [*VERSION_DOCUMENTS, *resources(API)]
