"""Input rules shared by every model: what PostgreSQL and the JSON encoder can store.

PostgreSQL cannot store NUL in text or JSONB; orjson (every JSON trackr writes) encodes no
integer beyond 64 bits, and no NaN or infinity (Python's JSON parser reads `1e999` as one).
"""

from __future__ import annotations

import math
from typing import Any

JSON_INT_MIN, JSON_INT_MAX = -(2**63), 2**64 - 1
UNENCODABLE_MESSAGE = "numbers must be finite, and integers fit in 64 bits"

NUL = "\x00"
NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


def has_nul(value: Any) -> bool:
    return isinstance(value, str) and NUL in value


def reject_nul(value: Any) -> Any:
    """A pydantic field validator body: strings with NUL are invalid input, not a 500."""
    if has_nul(value):
        raise ValueError(NUL_MESSAGE)
    return value


def reject_unencodable(value: Any) -> Any:
    """A pydantic validator body for free-form JSON: every number in it must be encodable."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, bool):
            continue
        elif (isinstance(item, int) and not JSON_INT_MIN <= item <= JSON_INT_MAX) or (
            isinstance(item, float) and not math.isfinite(item)
        ):
            raise ValueError(UNENCODABLE_MESSAGE)
    return value
