"""`manage.py seed_demo` loads valid schemas and history in every finished status, plus one live
execution per schema, and is idempotent."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from accounts.models import User
from executions_app.models import Execution, ExecutionStep
from schemas_app.models import Schema
from schemas_app.validation import definition_problems


@pytest.mark.django_db(transaction=True)
def test_seed_demo_is_valid_complete_and_idempotent() -> None:
    call_command("seed_demo")
    user = User.objects.get(email="demo@schema.local")
    assert user.is_staff and user.check_password("demo")
    schemas = list(Schema.objects.all())
    assert len(schemas) >= 4
    assert {s.status for s in schemas} >= {"active", "draft"}
    for schema in schemas:
        assert definition_problems(schema.definition) == []
    statuses = set(Execution.objects.values_list("status", flat=True))
    assert {"completed", "failed", "cancelled", "paused"} <= statuses  # paused: the real approval run
    assert ExecutionStep.objects.filter(status="failed").exclude(error=None).exists()
    count = Execution.objects.count()
    call_command("seed_demo")
    assert Execution.objects.count() == count
