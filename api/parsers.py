"""Strict JSON for every request body: what we accept must be storable in PostgreSQL `jsonb`.

Python's `json` accepts things that later fail deep inside a view (a 500) or in the database:
`NaN`/`Infinity` and `1e400` (jsonb has no such numbers), `\\u0000` and lone surrogates in strings
or keys (jsonb/UTF-8 refuse them), and nesting deep enough to raise `RecursionError`. They are all
refused here with a 400 `parse_error` naming the problem.
"""

from __future__ import annotations

import json
import math
from typing import Any

from rest_framework import exceptions, parsers

MAX_JSON_DEPTH = 64


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _check(value: Any) -> str | None:
    """The first problem of a decoded value, or None. Iterative: depth cannot hurt here."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            return f"nested deeper than {MAX_JSON_DEPTH} levels"
        if isinstance(item, str):
            if "\x00" in item:
                return "strings must not contain the NUL character (\\u0000)"
            if any("\ud800" <= ch <= "\udfff" for ch in item):
                return "strings must not contain unpaired UTF-16 surrogates"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return "numbers must be finite"
        elif isinstance(item, dict):
            for key, child in item.items():
                stack.append((key, depth + 1))
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return None


def decode_json(raw: bytes | str) -> Any:
    """Decodes a request body; raises DRF's `ParseError` (400) for anything jsonb cannot store."""
    try:
        value = json.loads(raw, parse_constant=_no_constants)
    except RecursionError:
        raise exceptions.ParseError(
            f"The body is not valid JSON: nested deeper than {MAX_JSON_DEPTH} levels."
        ) from None
    except (UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        raise exceptions.ParseError(f"The body is not valid JSON: {exc}") from None
    problem = _check(value)
    if problem:
        raise exceptions.ParseError(f"The body is not valid JSON for this API: {problem}.")
    return value


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser with `decode_json`'s rules."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        raw = stream.read() if stream is not None else b""
        return decode_json(raw)


class RawBodyParser(parsers.BaseParser):
    """Keep the raw bytes (the signature covers them); JSON is decoded in the view."""

    media_type = "*/*"

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> bytes:  # type: ignore[override]
        return stream.read() if stream is not None else b""
