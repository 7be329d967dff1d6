"""The per-process caches of schema versions stay bounded in size, whatever the definitions weigh."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from executions_app import services, store
from executions_app.immutable_cache import ImmutableRowCache
from executions_app.models import ExecutionState, TriggerType
from tests.builders import linear_definition
from tests.factories import create_schema


def test_the_cache_never_holds_more_than_its_bound() -> None:
    cache: ImmutableRowCache[int, str] = ImmutableRowCache(100, len)
    loads: list[int] = []

    def load(key: int, size: int) -> str:
        loads.append(key)
        return "x" * size

    assert cache.get(1, lambda: load(1, 40)) == "x" * 40
    assert cache.get(1, lambda: load(1, 40)) == "x" * 40  # kept
    cache.get(2, lambda: load(2, 40))
    assert loads == [1, 2] and cache.bytes == 80 and len(cache) == 2
    cache.get(3, lambda: load(3, 40))  # would make 120: start over
    assert cache.bytes == 40 and len(cache) == 1
    cache.get(1, lambda: load(1, 40))  # read again
    assert loads == [1, 2, 3, 1] and cache.bytes == 80
    assert cache.get(4, lambda: load(4, 101)) == "x" * 101  # too big to keep at all: returned, not kept
    assert cache.bytes == 80 and len(cache) == 2
    for key in range(10, 60):
        cache.get(key, lambda key=key: load(key, 30))  # type: ignore[misc]
        assert cache.bytes <= 100


@pytest.mark.django_db(transaction=True)
def test_the_pinned_version_cache_keeps_the_variables_not_the_definition(
    user: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(services, "publish_execution", lambda execution_id, **_: None)
    services._PINNED.clear()
    definition = linear_definition("webhook_trigger")
    definition["variables"] = {"greeting": "hello", "limit": 3}
    definition["nodes"][2]["config"]["message"] = "n" * 200_000  # a heavy definition
    schema = create_schema(user=user, definition=definition, activate=True)

    first, _ = services.execution_create(schema=schema, trigger_type=TriggerType.WEBHOOK, payload={})
    assert 0 < services._PINNED.bytes < 10_000, "the 200 kB definition is not held"
    with CaptureQueriesContext(connection) as queries:
        second, _ = services.execution_create(schema=schema, trigger_type=TriggerType.WEBHOOK, payload={})
    assert not any("schema_versions" in q["sql"] for q in queries.captured_queries), "the version is not read again"
    for execution in (first, second):
        assert ExecutionState.objects.get(execution=execution).context == {"greeting": "hello", "limit": 3}
        assert execution.schema_version.version == schema.version
        # The execution's version is its own instance: loading its definition does not fill the cache.
        assert execution.schema_version.definition["variables"] == {"greeting": "hello", "limit": 3}
    assert first.schema_version is not second.schema_version
    assert services._PINNED.bytes < 10_000


@pytest.mark.django_db(transaction=True)
def test_the_worker_definition_cache_is_bounded(user: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    bounded: ImmutableRowCache[int, str] = ImmutableRowCache(50_000, len)
    monkeypatch.setattr(store, "_DEFINITIONS", bounded)
    versions = []
    for n in range(4):
        definition = linear_definition("manual_trigger")
        definition["nodes"][2]["config"]["message"] = str(n) * 20_000
        versions.append(create_schema(user=user, definition=definition, activate=True).versions.get().pk)
    for version_id in versions:
        assert str(versions.index(version_id)) * 20_000 in store._definition_text(version_id)
        assert bounded.bytes <= 50_000
    assert len(bounded) < len(versions)
