"""The demo data (`manage.py seed_demo`) is what the engine would have produced, loads without
internet, leaves nothing that calls out on start-up, and every action the editor offers on a
seeded execution works (no 409, no 500)."""

from __future__ import annotations

import socket
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlparse

import pytest
from django.core.management import call_command
from rest_framework.test import APIClient

from accounts.models import User
from executions_app import services, timers
from executions_app.models import Execution, ExecutionStatus
from schemas_app.models import Schema, SchemaStatus

pytestmark = pytest.mark.django_db(transaction=True)

LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Runs seed_demo with no network (any name lookup or outbound connection fails) and records
    what it publishes to the broker (each message would start work on `make run`)."""

    def offline(*args: Any, **kwargs: Any) -> Any:
        raise OSError("no network in this test")

    published: list[str] = []
    with monkeypatch.context() as patch:
        patch.setattr(socket, "getaddrinfo", offline)
        patch.setattr(socket, "create_connection", offline)
        patch.setattr(services, "publish_execution", lambda execution_id, **_: published.append(execution_id))
        patch.setattr(timers, "publish_execution", lambda execution_id, **_: published.append(execution_id))
        call_command("seed_demo")
    yield published


def _definition(execution: Execution) -> dict[str, Any]:
    return execution.schema_version.definition  # type: ignore[no-any-return]


def test_nothing_is_left_to_run_or_call_out_at_start_up(seeded: list[str]) -> None:
    assert seeded == [], "seed_demo published executions: the worker would run them at start-up"
    assert not Execution.objects.filter(status__in=[ExecutionStatus.PENDING, ExecutionStatus.RUNNING]).exists()
    for schema in Schema.objects.filter(status=SchemaStatus.ACTIVE):
        nodes = schema.definition["nodes"]
        if not any(node["type"] == "schedule_trigger" for node in nodes):
            continue
        for node in nodes:
            if node["type"] == "http_request":
                host = urlparse(str(node["config"].get("url", ""))).hostname
                assert host in LOCAL_HOSTS, f"{schema.name} calls {host} on its schedule"


def test_steps_follow_the_graph_one_branch_per_node(seeded: list[str]) -> None:
    executions = list(Execution.objects.select_related("schema_version"))
    assert len(executions) >= 10
    for execution in executions:
        definition = _definition(execution)
        types = {node["id"]: node["type"] for node in definition["nodes"]}
        steps = list(execution.steps.order_by("seq"))
        assert steps, execution.schema.name
        assert [s.seq for s in steps] == list(range(1, len(steps) + 1))
        assert types[steps[0].node_id].endswith("_trigger")
        ran: list[str] = []
        branches: dict[str, set[str]] = defaultdict(set)  # node → the ports its successors ran on
        for step in steps:
            assert step.node_type == types[step.node_id], (execution.schema.name, step.node_id)
            assert step.started_at is not None and step.finished_at is not None
            assert execution.created_at <= step.started_at <= step.finished_at
            if ran and step.node_id not in ran:
                sources = [e for e in definition["edges"] if e["target"] == step.node_id and e["source"] in ran]
                assert sources, f"{execution.schema.name}: {step.node_id} ran without a predecessor"
                for edge in sources:
                    branches[edge["source"]].add(edge.get("source_port") or "out")
            ran.append(step.node_id)
        for node_id, ports in branches.items():
            assert len(ports) == 1, f"{execution.schema.name}: {node_id} continued on {sorted(ports)}"


def test_failed_steps_blame_the_node_that_failed(seeded: list[str]) -> None:
    failed = list(Execution.objects.filter(status=ExecutionStatus.FAILED).select_related("state", "schema_version"))
    assert failed
    for execution in failed:
        last = execution.steps.order_by("-seq").first()
        assert last is not None and last.status == "failed" and last.error
        assert execution.state.current_node_id == last.node_id
        assert execution.state.checkpoint["failed"]["node_id"] == last.node_id
        assert execution.error
    for execution in Execution.objects.select_related("schema_version"):
        definition = _definition(execution)
        for step in execution.steps.filter(status="failed"):
            node = next(n for n in definition["nodes"] if n["id"] == step.node_id)
            if step.node_type != "http_request":
                assert "HTTP" not in (step.error or ""), f"{step.node_id} ({step.node_type}) blamed for {step.error}"
            others = [n["id"] for n in definition["nodes"] if n["id"] != node["id"]]
            assert not [o for o in others if f"'{o}'" in (step.error or "")], step.error


def _offers(execution: dict[str, Any], which: str) -> list[tuple[str, dict[str, Any] | None]]:
    """The buttons frontend/src/pages/ExecutionPage.tsx shows for this execution."""
    finished = execution["status"] in ("completed", "failed", "cancelled")
    if which == "cancel":
        return [] if finished else [("cancel", None)]
    actions: list[tuple[str, dict[str, Any] | None]] = []
    if execution["status"] == "failed":
        actions.append(("retry", None))
    if execution["status"] == "paused" and any(w["kind"] == "wait" for w in execution["waiting"]):
        actions.append(("resume", {"payload": {"decision": "yes"}}))
    return actions


@pytest.mark.parametrize("which", ["retry-or-resume", "cancel"])
def test_every_action_offered_on_a_seeded_execution_works(seeded: list[str], which: str) -> None:
    client = APIClient()
    client.force_authenticate(User.objects.get(email="demo@schema.local"))
    listed = client.get("/api/executions/?page_size=200").json()["results"]
    assert {e["status"] for e in listed} >= {"completed", "failed", "cancelled", "paused"}
    offered = 0
    for item in listed:
        execution = client.get(f"/api/executions/{item['id']}/").json()
        assert client.get(f"/api/executions/{item['id']}/steps/").status_code == 200
        if execution["status"] == "paused":
            assert [w["kind"] for w in execution["waiting"]] == ["wait"], execution
        for action, body in _offers(execution, which):
            offered += 1
            response = client.post(f"/api/executions/{item['id']}/{action}/", body, format="json")
            assert response.status_code == 202, (execution["schema_name"], action, response.content[:300])
    assert offered >= 1


def test_reset_loads_the_same_history_again(seeded: list[str]) -> None:
    before = sorted(Execution.objects.values_list("schema__name", "status"))
    call_command("seed_demo", "--reset")
    assert sorted(Execution.objects.values_list("schema__name", "status")) == before
