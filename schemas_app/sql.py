"""The PostgreSQL fast path of schemas beside its ORM fallback; chosen once per process.

The webhook's schema read runs on every delivery: on PostgreSQL it is one prepared statement
(`config.prepared`) that can ride on the rate-limit statement; elsewhere (SQLite, the embedded
`make run`) the ORM with the same answer.
"""

from __future__ import annotations

import functools
from typing import Any

from django.db import connection

from config.prepared import Rider, execute

from .models import Schema, SchemaStatus

# The columns the webhook needs (not the definition, which can be large): authentication, the
# pinned version, the answer's `schema_name`, the pause. The webhook trigger is checked by jsonb containment:
# `nodes` is an array with an object whose `type` is "webhook_trigger" — what `has_webhook_trigger`
# checks in Python.
_WEBHOOK_SCHEMA_FIELDS = (
    "id",
    "name",
    "version",
    "webhook_secret",
    "webhook_secret_previous",
    "webhook_secret_previous_expires_at",
    "paused_at",
)
_WEBHOOK_SCHEMA_SQL = """
SELECT id, name, version, webhook_secret, webhook_secret_previous, webhook_secret_previous_expires_at, paused_at
FROM schemas WHERE id = %s::uuid AND status = %s AND definition @> '{"nodes": [{"type": "webhook_trigger"}]}'::jsonb
"""


def has_webhook_trigger(schema: Schema) -> bool:
    nodes = schema.definition.get("nodes") if isinstance(schema.definition, dict) else None
    return isinstance(nodes, list) and any(isinstance(n, dict) and n.get("type") == "webhook_trigger" for n in nodes)


class Queries:
    """The ORM versions (SQLite in the embedded mode)."""

    def webhook_schema(self, schema_id: Any, rider: Rider | None = None) -> Schema | None:
        schema = Schema.objects.filter(pk=schema_id, status=SchemaStatus.ACTIVE).first()
        return schema if schema is not None and has_webhook_trigger(schema) else None

    def webhook_schema_rider(self, schema_id: Any) -> Rider | None:
        return None


class PostgresQueries(Queries):
    def webhook_schema(self, schema_id: Any, rider: Rider | None = None) -> Schema | None:
        if rider is not None and rider.fetched:
            row = rider.row
        else:
            rows, _ = execute(_WEBHOOK_SCHEMA_SQL, [str(schema_id), SchemaStatus.ACTIVE.value], repeatable=True)
            row = rows[0] if rows else None
        return Schema.from_db(connection.alias, _WEBHOOK_SCHEMA_FIELDS, row) if row else None

    def webhook_schema_rider(self, schema_id: Any) -> Rider | None:
        return Rider(_WEBHOOK_SCHEMA_SQL, [str(schema_id), SchemaStatus.ACTIVE.value])


@functools.cache
def queries() -> Queries:
    """The implementation for this process's database, chosen at the first call."""
    return PostgresQueries() if connection.vendor == "postgresql" else Queries()
