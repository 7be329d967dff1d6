"""The JSON log lines: the fields operators filter on, as python-json-logger wrote them before."""

from __future__ import annotations

import json
import logging
import sys
import uuid
from datetime import UTC, datetime
from typing import Any

from pythonjsonlogger.json import JsonFormatter as ReferenceFormatter

from config.logging import JsonFormatter, log_context


class _Reference(ReferenceFormatter):
    """The formatter the project configured before (same field names and order)."""

    def __init__(self) -> None:
        super().__init__(
            fmt="%(asctime)s %(levelname)s %(name)s %(message)s",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )


def _records() -> list[logging.LogRecord]:
    step = logging.LogRecord("schema.engine", logging.INFO, "runner.py", 1, "step %s %s", ("inc1", "success"), None)
    for key, value in {
        "seq": 3,
        "node_type": "set",
        "duration_ms": 0.25,
        "execution_id": str(uuid.UUID(int=7)),
        "when": datetime(2026, 1, 2, 3, 4, 5, 678, tzinfo=UTC),
        "ident": uuid.UUID(int=9),
        "text": 'ünïcode \u2028 "quoted"',
    }.items():
        setattr(step, key, value)
    try:
        raise ValueError("boom")
    except ValueError:
        failed = logging.LogRecord("schema.engine", logging.ERROR, "runner.py", 2, "failed: %s", ("x",), sys.exc_info())
    return [step, failed]


def test_lines_have_the_same_fields_in_the_same_order_as_python_json_logger() -> None:
    for record in _records():
        ours: dict[str, Any] = json.loads(JsonFormatter().format(record))
        reference: dict[str, Any] = json.loads(_Reference().format(record))
        assert list(ours) == list(reference)
        assert ours == reference


def test_time_is_logging_default_format_with_milliseconds() -> None:
    record = logging.LogRecord("x", logging.INFO, "x.py", 1, "m", (), None)
    assert json.loads(JsonFormatter().format(record))["time"] == logging.Formatter().formatTime(record)
    record.created += 1.5  # the next second: the cached seconds part must not be reused
    record.msecs = 500
    assert json.loads(JsonFormatter().format(record))["time"] == logging.Formatter().formatTime(record)


def test_context_fields_reach_every_line(caplog: Any) -> None:
    from config.logging import ContextFilter

    logger = logging.getLogger("schema.test")
    caplog.set_level(logging.INFO, logger="schema.test")
    with log_context(execution_id="e-1", schema_id="s-1"):
        logger.info("hello", extra={"node_id": "n-1"})
    record = caplog.records[-1]
    ContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert (line["execution_id"], line["schema_id"], line["node_id"], line["message"]) == ("e-1", "s-1", "n-1", "hello")
