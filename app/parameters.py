"""Unknown query parameters are refused on every route, not silently ignored.

An app-wide dependency: each route's declared query parameters are read once from its
dependant. A route that takes a query *model* (the product list) reads the whole query
string with its own parser (`attr.<key>` filters), which refuses unknown names itself.
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel

from app.errors import FieldProblem, ValidationProblem


def _query_names(dependant: Dependant) -> set[str] | None:
    names: set[str] = set()
    for param in dependant.query_params:
        annotation = param.field_info.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            return None
        names.add(param.alias)
    for sub in dependant.dependencies:
        found = _query_names(sub)
        if found is None:
            return None
        names |= found
    return names


_declared: dict[str, frozenset[str] | None] = {}


def declared_query_names(route: APIRoute) -> frozenset[str] | None:
    """The query parameters `route` takes; None when its own parser reads the query string."""
    if route.unique_id not in _declared:
        names = _query_names(route.dependant)
        _declared[route.unique_id] = None if names is None else frozenset(names)
    return _declared[route.unique_id]


async def known_parameters_only(request: Request) -> None:
    route = request.scope.get("route")
    if not request.scope.get("query_string") or not isinstance(route, APIRoute):
        return
    known = declared_query_names(route)
    if known is None:
        return
    unknown = [name for name in request.query_params if name not in known]
    if not unknown:
        return
    takes = f"it takes {', '.join(sorted(known))}" if known else "it takes none"
    raise ValidationProblem(
        "the query string has parameters this endpoint does not take; see `errors`",
        errors=[
            FieldProblem(
                detail=f"unknown query parameter; {takes}", type="unknown_parameter", parameter=name
            )
            for name in unknown
        ],
    )
