"""Size limits of what an execution stores, and making values safe to store as PostgreSQL `jsonb`.

Every step's input/output, the variables and the checkpoint are written to `jsonb` columns.
PostgreSQL refuses some values Python's `json` produces happily: `\\u0000` in a string or key,
lone UTF-16 surrogates, `NaN`/`Infinity`. One such value in a node's output (a binary HTTP
response, `{{ "\\x00" }}` in an expression) would make the checkpoint write fail and the
execution be retried into the dead-letter queue. `json_safe` replaces them (U+FFFD / null).

The limits keep one step or one execution from filling the worker's memory and the database:
`MAX_STEP_BYTES` per step output (and per trigger payload), `MAX_EXECUTION_BYTES` for the sum of
all outputs an execution keeps (they stay in its checkpoint), `MAX_ERROR_CHARS` for error texts.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

MAX_STEP_BYTES = 2 * 1024 * 1024
MAX_EXECUTION_BYTES = 32 * 1024 * 1024
MAX_ERROR_CHARS = 16_000
REPLACEMENT = "\ufffd"
_UNSAFE_CHARS = re.compile("[\x00\ud800-\udfff]")


class ValueTooLarge(ValueError):
    """A value is larger than its limit once encoded as JSON."""

    def __init__(self, what: str, size: int, limit: int) -> None:
        super().__init__(f"{what}: {size} bytes as JSON, more than the limit of {limit} bytes")
        self.size = size
        self.limit = limit


def _clean_str(value: str) -> str:
    return _UNSAFE_CHARS.sub(REPLACEMENT, value) if _UNSAFE_CHARS.search(value) else value


def _sanitize(value: Any, depth: int = 0) -> Any:
    if depth > 200:
        return None  # cannot come from JSON input (parsers cap the depth); refuse to recurse on
    if isinstance(value, str):
        return _clean_str(value)
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {_clean_str(str(k)): _sanitize(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_sanitize(v, depth + 1) for v in value]
    return _clean_str(str(value))


# `json.dumps` with any non-default option builds a new JSONEncoder per call; these are built once
# (a walk measures every step's input, output and variables).
_encode_strict = json.JSONEncoder(ensure_ascii=False, allow_nan=False).encode
_encode = json.JSONEncoder(ensure_ascii=False).encode


def encoded_size(value: Any) -> tuple[Any, int]:
    """`(safe value, its size in bytes as UTF-8 JSON)`. The value is returned as is when it is
    already safe (the common case costs one `json.dumps`), else a sanitised copy."""
    try:
        text = _encode_strict(value)
        if "\\u0000" not in text:
            return value, len(text.encode("utf-8"))  # UnicodeEncodeError on a lone surrogate
    except (TypeError, ValueError, UnicodeEncodeError, RecursionError):
        pass
    safe = _sanitize(value)
    return safe, len(_encode(safe).encode("utf-8"))


def json_safe(value: Any, *, limit: int | None = None, what: str = "value") -> tuple[Any, int]:
    """Safe value and size; raises `ValueTooLarge` above `limit`."""
    safe, size = encoded_size(value)
    if limit is not None and size > limit:
        raise ValueTooLarge(what, size, limit)
    return safe, size


def safe_text(text: str | None, limit: int = MAX_ERROR_CHARS) -> str | None:
    """Error texts go to a `text` column (no NUL allowed) and to logs: clean and shorten them."""
    if text is None:
        return None
    text = _clean_str(text)
    if len(text) > limit:
        text = text[: limit - 40] + f"… [{len(text) - limit + 40} characters cut]"
    return text
