"""Expressions: scope names, native values, string rendering, sandbox escapes and resource limits."""

from __future__ import annotations

import time

import pytest

from engine.errors import ExpressionError
from engine.expressions import check_syntax, evaluate, evaluate_value, is_truthy

SCOPE = {
    "vars": {"threshold": 10, "name": "Ann"},
    "input": {"rows": [1, 2, 3], "data": {"items": [{"sku": "a"}], "keys": 2, "values": []}},
    "trigger": {"order": {"total": 42}},
    "nodes": {"fetch": {"output": {"status": 200, "body": {"id": 7}}}},
    "execution": {"id": "exec-1"},
}


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("{{ vars.threshold }}", 10),
        ("{{ trigger.order.total > vars.threshold }}", True),
        ("{{ input.rows }}", [1, 2, 3]),
        ("{{ nodes.fetch.output.body }}", {"id": 7}),
        ("  {{ nodes.fetch.output.status + 1 }} ", 201),
        ("{{ execution.id }}", "exec-1"),
        ("Hello {{ vars.name }}!", "Hello Ann!"),
        ("{{ vars.name }} and {{ vars.threshold }}", "Ann and 10"),
        ("{% for i in input.rows %}{{ i }}{% endfor %}", "123"),
        ("{{ range(3) }}", [0, 1, 2]),
        ("{{ trigger.missing }}", None),
        ("no template", "no template"),
        ("{{ (1, 2) }}", [1, 2]),
        ("{{ vars.name ~ '!' }}", "Ann!"),
        # Payload fields named like dict methods are the data, not the method.
        ("{{ input.data.items }}", [{"sku": "a"}]),
        ("{{ input.data['keys'] }}", 2),
        ("{{ input.data.keys }}", 2),
        ("{{ input.data.values | length }}", 0),
        ("{{ trigger.order.items() | list | length }}", 1),
    ],
)
def test_evaluates_templates(template: str, expected: object) -> None:
    assert evaluate(template, SCOPE) == expected


def test_evaluate_value_walks_json_and_names_the_field_on_error() -> None:
    value = {"a": ["{{ vars.threshold * 2 }}", 5], "b": {"c": "x{{ vars.name }}"}}
    assert evaluate_value(value, SCOPE) == {"a": [20, 5], "b": {"c": "xAnn"}}
    with pytest.raises(ExpressionError, match=r"node 'n1' field 'config.a\[0\]'"):
        evaluate_value({"a": ["{{ 1 / 0 }}"]}, SCOPE, node_id="n1", field="config")


@pytest.mark.parametrize(
    "template",
    [
        "{{ ().__class__.__mro__ }}",
        "{{ ().__class__.__mro__[1].__subclasses__() }}",
        "{{ cycler.__init__.__globals__ }}",
        "{{ joiner.__init__.__globals__.os }}",
        "{{ namespace.__init__.__globals__ }}",
        "{{ self.__init__.__globals__ }}",
        "{{ vars.__class__ }}",
        "{{ ''.__class__.__base__.__subclasses__() }}",
        "{{ vars.update({'x': 1}) }}",  # immutable sandbox: no mutation of the context
    ],
)
def test_sandbox_escapes_raise_cleanly(template: str) -> None:
    with pytest.raises(ExpressionError, match=r"field 'config\.url'"):
        evaluate(template, SCOPE, node_id="fetch", field="config.url")


@pytest.mark.parametrize(
    "template",
    [
        "{% for i in range(10**9) %}{% endfor %}",
        "{{ range(10**9)|list }}",
        "{{ 'a' * 10**9 }}",
        "{{ [0] * 10**9 }}",
        "{% for i in range(10000) %}{% for j in range(10000) %}{% endfor %}{% endfor %}",
        "{% set ns = namespace(x='a') %}{% for i in range(64) %}{% set ns.x = ns.x ~ ns.x %}{% endfor %}",
        "{% set ns = namespace(x=[1]) %}{% for i in range(64) %}{% set ns.x = ns.x + ns.x %}{% endfor %}",
        "{% macro f() %}{{ f() }}{% endmacro %}{{ f() }}",
        "{{ 'a'|center(10**9) }}",
        "{{ 'x'.ljust(10**9) }}",
        "{{ '{:>999999999}'.format(1) }}",
        "{{ '%999999999d' % 1 }}",
        "{{ ('a' * 1000).replace('', 'b' * 1000) }}",
        "{{ ('a' * 1000)|replace('', 'b' * 1000) }}",
        "{{ 10 ** 100000 }}",
        "{% for x in range(9000) %}" + "x" * 200 + "{% endfor %}",
    ],
)
def test_resource_limits_stop_runaway_templates_quickly(template: str) -> None:
    started = time.monotonic()
    with pytest.raises(ExpressionError):
        evaluate(template, SCOPE, node_id="n", field="config.message")
    assert time.monotonic() - started < 3.0


def test_template_length_limit() -> None:
    with pytest.raises(ExpressionError, match="longer than"):
        evaluate("{{ 1 }}" + " " * 30_000, SCOPE)
    assert check_syntax("{{ 1 }}" + " " * 30_000) is not None


def test_check_syntax() -> None:
    assert check_syntax("{{ vars.a }}") is None
    assert check_syntax("plain") is None
    assert "syntax" in (check_syntax("{{ vars.a }") or "")
    assert "syntax" in (check_syntax("{% if %}x{% endif %}") or "")
    assert "syntax" in (check_syntax("{{ 1 + }}") or "")


def test_syntax_error_at_runtime_is_expression_error() -> None:
    with pytest.raises(ExpressionError, match="syntax"):
        evaluate("{{ 1 + }}", SCOPE, node_id="a", field="config.x")


@pytest.mark.parametrize(
    ("value", "truthy"),
    [
        (True, True),
        (False, False),
        ("false", False),
        ("0", False),
        ("", False),
        ("yes", True),
        (0, False),
        ([1], True),
    ],
)
def test_is_truthy(value: object, truthy: bool) -> None:
    assert is_truthy(value) is truthy
