"""factory-boy factories, the schema maker and the beat-entry lookup shared by the Django tests.

The definition builders live in `tests.builders` (no Django, so the engine tests share them); `node`,
`edge` and `linear_definition` are re-exported for modules not yet switched to `tests.builders`.
"""

from __future__ import annotations

from typing import Any

import factory
from django_celery_beat.models import PeriodicTask

from accounts.models import User
from schemas_app import services as schema_services
from schemas_app.models import Schema
from tests.builders import edge, linear_definition, node

__all__ = ["UserFactory", "create_schema", "edge", "linear_definition", "node", "periodic_task"]


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"user{n}@example.com")
    password = factory.PostGenerationMethodCall("set_password", "s3cret-pass")

    @factory.post_generation
    def _save(obj: User, create: bool, extracted: Any, **kwargs: Any) -> None:
        if create:
            obj.save()


def create_schema(
    *, user: User | None = None, definition: dict[str, Any] | None = None, name: str = "Greeter", activate: bool = False
) -> Schema:
    schema = schema_services.schema_create(name=name, definition=definition or linear_definition(), created_by=user)
    if activate:
        schema_services.schema_activate(schema)
    return schema


def periodic_task(schema: Schema) -> PeriodicTask | None:
    """Beat's entry of the schema's cron trigger (`schemas_app.schedules`), if it has one."""
    return PeriodicTask.objects.select_related("crontab").filter(name=f"schema:{schema.id}").first()
