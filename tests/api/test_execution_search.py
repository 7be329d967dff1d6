"""Execution search (issue 16 item 6): `/api/executions/` by trigger payload and result fields (JSON
path equality, GIN-indexed on PostgreSQL), by the node that failed, by error text and by duration;
a filter it cannot take is a 400 in plain words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from executions_app.models import Execution, ExecutionStep, TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_create
from tests.builders import chain, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


@pytest.fixture
def runs(user: Any) -> dict[str, str]:
    schema = create_schema(user=user, definition=chain(node("start", "manual_trigger")), activate=True)
    now = timezone.now()

    def make(name: str, payload: Any, *, result: Any = None, status: str = "completed", seconds: float = 1.0,
             error: str | None = None, failed_node: str | None = None) -> str:  # fmt: skip
        execution = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload=payload)[0]
        Execution.objects.filter(pk=execution.pk).update(
            status=status, result=result, error=error, started_at=now, finished_at=now + timedelta(seconds=seconds)
        )
        if failed_node:
            ExecutionStep.objects.create(
                execution=execution, seq=1, node_id=failed_node, node_type="http_request", status="failed", error=error
            )
        return str(execution.pk)

    return {
        "acme": make("acme", {"customer": 42, "order": {"id": "A-1", "paid": True}}, result={"total": 10}),
        "acme_text": make("acme_text", {"customer": "42"}, result={"total": 12}, seconds=30),
        "other": make("other", {"customer": 7, "order": {"id": "B-2", "paid": False}}, result={"total": 10}),
        "failed": make(
            "failed",
            {"customer": 7},
            status="failed",
            error="node 'charge' failed: HTTP 503 from pay",
            failed_node="charge",
        ),
    }


def _ids(api: APIClient, query: str) -> set[str]:
    response = api.get(f"/api/executions/?{query}")
    assert response.status_code == 200, response.content
    return {e["id"] for e in response.json()["results"]}


def test_payload_and_result_fields_by_json_path(api: APIClient, runs: dict[str, str]) -> None:
    assert _ids(api, "payload__customer=42") == {runs["acme"], runs["acme_text"]}  # the number and the text
    assert _ids(api, "payload__order__id=A-1") == {runs["acme"]}
    assert _ids(api, "payload__order__paid=false") == {runs["other"]}
    assert _ids(api, "result__total=10") == {runs["acme"], runs["other"]}
    assert _ids(api, "payload__customer=42&result__total=12") == {runs["acme_text"]}
    assert _ids(api, "payload__customer=999") == set()


def test_failed_node_error_text_and_duration(api: APIClient, runs: dict[str, str]) -> None:
    assert _ids(api, "failed_node=charge") == {runs["failed"]}
    assert _ids(api, "failed_node=other") == set()
    assert _ids(api, "error=http%20503") == {runs["failed"]}
    assert _ids(api, "min_duration=10") == {runs["acme_text"]}
    assert _ids(api, "max_duration=2") == {runs["acme"], runs["other"], runs["failed"]}
    assert _ids(api, "min_duration=0.5&max_duration=1.5&payload__customer=7") == {runs["other"], runs["failed"]}


@pytest.mark.parametrize(
    ("query", "words"),
    [
        ("payload__=1", "field path"),
        ("payload__a__b__c__d__e__f=1", "field path"),
        ("payload__bad%20name=1", "field path"),
        ("result__x=" + "y" * 501, "at most 500 characters"),
        ("min_duration=soon", "number"),
        ("min_duration=-1", "greater than or equal to 0"),
        ("max_duration=99999999999", "At most a year"),
        ("payload__a=1&payload__b=1&payload__c=1&payload__d=1&payload__e=1&result__f=1", "At most 5"),
        ("failed_node=" + "n" * 256, "at most 255"),
    ],
)
def test_a_filter_it_cannot_take_is_a_400_in_plain_words(
    api: APIClient, runs: dict[str, str], query: str, words: str
) -> None:
    response = api.get(f"/api/executions/?{query}")
    assert response.status_code == 400, response.content
    assert words in str(response.json()), response.json()


def test_someone_elses_executions_are_not_found_by_search(
    other_user: Any, client_for: Any, runs: dict[str, str]
) -> None:
    assert _ids(client_for(other_user), "payload__customer=42") == set()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="GIN indexes are PostgreSQL's")
def test_payload_and_result_containment_can_use_the_gin_indexes(runs: dict[str, str]) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        indexes = (("trigger_payload", "idx_executions_payload_gin"), ("result", "idx_executions_result_gin"))
        for column, index in indexes:
            cursor.execute(f"EXPLAIN SELECT id FROM executions WHERE {column} @> %s::jsonb", ['{"customer": 42}'])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            assert index in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="pg_trgm is PostgreSQL's")
def test_the_error_text_search_can_use_the_trigram_index(runs: dict[str, str]) -> None:
    """The statement `?error=` sends (not a hand-written one): the index is on the same expression."""
    from api.filters import ExecutionFilter

    found = ExecutionFilter().filter_error(Execution.objects.order_by(), "error", "http 503").values("id")
    assert [str(row["id"]) for row in found] == [runs["failed"]]
    statement, params = found.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(f"EXPLAIN {statement}", params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "idx_executions_error_trgm" in plan, plan


@pytest.mark.skipif(connection.vendor != "postgresql", reason="GIN indexes are PostgreSQL's")
def test_the_search_indexes_keep_no_pending_list() -> None:
    """With GIN's pending list every search reads the entries inserted since the last vacuum one by
    one (bench-scale: 20 ms to find 2 rows among 100k); migration 0014 turns it off."""
    names = ["idx_executions_payload_gin", "idx_executions_result_gin", "idx_executions_error_trgm"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reloptions FROM pg_class WHERE relname = ANY(%s)", [names])
        options = dict(cursor.fetchall())
    assert options == {name: ["fastupdate=off"] for name in names}, options


def test_top_level_lists_the_runs_no_execution_started_and_the_parent_still_lists_its_children(
    api: APIClient, user: Any
) -> None:
    """A for_each's children would bury the runs people started; `?top_level=true` leaves them out."""
    per_item = create_schema(
        user=user, definition=chain(node("t", "manual_trigger"), node("done", "end")), activate=True
    )
    config = {"items": [1, 2, 3], "schema_id": str(per_item.pk), "concurrency": 3}
    looping = chain(node("t", "manual_trigger"), node("loop", "for_each", config))
    parent = execution_create(
        schema=create_schema(user=user, definition=looping, activate=True, name="Loop"),
        trigger_type=TriggerType.MANUAL,
        payload={},
        created_by=user,
    )[0]
    execution_run(str(parent.pk))
    children = {str(pk) for pk in Execution.objects.filter(parent_execution=parent).values_list("pk", flat=True)}
    assert len(children) == 3
    assert _ids(api, "top_level=true") == {str(parent.pk)}
    assert _ids(api, "top_level=false") == children
    assert _ids(api, "") == children | {str(parent.pk)}
    assert _ids(api, f"top_level=true&parent={parent.pk}") == set()
    assert _ids(api, f"parent={parent.pk}") == children  # still reachable from the parent
    refused = api.get("/api/executions/?top_level=maybe")
    assert refused.status_code == 400 and refused.json()["errors"][0]["path"] == "top_level", refused.content
