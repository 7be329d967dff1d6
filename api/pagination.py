"""Cursor (keyset) pagination on `(-created_at, -id)`: constant cost however deep the page.

Stricter than DRF's: a `page_size` that is not an integer between 1 and 200 and a cursor that does
not decode (or whose position is not a timestamp — a forged one used to reach the database as an
invalid filter value, a 500) are 400 `validation_error`s instead of being ignored or a 404.
"""

from __future__ import annotations

from typing import Any

from django.utils.dateparse import parse_datetime
from rest_framework import exceptions
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request


class CreatedCursorPagination(CursorPagination):
    ordering = ("-created_at", "-id")
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200

    def get_page_size(self, request: Request) -> int:
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None or raw == "":
            return self.page_size
        try:
            value = int(raw)
        except ValueError:
            value = 0
        if not 1 <= value <= self.max_page_size:
            raise exceptions.ValidationError(
                {self.page_size_query_param: [f"An integer between 1 and {self.max_page_size}."]}
            )
        return value

    def decode_cursor(self, request: Request) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except exceptions.NotFound:
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]}) from None
        if cursor is not None and cursor.position is not None and parse_datetime(str(cursor.position)) is None:
            raise exceptions.ValidationError({self.cursor_query_param: ["Invalid cursor."]})
        return cursor

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {"type": "integer", "minimum": 1, "maximum": self.max_page_size}
        return parameters
