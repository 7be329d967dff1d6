"""Deleting a schema (`executions_app.services.schema_delete`): refused while one of its executions
is unfinished; otherwise the schema goes with its versions, its executions and its cron entry."""

from __future__ import annotations

import pytest

from executions_app.models import Execution, ExecutionStatus, ExecutionStep, TriggerType
from executions_app.runner import execution_run
from executions_app.services import execution_create, schema_delete
from schemas_app.models import Schema, SchemaVersion
from schemas_app.services import SchemaStateError, schema_update
from tests.builders import cron_definition
from tests.factories import create_schema, periodic_task

pytestmark = pytest.mark.django_db


def cron_schema_with_execution(status: str) -> tuple[Schema, Execution]:
    """An active cron schema at version 2 with one execution in `status`."""
    schema = create_schema(definition=cron_definition(), activate=True)
    schema_update(schema, definition=cron_definition("0 7 * * *"))
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.SCHEDULER, payload={}, publish=False)
    Execution.objects.filter(pk=execution.pk).update(status=status)
    return schema, execution


@pytest.mark.parametrize("status", [ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.PAUSED])
def test_deleting_is_refused_while_an_execution_is_unfinished(status: str) -> None:
    schema, execution = cron_schema_with_execution(status)
    finished, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload={}, publish=False)
    Execution.objects.filter(pk=finished.pk).update(status=ExecutionStatus.COMPLETED)

    with pytest.raises(SchemaStateError, match="not finished"):
        schema_delete(schema)

    assert Schema.objects.filter(pk=schema.pk).exists()
    assert SchemaVersion.objects.filter(schema=schema).count() == 2
    assert set(Execution.objects.filter(schema=schema).values_list("pk", flat=True)) == {execution.pk, finished.pk}
    assert periodic_task(schema) is not None, "the schedule keeps ticking"


@pytest.mark.parametrize("status", [ExecutionStatus.COMPLETED, ExecutionStatus.FAILED, ExecutionStatus.CANCELLED])
def test_deleting_removes_the_schema_its_versions_executions_and_schedule(status: str) -> None:
    schema, _ = cron_schema_with_execution(status)
    other = create_schema(name="Other")
    others_execution, _ = execution_create(schema=other, trigger_type=TriggerType.MANUAL, payload={}, publish=False)

    schema_delete(schema)

    assert not Schema.objects.filter(pk=schema.pk).exists()
    assert not SchemaVersion.objects.filter(schema_id=schema.pk).exists()
    assert not Execution.objects.filter(schema_id=schema.pk).exists()
    assert periodic_task(schema) is None
    assert Execution.objects.filter(pk=others_execution.pk).exists(), "other schemas keep theirs"
    assert SchemaVersion.objects.filter(schema=other).count() == 1


def test_deleting_takes_the_steps_of_finished_executions_along() -> None:
    schema = create_schema()
    execution, _ = execution_create(schema=schema, trigger_type=TriggerType.MANUAL, payload={}, publish=False)
    assert execution_run(str(execution.id), worker_id="w1") == "completed"
    assert ExecutionStep.objects.filter(execution=execution).exists()

    schema_delete(schema)

    assert not ExecutionStep.objects.filter(execution_id=execution.pk).exists()


def test_a_schema_without_executions_is_deleted() -> None:
    schema = create_schema()
    schema_delete(schema)
    assert not Schema.objects.filter(pk=schema.pk).exists()
