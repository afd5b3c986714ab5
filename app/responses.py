"""Fast JSON responses: one orjson pass over plain dicts, no second pydantic validation."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import orjson
from starlette.responses import Response


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot serialize {type(value).__name__}")


def dumps(data: Any) -> bytes:
    return orjson.dumps(data, default=_default)


def names_etag(if_none_match: str | None, etag: str) -> bool:
    """Whether an `If-None-Match` header lists this ETag (the request then gets 304)."""
    return if_none_match is not None and etag in {t.strip() for t in if_none_match.split(",")}


def json_response(
    data: Any, status_code: int = 200, headers: Mapping[str, str] | None = None
) -> Response:
    return Response(
        dumps(data),
        status_code=status_code,
        headers=dict(headers or {}),
        media_type="application/json",
    )
