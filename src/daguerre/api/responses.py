"""The JSON response every API handler returns.

Rendered with orjson: a list page of 25 images spent about a tenth of its CPU time in the
standard library's encoder, orjson takes a fraction of that. The bytes differ only in spacing.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse as _StarletteJSONResponse


class JSONResponse(_StarletteJSONResponse):
    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
