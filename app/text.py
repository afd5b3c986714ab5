"""Text rules shared by every input model: PostgreSQL cannot store NUL in text or JSONB."""

from __future__ import annotations

from typing import Any

NUL = "\x00"
NUL_MESSAGE = "must not contain NUL (\\u0000) characters"


def has_nul(value: Any) -> bool:
    return isinstance(value, str) and NUL in value


def reject_nul(value: Any) -> Any:
    """A pydantic field validator body: strings with NUL are invalid input, not a 500."""
    if has_nul(value):
        raise ValueError(NUL_MESSAGE)
    return value
