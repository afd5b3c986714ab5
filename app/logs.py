"""Structured logging: JSON lines in production, readable console output in development.

Two paths to one stream: the per-request access line goes through structlog's native
bound logger (filtered by level before any work, rendered once with orjson), and everything
logged through the standard library (uvicorn, SQLAlchemy, our modules) is rendered by the
same processors via `ProcessorFormatter`, so every line has the same shape.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from types import ModuleType
from typing import TYPE_CHECKING, Any

import orjson


def _structlog_without_rich() -> ModuleType:
    """structlog, imported with `rich` hidden.

    structlog's console renderer imports rich when it is installed, only to pretty-print
    tracebacks: 0.1-0.15 s of every process start (docs/performance-notes.md, step 22).
    rich is installed for typer's help screens; trackr's logs print tracebacks plainly. Once
    structlog is in, rich is importable again for whoever asks for it.
    """
    if "structlog" in sys.modules or "rich" in sys.modules:
        import structlog

        return structlog
    sys.modules["rich"] = None  # type: ignore[assignment]  # `import rich` → ImportError
    try:
        import structlog

        return structlog
    finally:
        del sys.modules["rich"]


if TYPE_CHECKING:
    import structlog as structlog
else:
    structlog = _structlog_without_rich()


# The request a line is written in (app.middleware sets it): one ContextVar of our own, where
# structlog's bound_contextvars costs a context manager per request and its merge a scan of
# every context variable per line.
REQUEST_ID: ContextVar[str | None] = ContextVar("trackr_request_id", default=None)


def _add_request_id(_: Any, __: str, event: structlog.types.EventDict) -> structlog.types.EventDict:
    if (request_id := REQUEST_ID.get()) is not None:
        event.setdefault("request_id", request_id)
    return event


def _add_logger_name(
    _: Any, __: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    event.setdefault("logger", "trackr")
    return event


def _add_trace_context(
    _: Any, __: str, event: structlog.types.EventDict
) -> structlog.types.EventDict:
    """The current span's trace and span ids (OpenTelemetry's hex forms), when there is one."""
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        event["trace_id"] = trace.format_trace_id(context.trace_id)
        event["span_id"] = trace.format_span_id(context.span_id)
    return event


def configure_logging(level: str = "INFO", fmt: str = "json", traced: bool = False) -> None:
    """`traced`: every line carries the trace and span it was written in (app.tracing)."""
    shared: list[structlog.types.Processor] = [
        _add_request_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        *([_add_trace_context] if traced else []),
    ]
    json = fmt == "json"
    numeric_level = logging.getLevelNamesMapping()[level.upper()]
    structlog.configure(
        processors=[
            *shared,
            _add_logger_name,
            structlog.processors.format_exc_info,
            structlog.processors.JSONRenderer(serializer=orjson.dumps)
            if json
            else structlog.dev.ConsoleRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(numeric_level),
        logger_factory=structlog.BytesLoggerFactory(sys.stderr.buffer)
        if json
        else structlog.WriteLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[
                structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                structlog.processors.format_exc_info,
                structlog.processors.JSONRenderer() if json else structlog.dev.ConsoleRenderer(),
            ],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(numeric_level)
    # uvicorn's own access log would duplicate ours.
    logging.getLogger("uvicorn.access").disabled = True
