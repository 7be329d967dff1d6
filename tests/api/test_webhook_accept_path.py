"""The webhook accept path's cheap parts (issue 6) are equivalent to what they replace: the schema
lookup by jsonb containment, the single-statement execution + state insert, the hand-written
response, and both webhook throttle scopes counted in one statement."""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings as django_settings
from django.db import DataError, connection, transaction
from django.test import override_settings
from django.test.utils import CaptureQueriesContext
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient

from api import throttling
from api.serializers import WebhookExecutionSerializer, webhook_execution_data
from config.prepared import Rider
from executions_app import services
from executions_app import sql as executions_sql
from executions_app.models import Execution, ExecutionState, TriggerType
from schemas_app import sql as schemas_sql
from schemas_app.models import Schema
from schemas_app.selectors import webhook_schema
from schemas_app.sql import has_webhook_trigger
from tests.builders import linear_definition, node
from tests.conftest import requires_postgres
from tests.factories import create_schema

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def orm_path(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[], None]]:
    """Call it to take the portable (non-PostgreSQL) branches, on this database, for comparison."""

    def use() -> None:
        monkeypatch.setattr(connection, "vendor", "other")
        for choice in (executions_sql.queries, schemas_sql.queries):
            choice.cache_clear()

    yield use
    for choice in (executions_sql.queries, schemas_sql.queries):
        choice.cache_clear()


def _row(execution_id: Any) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT e.*, s.current_node_id AS s_node, s.context, s.checkpoint, s.wait_kind, s.resume_at,"
            " s.updated_at IS NOT NULL AS s_updated FROM executions e JOIN execution_state s ON s.execution_id = e.id"
            " WHERE e.id = %s",
            [execution_id],
        )
        names = [c.name for c in cursor.description]
        return dict(zip(names, cursor.fetchone(), strict=True))


# -- the schema lookup ----------------------------------------------------------------------------


@requires_postgres
@pytest.mark.parametrize(
    "nodes",
    [
        [node("start", "webhook_trigger")],
        [node("a", "manual_trigger"), node("start", "webhook_trigger", {"x": 1})],
        [node("start", "manual_trigger")],
        [node("webhook_trigger", "manual_trigger", {"type": "webhook_trigger"})],  # the word elsewhere only
        [{"type": ["webhook_trigger"]}],
        [],
        {"start": {"type": "webhook_trigger"}},  # not a list
        ["webhook_trigger"],
        [[node("start", "webhook_trigger")]],  # nested one level too deep
    ],
)
def test_schema_lookup_by_containment_agrees_with_has_webhook_trigger(user: Any, nodes: Any) -> None:
    schema = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)
    definition = {"nodes": nodes, "edges": [], "variables": {}}
    Schema.objects.filter(pk=schema.pk).update(definition=definition)  # shapes validation would refuse
    schema.definition = definition
    found = webhook_schema(schema.pk)
    assert (found is not None) == has_webhook_trigger(schema)


@requires_postgres
def test_schema_lookup_only_finds_active_webhook_schemas(user: Any, hook_schema: Any) -> None:
    found = webhook_schema(hook_schema.pk)
    assert found is not None
    for field in ("id", "name", "version", "webhook_secret", "webhook_secret_previous"):
        assert getattr(found, field) == getattr(hook_schema, field)
    assert found.webhook_secret_previous_expires_at == hook_schema.webhook_secret_previous_expires_at
    assert webhook_schema(uuid.uuid4()) is None
    draft = create_schema(user=user, definition=linear_definition("webhook_trigger"))
    assert webhook_schema(draft.pk) is None
    manual = create_schema(user=user, definition=linear_definition("manual_trigger"), activate=True)
    assert webhook_schema(manual.pk) is None


def test_schema_lookup_fallback_agrees(user: Any, hook_schema: Any, orm_path: Any) -> None:
    manual = create_schema(user=user, definition=linear_definition("manual_trigger"), activate=True)
    fast = [webhook_schema(hook_schema.pk), webhook_schema(manual.pk)]
    orm_path()
    slow = [webhook_schema(hook_schema.pk), webhook_schema(manual.pk)]
    assert [s and s.pk for s in fast] == [s and s.pk for s in slow] == [hook_schema.pk, None]


# -- execution_create ---------------------------------------------------------------------------


@requires_postgres
def test_create_is_one_statement_and_writes_what_the_orm_path_writes(
    user: Any, hook_schema: Any, published: list[str], orm_path: Any
) -> None:
    kwargs: dict[str, Any] = {
        "schema": hook_schema,
        "trigger_type": TriggerType.WEBHOOK,
        "payload": {"name": "Ada", "n": [1, 2.5, None]},
        "request_id": "req-1",
        "created_by": user,
    }
    services._pinned_version(hook_schema)  # kept per process after the first read
    with CaptureQueriesContext(connection) as queries:
        fast, created = services.execution_create(**kwargs)
    assert created and len(queries.captured_queries) == 1
    assert published == [str(fast.pk)]  # autocommit: the rows are committed, published at once
    assert not fast._state.adding and fast.state is not None and not fast.state._state.adding
    orm_path()
    slow, created = services.execution_create(**kwargs)
    assert created
    fast_row, slow_row = _row(fast.pk), _row(slow.pk)
    for row in (fast_row, slow_row):
        assert row.pop("id") and row.pop("created_at")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    # the fast path stamps its backend for the outbox relay; the ORM path (SQLite) has none to stamp
    assert (fast_row.pop("creator_pid"), slow_row.pop("creator_pid")) == (pid, None)
    assert fast_row == slow_row
    assert json.loads(fast_row["context"]) == {"threshold": 10} and json.loads(fast_row["checkpoint"]) == {}
    # The returned instance is what the database holds.
    fresh = Execution.objects.select_related("state").get(pk=fast.pk)
    for field in Execution._meta.concrete_fields:
        assert getattr(fresh, field.attname) == getattr(fast, field.attname), field.name
    for field in ExecutionState._meta.concrete_fields:
        assert getattr(fresh.state, field.attname) == getattr(fast.state, field.attname), field.name


def test_null_payload_is_sql_null_as_before(hook_schema: Any, published: list[str]) -> None:
    execution, _ = services.execution_create(schema=hook_schema, trigger_type=TriggerType.MANUAL)
    assert Execution.objects.filter(pk=execution.pk, trigger_payload__isnull=True).exists()


def test_idempotency_key_returns_the_first_execution(hook_schema: Any, published: list[str]) -> None:
    first, created = services.execution_create(
        schema=hook_schema, trigger_type=TriggerType.WEBHOOK, payload={"n": 1}, idempotency_key="k-1"
    )
    assert created
    again, created = services.execution_create(
        schema=hook_schema, trigger_type=TriggerType.WEBHOOK, payload={"n": 2}, idempotency_key="k-1"
    )
    assert not created and again.pk == first.pk and again.trigger_payload == {"n": 1}
    assert Execution.objects.count() == ExecutionState.objects.count() == 1
    assert published == [str(first.pk)]  # the repeat publishes nothing
    other, created = services.execution_create(
        schema=hook_schema, trigger_type=TriggerType.WEBHOOK, payload={}, idempotency_key="k-2"
    )
    assert created and other.pk != first.pk


def test_in_a_transaction_publish_waits_for_commit_and_a_failure_keeps_it_usable(
    hook_schema: Any, published: list[str]
) -> None:
    with transaction.atomic():
        execution, _ = services.execution_create(schema=hook_schema, trigger_type=TriggerType.MANUAL)
        assert published == []
        with pytest.raises(DataError):  # request_id is at most 64 characters
            services.execution_create(schema=hook_schema, trigger_type=TriggerType.MANUAL, request_id="x" * 65)
        assert Execution.objects.filter(pk=execution.pk).exists()  # the transaction still works
    assert published == [str(execution.pk)]


def test_rerun_keeps_the_pinned_version_and_the_link(hook_schema: Any, published: list[str]) -> None:
    first, _ = services.execution_create(schema=hook_schema, trigger_type=TriggerType.WEBHOOK, payload={"a": 1})
    rerun = services.execution_rerun(first)
    stored = Execution.objects.get(pk=rerun.pk)
    assert stored.rerun_of_id == first.pk and stored.schema_version_id == first.schema_version_id
    assert stored.trigger_payload == {"a": 1} and stored.trigger_type == "webhook"


# -- the response -------------------------------------------------------------------------------


def test_hand_written_answer_equals_the_serializer(user: Any, hook_schema: Any, published: list[str]) -> None:
    first, _ = services.execution_create(
        schema=hook_schema, trigger_type=TriggerType.WEBHOOK, payload={"name": "Ada", "ü": [1, 2.5]}
    )
    rerun, _ = services.execution_create(
        schema=hook_schema,
        trigger_type=TriggerType.WEBHOOK,
        payload=None,
        created_by=user,
        rerun_of=first,
        request_id="r",
    )
    for execution in (first, rerun):
        mine = webhook_execution_data(execution)
        theirs = WebhookExecutionSerializer(execution).data
        assert mine == theirs
        assert list(mine) == list(theirs)
        stored = Execution.objects.select_related("schema", "schema_version", "state").get(pk=execution.pk)
        assert mine == WebhookExecutionSerializer(stored).data
        assert JSONRenderer().render(mine) == JSONRenderer().render(theirs)
        assert "context" not in mine


def test_the_202_body_is_the_serializers(anon_client: APIClient, hook_schema: Any, published: list[str]) -> None:
    response = anon_client.post(
        f"/api/hooks/{hook_schema.id}/",
        data=json.dumps({"name": "Ada"}),
        content_type="application/json",
        HTTP_X_SCHEMA_SECRET=hook_schema.webhook_secret,
        HTTP_X_REQUEST_ID="trace-me",
    )
    assert response.status_code == 202, response.content
    stored = Execution.objects.select_related("schema", "schema_version", "state").get(pk=response.json()["id"])
    expected = json.loads(JSONRenderer().render(WebhookExecutionSerializer(stored).data))
    assert response.json() == expected
    assert stored.request_id == "trace-me"


# -- the combined throttle ----------------------------------------------------------------------


def rates(**enabled: str | None) -> Any:
    all_off = {"user": None, "anon": None, "login": None, "webhook": None, "webhook_ip": None}
    return override_settings(
        REST_FRAMEWORK={**django_settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": {**all_off, **enabled}}
    )


def _hits() -> dict[str, int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT bucket, hits FROM api_throttle")
        return {str(bucket): int(hits) for bucket, hits in cursor.fetchall()}


def _deliver(client: APIClient, schema: Any, ip: str) -> Any:
    return client.post(
        f"/api/hooks/{schema.id}/",
        data=b"{}",
        content_type="application/json",
        HTTP_X_SCHEMA_SECRET=schema.webhook_secret,
        REMOTE_ADDR=ip,
    )


@requires_postgres
def test_both_webhook_scopes_are_counted_in_one_statement(
    anon_client: APIClient, hook_schema: Any, published: list[str]
) -> None:
    with rates(webhook="10/min", webhook_ip="10/min"), CaptureQueriesContext(connection) as queries:
        assert _deliver(anon_client, hook_schema, "192.0.2.1").status_code == 202
    throttle_statements = [q["sql"] for q in queries.captured_queries if "api_throttle" in q["sql"]]
    assert len(throttle_statements) == 1
    assert _hits() == {f"webhook:{hook_schema.id}": 1, "webhook_ip:192.0.2.1": 1}


@requires_postgres
def test_with_both_scopes_the_schema_is_read_in_the_rate_limit_statement(
    anon_client: APIClient, user: Any, hook_schema: Any, published: list[str]
) -> None:
    """Two statements per delivery: count both scopes + read the schema, then insert."""
    assert _deliver(anon_client, hook_schema, "192.0.2.1").status_code == 202  # the version is cached now
    published.clear()
    with rates(webhook="10/min", webhook_ip="10/min"), CaptureQueriesContext(connection) as queries:
        response = _deliver(anon_client, hook_schema, "192.0.2.1")
    assert response.status_code == 202 and response.json()["schema_name"] == hook_schema.name
    statements = [q["sql"] for q in queries.captured_queries]
    assert len(statements) == 2, [q[:90] for q in statements]
    assert "api_throttle" in statements[0] and "FROM schemas" in statements[0]
    assert published == [response.json()["id"]]

    # Unknown, draft and non-webhook schemas: the same 404, each delivery still counted in both scopes.
    draft = create_schema(user=user, definition=linear_definition("webhook_trigger"))
    manual = create_schema(user=user, definition=linear_definition("manual_trigger"), activate=True)
    unknown = Schema(id=uuid.uuid4(), webhook_secret="x")
    with rates(webhook="10/min", webhook_ip="10/min"), CaptureQueriesContext(connection) as queries:
        codes = [_deliver(anon_client, schema, "192.0.2.1").status_code for schema in (unknown, draft, manual)]
    assert codes == [404, 404, 404]
    assert len(queries.captured_queries) == 3  # one statement each: nothing more for a 404
    assert _hits()["webhook_ip:192.0.2.1"] == 4
    assert _hits()[f"webhook:{unknown.id}"] == 1


@requires_postgres
def test_a_rider_comes_back_with_the_counts() -> None:
    now = 1_000_000 * 60.0
    rider = Rider("SELECT %s::int AS a, %s::text AS b", [7, "seven"])
    assert throttling.hit_many([("b", 60, now), ("a", 1, now)], rider=rider) == {"a": (1, 0), "b": (1, 0)}
    assert rider.fetched and rider.row == (7, "seven")
    nothing = Rider("SELECT 1 AS a WHERE false", [])
    assert throttling.hit_many([("a", 1, now), ("b", 60, now)], rider=nothing) == {"a": (2, 0), "b": (2, 0)}
    assert nothing.fetched and nothing.row is None
    null_row = Rider("SELECT NULL::int AS a", [])  # a row of NULLs is still a row
    throttling.hit_many([("a", 1, now), ("b", 60, now)], rider=null_row)
    assert null_row.row == (None,)


def test_a_refused_scope_undoes_only_its_own_hit(
    anon_client: APIClient, user: Any, hook_schema: Any, published: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [1_000_000 * 60.0]
    monkeypatch.setattr(throttling._SharedThrottle, "timer", staticmethod(lambda: now[0]))
    other = create_schema(user=user, definition=linear_definition("webhook_trigger"), activate=True)
    with rates(webhook="2/min", webhook_ip="3/min"):
        codes = [_deliver(anon_client, hook_schema, "192.0.2.1").status_code for _ in range(3)]
        assert codes == [202, 202, 429]
        # The schema scope refused the third: its hit is undone; the IP scope allowed it: kept.
        assert _hits() == {f"webhook:{hook_schema.id}": 2, "webhook_ip:192.0.2.1": 3}
        response = _deliver(anon_client, other, "192.0.2.1")  # now the IP scope refuses
        assert response.status_code == 429 and response.json()["type"] == "throttled"
        assert _hits() == {f"webhook:{hook_schema.id}": 2, f"webhook:{other.id}": 1, "webhook_ip:192.0.2.1": 3}
        both = _deliver(anon_client, hook_schema, "192.0.2.1")  # both refuse: both undone
        assert both.status_code == 429
        assert _hits() == {f"webhook:{hook_schema.id}": 2, f"webhook:{other.id}": 1, "webhook_ip:192.0.2.1": 3}
        # Retry-After is the longer of the two waits (as DRF's check_throttles does).
        waits = [
            throttling.seconds_until_allowed(2, 0, 2, 60, now[0]),
            throttling.seconds_until_allowed(3, 0, 3, 60, now[0]),
        ]
        assert int(both["Retry-After"]) == max(1, math.ceil(max(waits)))
        assert Execution.objects.count() == 2


def test_a_disabled_scope_is_not_counted(anon_client: APIClient, hook_schema: Any, published: list[str]) -> None:
    with rates(webhook="5/min", webhook_ip=None):
        assert _deliver(anon_client, hook_schema, "192.0.2.9").status_code == 202
    assert _hits() == {f"webhook:{hook_schema.id}": 1}
    with rates(webhook=None, webhook_ip=None):
        assert _deliver(anon_client, hook_schema, "192.0.2.9").status_code == 202
    assert _hits() == {f"webhook:{hook_schema.id}": 1}


def test_hit_many_counts_each_key_like_hit() -> None:
    now = 1_000_000 * 60.0
    assert throttling.hit_many([("b", 60, now), ("a", 1, now)]) == {"a": (1, 0), "b": (1, 0)}
    assert throttling.hit_many([("a", 1, now), ("b", 60, now)]) == {"a": (2, 0), "b": (2, 0)}
    assert throttling.hit("a", 1, now + 1) == (1, 2)  # the next one-second window: 2 in the previous
    assert throttling.hit_many([("a", 1, now + 1), ("b", 60, now + 61)]) == {"a": (2, 2), "b": (1, 2)}


# -- Django's browser middlewares, skipped where machines call ------------------------------------


def test_webhooks_and_probes_skip_the_browser_middlewares_other_paths_keep_them(
    user: Any, hook_schema: Any, published: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from django.contrib.auth.middleware import AuthenticationMiddleware
    from django.contrib.messages.middleware import MessageMiddleware
    from django.contrib.sessions.middleware import SessionMiddleware

    ran: list[str] = []
    for cls in (SessionMiddleware, AuthenticationMiddleware, MessageMiddleware):
        original = cls.process_request

        def spy(self: Any, request: Any, _original: Any = original, _name: str = cls.__name__) -> Any:
            ran.append(_name)
            return _original(self, request)

        monkeypatch.setattr(cls, "process_request", spy)
    client = APIClient()
    client.force_login(user)  # a browser's session cookie rides along: still not read

    hooked = client.post(
        f"/api/hooks/{hook_schema.id}/",
        data=b"{}",
        content_type="application/json",
        HTTP_X_SCHEMA_SECRET=hook_schema.webhook_secret,
    )
    assert hooked.status_code == 202, hooked.content
    assert len(published) == 1
    assert client.get("/api/health/live").status_code == 200
    assert ran == []
    assert "Set-Cookie" not in hooked.headers

    session = client.get("/api/auth/session/")  # the editor's own calls: sessions and auth as before
    assert session.status_code == 200 and session.json()["authenticated"] is True
    assert sorted(set(ran)) == ["AuthenticationMiddleware", "MessageMiddleware", "SessionMiddleware"]
