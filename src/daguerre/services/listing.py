"""Turning GET /v2/images query parameters into a validated ListQuery (Glance's semantics)."""

from __future__ import annotations

import csv
import datetime as dt

from daguerre.context import RequestContext
from daguerre.db.images import SORT_KEYS, ListQuery
from daguerre.domain.errors import Invalid
from daguerre.domain.image import MAX_MIN_REQUIREMENT
from daguerre.runtime import Runtime

_EXACT_COLUMNS = ("name", "id", "status", "container_format", "disk_format", "owner", "checksum",
                  "os_hash_value", "os_hash_algo")  # fmt: skip
# Integer columns and the largest value each holds (BIGINT sizes, INTEGER minimums): a filter
# value past that is refused, since the database cannot even bind it.
_BIGINT = 2**63 - 1
_INT_COLUMNS = {
    "size": _BIGINT,
    "virtual_size": _BIGINT,
    "min_disk": MAX_MIN_REQUIREMENT,
    "min_ram": MAX_MIN_REQUIREMENT,
}
# Each filter and sort key is a term of one SQL statement; thousands of them overflow SQLite's
# expression depth (1000) and ORDER BY limits. Far more than any real query needs.
MAX_FILTERS = 200
MAX_SORT_KEYS = 50
_TIME_OPS = ("gt", "gte", "lt", "lte", "eq", "neq")
_NOT_FILTERS = {"limit", "marker", "sort_key", "sort_dir", "sort", "visibility", "member_status", "tag",
                "os_hidden", "protected"}  # fmt: skip


def _in_values(raw: str) -> list[str]:
    try:
        row = next(csv.reader([raw], skipinitialspace=True, strict=True))
    except (csv.Error, StopIteration):
        raise Invalid(f"Invalid in: filter value {raw!r}") from None
    if any('"' in v for v in row):
        raise Invalid(f"Invalid in: filter value {raw!r}")
    return row


def _exact(key: str, raw: str) -> list[str]:
    op, sep, value = raw.partition(":")
    if not sep:
        return [raw]
    if op == "in":
        return _in_values(value)
    if op == "eq":
        return [value]
    raise Invalid(f"Unable to filter by unknown operator '{op}' on {key}.")


def _parse_time(key: str, raw: str) -> tuple[str, dt.datetime]:
    op, value = "eq", raw
    head, sep, rest = raw.partition(":")
    if sep and head in _TIME_OPS:
        op, value = head, rest
    elif sep and head.isalpha():
        raise Invalid(f"Unable to filter by unknown operator '{head}'.")
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise Invalid(f"Unable to filter on a date: {key}={raw} is not a valid ISO 8601 time") from None
    if when.tzinfo is not None:
        when = when.astimezone(dt.UTC).replace(tzinfo=None)
    return op, when


def _bool(key: str, raw: str) -> bool:
    low = raw.lower()
    if low in ("true", "1", "yes", "on"):
        return True
    if low in ("false", "0", "no", "off"):
        return False
    raise Invalid(f"Invalid value for {key}: {raw!r} is not a boolean")


def _int(key: str, raw: str, bound: int | None = None) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise Invalid(f"Invalid value for {key}: {raw!r} is not an integer") from None
    if bound is not None and not -bound - 1 <= value <= bound:
        raise Invalid(f"Invalid value for {key}: {raw!r} is out of range, must not exceed {bound}")
    return value


def _sort(params: list[tuple[str, str]]) -> list[tuple[str, str]]:
    keys = [v for k, v in params if k == "sort_key"]
    dirs = [v for k, v in params if k == "sort_dir"]
    new = [v for k, v in params if k == "sort"]
    if new and (keys or dirs):
        raise Invalid("The 'sort' parameter cannot be combined with 'sort_key' or 'sort_dir'.")
    pairs: list[tuple[str, str]] = []
    if new:
        for part in ",".join(new).split(","):
            key, _, direction = part.strip().partition(":")
            pairs.append((key.strip(), (direction or "desc").strip()))
    else:
        if len(dirs) > 1 and len(dirs) != len(keys):
            raise Invalid("Number of sort dirs does not match the number of sort keys")
        if not keys:
            keys = ["created_at"]
        if not dirs:
            dirs = ["desc"]
        if len(dirs) == 1:
            dirs = dirs * len(keys)
        pairs = list(zip(keys, dirs, strict=True))
    for key, direction in pairs:
        if key not in SORT_KEYS:
            raise Invalid(f"Invalid sort key: {key}. It should be one of: {', '.join(SORT_KEYS)}")
        if direction not in ("asc", "desc"):
            raise Invalid(f"Invalid sort direction: {direction}")
    if len(pairs) > MAX_SORT_KEYS:
        raise Invalid(f"Too many sort keys: at most {MAX_SORT_KEYS}")
    return pairs


def parse_list_query(
    rt: Runtime, ctx: RequestContext, params: list[tuple[str, str]]
) -> tuple[ListQuery, str | None]:
    d = rt.settings.DEFAULT
    single: dict[str, str] = {}
    for key, value in params:
        single.setdefault(key, value)
    if "changes-since" in single:
        raise Invalid("The 'changes-since' filter is no longer available on v2.")
    limit = d.limit_param_default
    if "limit" in single:
        limit = _int("limit", single["limit"])
        if limit < 0:
            raise Invalid("limit param must be positive")
    limit = min(limit, d.api_limit_max)
    q = ListQuery(caller_project=ctx.project_id, is_admin=ctx.is_admin, limit=limit, sort=_sort(params))
    if "visibility" in single:
        vis = single["visibility"]
        if vis not in ("public", "private", "shared", "community", "all"):
            raise Invalid(f"Invalid visibility value: {vis}")
        q.visibility = vis
    if "member_status" in single:
        ms = single["member_status"]
        if ms not in ("pending", "accepted", "rejected", "all"):
            raise Invalid(f"Invalid status value: {ms}")
        q.member_status = ms
    if "os_hidden" in single:
        q.os_hidden = _bool("os_hidden", single["os_hidden"])
    if "protected" in single:
        q.ranges.append(("protected", "eq", _bool("protected", single["protected"])))
    q.tags = [v for k, v in params if k == "tag"]
    for key, raw in single.items():
        if key in _NOT_FILTERS:
            continue
        if key in _EXACT_COLUMNS:
            q.exact[key] = _exact(key, raw)
        elif key in ("created_at", "updated_at"):
            op, when = _parse_time(key, raw)
            q.ranges.append((key, op, when))
        elif key.endswith(("_min", "_max")) and key[:-4] in _INT_COLUMNS:
            column = key[:-4]
            q.ranges.append(
                (column, "gte" if key.endswith("_min") else "lte", _int(key, raw, _INT_COLUMNS[column]))
            )
        elif key in _INT_COLUMNS:
            q.ranges.append((key, "eq", _int(key, raw, _INT_COLUMNS[key])))
        else:
            q.properties[key] = raw
    if len(q.tags) + len(q.properties) + len(q.exact) + len(q.ranges) > MAX_FILTERS:
        raise Invalid(f"Too many filters: at most {MAX_FILTERS}")
    return q, single.get("marker")
