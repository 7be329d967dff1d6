"""`executions_app.sql`: the prepared hot statements, and what happens when PostgreSQL dropped the
connection a process kept (restart, failover, idle timeout) — the case Django's per-request health
check covers with a `SELECT 1` these statements do not send."""

from __future__ import annotations

from typing import Any

import psycopg
import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from config import prepared as sql
from executions_app.models import Execution
from tests.builders import linear_definition
from tests.conftest import requires_postgres
from tests.factories import create_schema

pytestmark = [requires_postgres, pytest.mark.django_db(transaction=True)]


def _backend_pid() -> int:
    rows, _ = sql.execute("SELECT pg_backend_pid()", [])
    assert rows
    return int(rows[0][0])


def _drop_our_connection() -> int:
    """Terminates this process's database session from another session, like a server restart."""
    pid = _backend_pid()
    with psycopg.connect(**connection.get_connection_params(), autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", [pid])
    return pid


def test_a_statement_is_prepared_once_and_reused() -> None:
    sql.execute("SELECT %s::int + 1", [1])
    rows, _ = sql.execute("SELECT %s::int + 1", [41])
    assert rows == [(42,)]
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE 'SELECT $1::int + 1%%'")
        assert cursor.fetchone()[0] == 1


def test_a_repeatable_statement_reconnects_when_the_connection_was_dropped() -> None:
    before = _drop_our_connection()
    rows, _ = sql.execute("SELECT pg_backend_pid()", [], repeatable=True)
    assert rows and rows[0][0] != before


def test_a_statement_that_is_not_repeatable_fails_as_a_database_error() -> None:
    _drop_our_connection()
    with pytest.raises(OperationalError):
        sql.execute("SELECT 1", [])
    connection.close()  # what Django does after a request or task whose connection failed


def test_inside_a_transaction_nothing_is_repeated() -> None:
    with pytest.raises(OperationalError), transaction.atomic():
        _drop_our_connection()
        sql.execute("SELECT 1", [], repeatable=True)
    connection.close()


def test_a_statement_error_is_not_mistaken_for_a_dropped_connection() -> None:
    with pytest.raises(Exception, match="division by zero"):
        sql.execute("SELECT 1 / %s::int", [0], repeatable=True)
    assert sql.execute("SELECT 2", [])[0] == [(2,)]


def test_a_webhook_after_postgresql_dropped_the_connection_is_accepted(user: Any, published: list[str]) -> None:
    schema = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)
    client = APIClient()
    url = f"/api/hooks/{schema.id}/"
    headers = {"HTTP_X_SCHEMA_SECRET": schema.webhook_secret}
    assert client.post(url, {"n": 1}, format="json", **headers).status_code == 202
    _drop_our_connection()
    with CaptureQueriesContext(connection) as queries:
        response = client.post(url, {"n": 2}, format="json", **headers)
    assert response.status_code == 202, response.content
    assert Execution.objects.filter(pk=response.json()["id"], trigger_payload={"n": 2}).exists()
    assert len(published) == 2
    assert not any(q["sql"].strip().upper() == "SELECT 1" for q in queries.captured_queries)
