"""Hostile expressions through the API: each one is a failed step with a clear error, the execution
fails, the worker (eager here: this very process) keeps going and the next execution is fine.

The engine-level cases are in tests/engine/test_expressions.py; these go through the whole path
(API → Celery task → walker → node → sandbox → step row) and also check the process did not pay
for the attempt in memory: every amplification is refused *before* it allocates.
"""

from __future__ import annotations

import resource
import time
from typing import Any

import pytest
from rest_framework.test import APIClient

from tests.builders import edge, linear_definition, node
from tests.factories import create_schema
from tests.security.conftest import step

pytestmark = pytest.mark.django_db(transaction=True)

HOSTILE = {
    "class-mro": "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "globals": "{{ cycler.__init__.__globals__.os.system('id') }}",
    "self-globals": "{{ self.__init__.__globals__ }}",
    "format-attr": "{{ '{0.__class__.__init__.__globals__}'.format(vars) }}",
    "attr-filter": "{{ vars|attr('__class__') }}",
    "mutate-context": "{{ vars.update({'pwned': 1}) }}",
    "huge-range": "{{ range(10**9)|list }}",
    "huge-string": "{{ 'a' * 10**9 }}",
    "huge-power": "{{ 10 ** (10 ** 10) }}",
    "nested-loops": "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
    "doubling": "{% set ns = namespace(x='a') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
    "recursion": "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
    "join-separator": "{{ range(10000)|join('x' * 99999) }}",
    "indent": "{{ ('a\\n' * 400000)|indent(99999, true) }}",
    "expandtabs": "{{ ('\\t' * 900000).expandtabs(99999) }}",
    "format-widths": "{{ ('{0:99999}' * 100000).format(1) }}",
    "percent-widths": "{{ ('%99999s' * 100000) % ((1,) * 100000) }}",
    "shared-references": "{{ ['x' * 999999] * 1000 }}",
    "concat-references": "{{ (['x' * 999999] * 1000) ~ '' }}",
    "division": "{{ 1 / 0 }}",
}


def hostile_definition(expression: str) -> dict[str, Any]:
    return {
        "nodes": [
            node("start", "manual_trigger"),
            node("boom", "set", {"assignments": [{"name": "x", "value": expression}]}),
            node("done", "end", {"output": "{{ vars.x }}"}),
        ],
        "edges": [edge("start", "boom"), edge("boom", "done")],
    }


def max_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_expression_fails_the_step_cleanly(api: APIClient, user: Any, name: str) -> None:
    rss_before = max_rss_mib()
    schema = create_schema(user=user, definition=hostile_definition(HOSTILE[name]))
    started = time.monotonic()
    response = api.post(f"/api/schemas/{schema.id}/execute/", {"payload": {}}, format="json")
    elapsed = time.monotonic() - started
    assert response.status_code == 202, response.content
    execution_id = response.json()["id"]
    execution = api.get(f"/api/executions/{execution_id}/").json()
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()

    assert execution["status"] == "failed"
    boom = step(steps, "boom")
    assert boom["status"] == "failed"
    assert boom["error"].startswith("node 'boom' field 'config.assignments[0].value': "), boom["error"]
    assert boom["output"]["error"]["type"] == "ExpressionError"
    assert "node 'boom' failed" in execution["error"]
    assert "pwned" not in execution["context"]
    assert [s["node_id"] for s in steps] == ["start", "boom"]  # nothing after the failed node ran
    assert elapsed < 10, f"{name} took {elapsed:.1f}s"
    assert max_rss_mib() - rss_before < 300, "the attempt must be refused before allocating"

    # The worker is fine: the next execution runs normally.
    good = create_schema(user=user, definition=linear_definition())
    after = api.post(f"/api/schemas/{good.id}/execute/", {"payload": {"name": "Ada"}}, format="json").json()
    assert api.get(f"/api/executions/{after['id']}/").json()["status"] == "completed"


def test_hostile_expression_in_an_http_url_never_calls_out(api: APIClient, user: Any) -> None:
    definition = {
        "nodes": [
            node("start", "manual_trigger"),
            node("call", "http_request", {"url": "http://{{ cycler.__init__.__globals__ }}/"}),
        ],
        "edges": [edge("start", "call")],
    }
    schema = create_schema(user=user, definition=definition)
    execution_id = api.post(f"/api/schemas/{schema.id}/execute/", {}, format="json").json()["id"]
    steps = api.get(f"/api/executions/{execution_id}/steps/").json()
    assert "blocked by the sandbox" in step(steps, "call")["error"]


def test_expression_errors_in_a_definition_are_a_400_with_the_location(api: APIClient) -> None:
    definition = hostile_definition("{{ " + "[" * 500 + "]" * 500 + " }}")
    definition["nodes"].append(node("other", "log", {"message": "{{ unclosed"}))
    definition["edges"].append(edge("done", "other"))
    response = api.post("/api/schemas/", {"name": "bad", "definition": definition}, format="json")
    assert response.status_code == 201  # a draft saves unfinished, with what is left located
    located = {(e["node_id"], e["path"]) for e in response.json()["problems"]}
    assert ("other", "nodes[3].config.message") in located
    assert any(e["node_id"] == "boom" for e in response.json()["problems"]), response.json()
    activated = api.post(f"/api/schemas/{response.json()['id']}/activate/")
    assert activated.status_code == 400
    body = activated.json()
    assert body["type"] == "validation_error"
    assert {(e["node_id"], e["path"]) for e in body["errors"]} == located
