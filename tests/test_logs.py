"""Every line written while a request is served carries its request id, whether it comes from
structlog (the access line) or the standard library (uvicorn, SQLAlchemy, our modules)."""

from __future__ import annotations

import json
import logging

import pytest

from app.logs import REQUEST_ID, configure_logging, structlog


def test_lines_written_in_a_request_carry_its_id(capfd: pytest.CaptureFixture[str]) -> None:
    configure_logging("INFO", "json")
    bound = REQUEST_ID.set("0f" * 16)
    try:
        logging.getLogger("trackr.test").warning("from the standard library")
        structlog.get_logger().info("given", request_id="kept as given")
        structlog.get_logger().info("from structlog")
    finally:
        REQUEST_ID.reset(bound)
    logging.getLogger("trackr.test").warning("after the request")
    lines = [json.loads(line) for line in capfd.readouterr().err.splitlines() if "{" in line]
    assert {line["event"]: line.get("request_id") for line in lines} == {
        "from the standard library": "0f" * 16,
        "given": "kept as given",
        "from structlog": "0f" * 16,
        "after the request": None,
    }
