"""Cursor (keyset) pagination on `(-created_at, -id)`: constant cost however deep the page.

Stricter than DRF's: a `page_size` that is not an integer between 1 and 200 (an empty one
included) is a 400 `validation_error`, not silently the default. Cursors are signed
(`django.core.signing`, salted for this purpose): the server reads only cursors it made, so any
other value — edited, truncated, or forged to carry a position PostgreSQL cannot compare (an
offset beyond ±15:59, year 0: a 500 before) — is a 400 naming `cursor`, before any query runs.
"""

from __future__ import annotations

import re
from typing import Any

from django.core import signing
from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request
from rest_framework.utils.urls import replace_query_param

_CURSOR_SALT = "api.pagination.cursor"
# What `signing.dumps` makes: URL-safe base64 of the value, of the time and of the signature.
CURSOR_PATTERN = "^[A-Za-z0-9_-]+:[A-Za-z0-9_-]+:[A-Za-z0-9_-]+$"
_DIGITS = re.compile(r"[0-9]{1,4}")


class CreatedCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        value = int(raw) if _DIGITS.fullmatch(raw) else 0
        if not 1 <= value <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"An integer between 1 and {self.max_page_size}."]}
            )
        return value

    def encode_cursor(self, cursor: Cursor) -> str:
        token = signing.dumps([cursor.offset, cursor.reverse, cursor.position], salt=_CURSOR_SALT, compress=False)
        return str(replace_query_param(self.base_url or "", self.cursor_query_param, token))

    def decode_cursor(self, request: Request) -> Cursor | None:
        token = request.query_params.get(self.cursor_query_param)
        if token is None:
            return None
        try:
            offset, reverse, position = signing.loads(token, salt=_CURSOR_SALT)
        except (signing.BadSignature, ValueError, TypeError):  # ValueError: also a string not UTF-8 encodable
            raise exceptions.ValidationError(
                {self.cursor_query_param: ["Invalid cursor: use the `next` or `previous` link of a page."]}
            ) from None
        return Cursor(offset=offset, reverse=reverse, position=position)

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
            elif parameter["name"] == self.cursor_query_param:
                parameter["schema"] = {"type": "string", "pattern": CURSOR_PATTERN}
                parameter["description"] = (
                    "An opaque, signed token: only the `next` and `previous` links of a page carry one; "
                    "any other value is a 400."
                )
        return parameters
