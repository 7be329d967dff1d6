"""The database matches the spec: table names, columns, defaults, CHECK constraints, the four
indexes; every migration reverses (migrate to zero and back on PostgreSQL)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction

from tests.conftest import requires_postgres

SPEC_COLUMNS = {
    "schemas": {"id", "name", "description", "definition", "status", "created_by", "created_at", "updated_at"},
    "executions": {
        "id",
        "schema_id",
        "status",
        "trigger_type",
        "trigger_payload",
        "started_at",
        "finished_at",
        "created_by",
        "error",
    },
    "execution_state": {"execution_id", "current_node_id", "context", "updated_at"},
    "execution_steps": {
        "id",
        "execution_id",
        "node_id",
        "node_type",
        "input",
        "output",
        "status",
        "error",
        "started_at",
        "finished_at",
    },
    "users": {"id", "email", "created_at"},
}
SPEC_INDEXES = {
    "idx_schemas_status": ("schemas", ["status"]),
    "idx_executions_schema_id": ("executions", ["schema_id"]),
    "idx_executions_status": ("executions", ["status"]),
    "idx_execution_steps_exec_id": ("execution_steps", ["execution_id"]),
}


def _columns(table: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        return {col.name: col for col in connection.introspection.get_table_description(cursor, table)}


@pytest.mark.django_db
@requires_postgres
def test_spec_tables_have_spec_columns_with_jsonb_and_uuid() -> None:
    for table, expected in SPEC_COLUMNS.items():
        assert expected <= set(_columns(table)), table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, column_name, data_type, column_default FROM information_schema.columns "
            "WHERE table_schema = 'public' AND table_name IN ('schemas','executions','execution_state',"
            "'execution_steps','users')"
        )
        info = {(t, c): (dt, default) for t, c, dt, default in cursor.fetchall()}
    assert info[("schemas", "id")][0] == "uuid"
    assert info[("schemas", "definition")][0] == "jsonb"
    assert info[("executions", "trigger_payload")][0] == "jsonb"
    assert info[("execution_state", "context")][0] == "jsonb"
    assert info[("execution_steps", "input")][0] == "jsonb"
    assert "draft" in info[("schemas", "status")][1]
    assert "pending" in info[("executions", "status")][1]


@pytest.mark.django_db
@requires_postgres
def test_the_four_spec_indexes_exist() -> None:
    with connection.cursor() as cursor:
        for name, (table, columns) in SPEC_INDEXES.items():
            constraints = connection.introspection.get_constraints(cursor, table)
            assert name in constraints, name
            assert constraints[name]["index"] and constraints[name]["columns"] == columns


@requires_postgres
@pytest.mark.django_db
def test_only_the_rate_limit_counters_skip_the_write_ahead_log() -> None:
    """api_throttle is UNLOGGED (its commits do not wait for a WAL flush); everything else is durable."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class JOIN pg_namespace n ON n.oid = relnamespace "
            "WHERE n.nspname = current_schema() AND relkind = 'r' AND relpersistence = 'u'"
        )
        assert [row[0] for row in cursor.fetchall()] == ["api_throttle"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("table", "value"),
    [("schemas", "published"), ("executions", "exploded")],
)
def test_status_check_constraints_reject_unknown_values(table: str, value: str) -> None:
    from tests.factories import create_schema

    schema = create_schema()
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        if table == "schemas":
            cursor.execute("UPDATE schemas SET status = %s WHERE id = %s", [value, schema.id])
        else:
            from executions_app.services import execution_create

            execution, _ = execution_create(schema=schema, trigger_type="manual")
            cursor.execute("UPDATE executions SET status = %s WHERE id = %s", [value, execution.id])


@pytest.mark.django_db(transaction=True)
@requires_postgres
def test_every_migration_reverses_to_zero_and_back() -> None:
    apps = ["executions_app", "schemas_app", "accounts"]
    try:
        for app in apps:
            call_command("migrate", app, "zero", verbosity=0)
        tables = connection.introspection.table_names()
        assert not {"executions", "schemas", "users", "execution_steps"} & set(tables)
    finally:
        call_command("migrate", verbosity=0)
    tables = connection.introspection.table_names()
    assert {"schemas", "executions", "execution_state", "execution_steps", "users"} <= set(tables)
