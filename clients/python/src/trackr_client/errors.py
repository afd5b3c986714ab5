"""What the client raises: an API's answer (`ApiError`) or no backend at all."""

from __future__ import annotations

from typing import Any


class TrackrError(Exception):
    """Base class of the client's errors."""


class ApiError(TrackrError):
    """A backend answered with a client error (4xx): retrying elsewhere would not help."""

    def __init__(self, status: int, problem: dict[str, Any], backend: str) -> None:
        self.status = status
        self.problem = problem
        self.backend = backend
        super().__init__(
            f"{status} from {backend}: {problem.get('detail') or problem.get('title')}"
        )


class AllBackendsUnavailable(TrackrError):
    """Every backend failed (or was unsafe to retry); `errors` says what each one did."""

    def __init__(self, errors: dict[str, str]) -> None:
        self.errors = errors
        listing = "; ".join(f"{name}: {error}" for name, error in errors.items())
        super().__init__(f"no backend could serve the request ({listing})")
