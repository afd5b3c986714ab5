from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from app.config import ReadBalancing


class BalancingChange(BaseModel):
    """`null` clears the override and returns to READ_BALANCING from the environment."""

    model_config = ConfigDict(extra="forbid")

    read_balancing: ReadBalancing | None


class RoutingState(BaseModel):
    read_balancing: str
    configured_read_balancing: str
    override: str | None
    primary: dict[str, Any]
    replicas: list[dict[str, Any]]
    counters: dict[str, Any]
