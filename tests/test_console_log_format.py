"""`LOG_FORMAT=console` (what `make run` sets): one readable line per record — level, logger,
message, then the fields the message does not already say; JSON stays the default elsewhere."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

from django.conf import settings

from config.logging import ConsoleFormatter

REPO = Path(__file__).resolve().parent.parent


def _record(msg: str, args: tuple[object, ...], level: int = logging.INFO, **extra: object) -> logging.LogRecord:
    record = logging.LogRecord("schema.engine", level, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_a_step_line_reads_as_a_sentence_with_its_ids() -> None:
    line = ConsoleFormatter().format(
        _record(
            "step %s %s (%s, attempt %d, %.1f ms)",
            ("greet", "success", "set", 1, 0.4),
            seq=2,
            node_type="set",
            step_status="success",
            execution_id="0b8c5a1e-8d0e-4a36-9b1e-1b2f3c4d5e6f",
            node_id="greet",
        )
    )
    assert line.startswith("INFO    schema.engine: step greet success (set, attempt 1, 0.4 ms)")
    assert "execution_id=0b8c5a1e-8d0e-4a36-9b1e-1b2f3c4d5e6f" in line and "seq=2" in line
    assert "node_type=" not in line and "node_id=" not in line  # the message says them already
    assert "\n" not in line and not line.startswith("{")


def test_a_traceback_follows_its_line() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("schema.api", logging.ERROR, __file__, 1, "failed", (), sys.exc_info())
    text = ConsoleFormatter().format(record)
    first, *rest = text.splitlines()
    assert first == "ERROR   schema.api: failed"
    assert rest[0].startswith("Traceback") and rest[-1] == "ValueError: boom"


def test_json_is_the_default_and_console_is_chosen_by_log_format() -> None:
    assert settings.LOGGING["handlers"]["stdout"]["formatter"] == "json"  # type: ignore[index]
    env = {**os.environ, "LOG_FORMAT": "console", "DJANGO_SETTINGS_MODULE": "config.settings.local"}
    code = "import django; django.setup(); import logging; logging.getLogger('schema.check').warning('hello %s', 'you')"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert "WARNING schema.check: hello you" in out.stdout, out.stdout + out.stderr
