# Issue 16: execution search by error text. `?error=503` is `error__icontains`, which Django writes as
# `UPPER(error::text) LIKE UPPER('%503%')`: no B-tree answers a LIKE with a leading wildcard, so
# without this it read every execution the other filters left (100k rows at bench-scale). A trigram
# GIN index (pg_trgm) on that same expression answers it for a text of 3 characters or more. Only
# rows with an error (failures) are in it. PostgreSQL only (SQLite, the embedded `make run`, scans),
# built CONCURRENTLY so a deployment keeps taking executions meanwhile. pg_trgm is a "trusted"
# extension (PostgreSQL 13+): the database owner may create it; where that is refused the migration
# warns and goes on without the index (the search still works, by scanning). Reversing drops the
# index and leaves the extension (something else may use it).

import logging

from django.db import DatabaseError, migrations

logger = logging.getLogger("schema.migrations")
INDEX = "idx_executions_error_trgm"


def create_trgm(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except DatabaseError as exc:
        logger.warning("pg_trgm is not available (%s): ?error= searches scan without an index", exc)
        return
    schema_editor.execute(
        f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON executions"
        " USING gin (UPPER(error) gin_trgm_ops) WHERE error IS NOT NULL"
    )


def drop_trgm(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False  # CREATE INDEX CONCURRENTLY cannot run inside a transaction

    dependencies = [
        ("executions_app", "0011_action_keys"),
    ]

    operations = [migrations.RunPython(create_trgm, drop_trgm)]
