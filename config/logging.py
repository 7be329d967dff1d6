"""Structured JSON logging: one JSON object per line on stdout (gunicorn's own lines too:
`config/gunicorn.py`; Python warnings as records of `py.warnings`).

Records carry the request/execution context that is set in contextvars by the request middleware
and by the worker (`request_id`, `execution_id`, `schema_id`, `node_id`), so every line of one
execution can be found with one filter in any log store; with tracing on (`config/tracing.py`) also
the `trace_id` and `span_id` of the current span.
"""

from __future__ import annotations

import contextvars
import json
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date, datetime
from datetime import time as dt_time
from typing import Any

# No JSON line carries the caller's file/line, thread or process name: do not compute them for every
# record (the logging HOWTO's "Optimization"; the worker writes a record per step).
logging._srcfile = None  # type: ignore[attr-defined]
logging.logThreads = False
logging.logProcesses = False
logging.logMultiprocessing = False
# Python's warnings (a library's UserWarning, a DeprecationWarning) become records of `py.warnings`,
# so they come out as JSON lines too instead of raw text on stderr between them.
logging.captureWarnings(True)

CONTEXT_FIELDS = ("request_id", "execution_id", "schema_id", "node_id")
_context: contextvars.ContextVar[dict[str, Any]] = contextvars.ContextVar("log_context", default={})  # noqa: B039


def get_log_context() -> dict[str, Any]:
    return dict(_context.get())


@contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every record logged inside the block (nested blocks merge)."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


# `config.tracing` puts here, when tracing is on, what gives the current span's (trace_id, span_id).
TRACE_IDS: list[Callable[[], tuple[str, str] | None]] = []


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, str(value))
        if TRACE_IDS and (ids := TRACE_IDS[0]()) is not None:
            record.trace_id, record.span_id = ids
        return True


# LogRecord's own attributes; anything else on a record (`extra=`, the context fields) is output.
_RESERVED = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {"message", "asctime", "taskName"}


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime | date | dt_time):
        return value.isoformat()
    return str(value)


# One encoder for every line: `json.dumps(..., default=…)` builds a new JSONEncoder per call.
_encode = json.JSONEncoder(default=_json_default).encode


class JsonFormatter(logging.Formatter):
    """One JSON object per record: `time`, `level`, `logger`, `message`, then every extra field,
    then `exc_info` / `stack_info` when present — the lines python-json-logger's formatter wrote
    with our settings, at a fraction of its CPU (the worker logs every step: `make bench-profile`)."""

    _second: tuple[int, str] = (-1, "")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        """`2026-01-02 03:04:05,678` (logging's default), the seconds part formatted once a second."""
        if datefmt:
            return super().formatTime(record, datefmt)
        second = int(record.created)
        cached = self._second
        if cached[0] != second:
            cached = self._second = (second, time.strftime("%Y-%m-%d %H:%M:%S", self.converter(second)))
        return f"{cached[1]},{int(record.msecs):03d}"

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": self.formatTime(record),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RESERVED:
                line[key] = value
        if record.exc_info and not line.get("exc_info"):
            if not record.exc_text:
                record.exc_text = self.formatException(record.exc_info)
            line["exc_info"] = record.exc_text
        elif record.exc_text:
            line["exc_info"] = record.exc_text
        if record.stack_info and not line.get("stack_info"):
            line["stack_info"] = self.formatStack(record.stack_info)
        return _encode(line)


class ConsoleFormatter(logging.Formatter):
    """`LOG_FORMAT=console`, what `make run` sets: `LEVEL   logger: message  key=value …` for a
    person at a terminal (honcho adds the time and the process). The fields the message already
    says are left out; a traceback follows on its own lines. JSON stays the default everywhere."""

    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        fields = [
            f"{key}={value}"
            for key, value in record.__dict__.items()
            if key not in _RESERVED and value not in (None, "") and str(value) not in message
        ]
        line = f"{record.levelname:<7} {record.name}: {message}"
        if fields:
            line = f"{line}  {' '.join(fields)}"
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line = f"{line}\n{record.exc_text}"
        if record.stack_info:
            line = f"{line}\n{self.formatStack(record.stack_info)}"
        return line
