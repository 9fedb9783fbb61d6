"""The environment of a server configured for import tests."""

from __future__ import annotations


def import_env(file_server, **extra: str) -> dict[str, str]:
    return {
        "DAGUERRE_AUTH__STRATEGY": "trusted-headers",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_HOSTS": "127.0.0.1",
        "DAGUERRE_IMPORT_FILTERING_OPTS__ALLOWED_PORTS": str(file_server.port),
        "DAGUERRE_IMAGE_IMPORT_OPTS__IMAGE_IMPORT_PLUGINS": "image_decompression,image_conversion,inject_image_metadata",
        "DAGUERRE_INJECT_METADATA_PROPERTIES__INJECT": "injected_by:operator",
        "DAGUERRE_DEFAULT__IMAGE_SIZE_CAP": str(1 * 2**30),
        "DAGUERRE_IMPORT_FILTERING_OPTS__RATE_LIMIT_PER_MINUTE": "1000",
        **extra,
    }
