"""factory-boy factories and definition builders used across the test suite."""

from __future__ import annotations

from typing import Any

import factory

from accounts.models import User
from schemas_app import services as schema_services
from schemas_app.models import Schema


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


def node(node_id: str, node_type: str, config: dict[str, Any] | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "name": node_id,
        "config": config or {},
        "position": {"x": 0, "y": 0},
        **extra,
    }


def edge(source: str, target: str, port: str = "out", edge_id: str | None = None) -> dict[str, Any]:
    return {"id": edge_id or f"{source}-{port}-{target}", "source": source, "target": target, "source_port": port}


def linear_definition(trigger: str = "manual_trigger") -> dict[str, Any]:
    """trigger -> set(greeting) -> log -> end: a small valid schema."""
    return {
        "nodes": [
            node("start", trigger),
            node("greet", "set", {"assignments": [{"name": "greeting", "value": "Hello {{ trigger.name }}"}]}),
            node("note", "log", {"level": "info", "message": "{{ vars.greeting }}"}),
            node("done", "end", {"output": "{{ vars.greeting }}"}),
        ],
        "edges": [edge("start", "greet"), edge("greet", "note"), edge("note", "done")],
        "variables": {"threshold": 10},
    }


def create_schema(
    *, user: User | None = None, definition: dict[str, Any] | None = None, name: str = "Greeter", activate: bool = False
) -> Schema:
    schema = schema_services.schema_create(name=name, definition=definition or linear_definition(), created_by=user)
    if activate:
        schema_services.schema_activate(schema)
    return schema
