"""FastAPI asks of every route's types whether they are pydantic.v1 models, and imports
`pydantic.v1` to ask: 74 ms of every start here (docs/performance-notes.md, step 23; FastAPI
PR #16374 proposes the same guard upstream). No pydantic.v1 model, class or instance, can
exist before `pydantic.v1` is imported, so until it is the answer is no without the import;
once it is, FastAPI's own probe answers. trackr's models are all pydantic v2."""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any

Probe = Callable[[Any], bool]


def _guarded(probe: Probe) -> Probe:
    def guarded(value: Any) -> bool:
        return "pydantic.v1" in sys.modules and probe(value)

    guarded.__wrapped__ = probe  # type: ignore[attr-defined]
    return guarded


def install() -> None:
    """Guard FastAPI's probes where FastAPI looks them up; a FastAPI without them (or with
    them already guarded) is left as it is. Runs when this module is imported: app.main
    imports it before any of its routers."""
    from fastapi import encoders
    from fastapi._compat import shared

    for module, name in (
        (shared, "is_pydantic_v1_model_class"),  # looked up by annotation_is_pydantic_v1
        (shared, "is_pydantic_v1_model_instance"),
        (encoders, "is_pydantic_v1_model_instance"),  # bound by name at its import
    ):
        probe = getattr(module, name, None)
        if callable(probe) and not hasattr(probe, "__wrapped__"):
            setattr(module, name, _guarded(probe))


install()
