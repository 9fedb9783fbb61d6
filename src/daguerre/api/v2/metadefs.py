"""/v2/metadefs/*: the metadata definitions catalog (being built)."""

ROUTES: list = []
