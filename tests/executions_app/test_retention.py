"""Retention (`prune_executions`): old finished executions go with their steps; one that an
error-schema run or a sub-schema run points at goes too (the pointer becomes empty). Deleting looks
up those pointers through indexes: without them every deleted execution read the whole table at
commit (`make bench-scale`: 500 executions took ~10 s at 100k rows)."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.utils import timezone

from executions_app.models import Execution, ExecutionStep, TriggerType
from executions_app.retention import prune_executions
from executions_app.services import execution_create
from tests.builders import chain, node
from tests.factories import create_schema

pytestmark = pytest.mark.django_db


def _finished(schema: Any, days_ago: int, **fields: Any) -> Execution:
    execution = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, publish=False)[0]
    Execution.objects.filter(pk=execution.pk).update(
        status="failed", created_at=timezone.now() - timedelta(days=days_ago), **fields
    )
    ExecutionStep.objects.create(
        execution=execution, seq=1, node_id="start", node_type="manual_trigger", status="failed"
    )
    return execution


def test_old_executions_go_and_what_pointed_at_them_stays(user: Any) -> None:
    schema = create_schema(user=user, definition=chain(node("start", "manual_trigger")), activate=True)
    old = _finished(schema, 40)
    handler = _finished(schema, 1, error_of_id=old.pk)
    child = _finished(schema, 1, parent_execution_id=old.pk, parent_key="each:1:0")
    assert prune_executions(older_than=timezone.now() - timedelta(days=30)) == 1
    assert not Execution.objects.filter(pk=old.pk).exists()
    assert not ExecutionStep.objects.filter(execution_id=old.pk).exists()
    remaining = dict(Execution.objects.filter(pk__in=[handler.pk, child.pk]).values_list("id", "error_of_id"))
    assert remaining == {handler.pk: None, child.pk: None}
    assert Execution.objects.get(pk=child.pk).parent_execution_id is None


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the plan is PostgreSQL's")
@pytest.mark.parametrize(
    ("column", "index"), [("error_of_id", "idx_executions_error_of"), ("parent_execution_id", "idx_executions_parent")]
)
def test_deleting_an_execution_finds_what_points_at_it_through_an_index(column: str, index: str) -> None:
    """The lookup PostgreSQL's foreign key makes for every deleted row (RI_FKey_noaction_del)."""
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute(
            f"EXPLAIN SELECT 1 FROM ONLY executions x WHERE %s = {column} FOR KEY SHARE OF x", [uuid.uuid4()]
        )
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert index in plan, plan
