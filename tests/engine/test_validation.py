"""Definition validation: each problem kind located by path and id; never raises on any JSON."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from engine.nodes import NODE_TYPES
from engine.validation import validate_definition
from tests.builders import chain, definition, edge, linear_definition, node


def problems(data: Any) -> list[tuple[str, str | None, str | None, str]]:
    return [(p.path, p.node_id, p.edge_id, p.message) for p in validate_definition(data)]


def paths(data: Any) -> list[str]:
    return [p.path for p in validate_definition(data)]


def valid() -> dict[str, Any]:
    return chain(
        node("start", "manual_trigger"),
        node("greet", "set", {"assignments": [{"name": "g", "value": "{{ 1 }}"}]}),
        node("done", "end", {"output": "{{ vars.g }}"}),
    )


def test_valid_definition_has_no_problems() -> None:
    assert validate_definition(valid()) == []


def test_branching_definition_is_valid() -> None:
    d = definition(
        [
            node("t", "webhook_trigger"),
            node("c", "condition", {"expression": "{{ trigger.x }}"}),
            node("s", "switch", {"value": "{{ trigger.k }}", "cases": [{"port": "a", "value": 1}]}),
            node("h", "http_request", {"url": "https://example.com"}, on_error="error"),
            node("end1", "end"),
            node("end2", "end"),
            node("f", "fail"),
        ],
        [
            edge("t", "c"),
            edge("c", "s", "true"),
            edge("c", "h", "false"),
            edge("s", "end1", "a"),
            edge("s", "end2", "default"),
            edge("h", "f", "error"),
            edge("h", "end2"),
        ],
    )
    assert validate_definition(d) == []


def test_malformed_structure() -> None:
    assert paths(None) == [""]
    assert paths([]) == [""]
    assert problems({}) == [("nodes", None, None, "nodes is required")]
    assert "nodes" in paths({"nodes": "x"})
    result = paths({"nodes": [1, {"type": "log"}, {"id": "a"}], "edges": {}, "variables": []})
    assert {"variables", "nodes[0]", "nodes[1].id", "nodes[2].type", "edges"} <= set(result)


def test_duplicate_ids_and_unknown_type() -> None:
    d = valid()
    d["nodes"].append(node("greet", "log", {"message": "x"}))
    d["nodes"].append(node("other", "teleport"))
    d["edges"].append(dict(d["edges"][0]))
    found = problems(d)
    assert ("nodes[3].id", "greet", None, "duplicate node id 'greet'") in found
    assert ("nodes[4].type", "other", None, "unknown node type 'teleport'") in found
    assert any(p[0] == "edges[2].id" and p[2] == d["edges"][0]["id"] and "duplicate" in p[3] for p in found)


def test_every_config_error_is_reported_with_its_path() -> None:
    d = chain(
        node("start", "manual_trigger"),
        node(
            "fetch",
            "http_request",
            {"url": "", "method": "BREW", "timeout_seconds": 0, "expected_status": [99, "abc"], "extra": 1},
        ),
    )
    found = {p[0] for p in problems(d) if p[1] == "fetch"}
    assert {
        "nodes[1].config.url",
        "nodes[1].config.method",
        "nodes[1].config.timeout_seconds",
        "nodes[1].config.expected_status[0]",
        "nodes[1].config.expected_status[1]",
        "nodes[1].config.extra",
    } <= found
    missing = problems(chain(node("s", "manual_trigger"), node("f", "http_request")))
    assert missing == [("nodes[1].config.url", "f", None, "Fill in Url.")]


def test_semantic_config_checks() -> None:
    d = definition([node("s", "schedule_trigger", {"cron": "bad cron", "timezone": "Mars/Base"})], [])
    assert paths(d) == ["nodes[0].config.cron", "nodes[0].config.timezone"]


def test_bad_expression_syntax_is_located() -> None:
    d = chain(
        node("start", "manual_trigger"),
        node("greet", "set", {"assignments": [{"name": "a", "value": {"deep": ["{{ 1 + }}"]}}]}),
    )
    assert ("nodes[1].config.assignments[0].value.deep[0]", "greet") in [(p[0], p[1]) for p in problems(d)]


def test_bad_retry_policy_and_on_error() -> None:
    d = chain(
        node("start", "manual_trigger"),
        node(
            "log",
            "log",
            {"message": "x"},
            retry={"max_attempts": 0, "backoff": "linear", "base_seconds": 10, "max_seconds": 5, "bogus": 1},
            on_error="ignore",
        ),
    )
    found = set(paths(d))
    assert {
        "nodes[1].retry.max_attempts",
        "nodes[1].retry.backoff",
        "nodes[1].retry.max_seconds",
        "nodes[1].retry.bogus",
        "nodes[1].on_error",
    } <= found


def test_dangling_edges_and_unknown_ports() -> None:
    d = valid()
    d["nodes"].insert(2, node("check", "condition", {"expression": "{{ 1 }}"}))
    d["edges"] = [
        edge("start", "greet"),
        edge("greet", "check"),
        edge("check", "done", "maybe"),
        edge("check", "done", "true"),
        edge("ghost", "done"),
        edge("greet", "nowhere"),
        edge("greet", "done", "error"),
    ]
    found = [(p[0], p[2]) for p in problems(d)]
    assert ("edges[2].source_port", "check-maybe-done") in found
    assert ("edges[4].source", "ghost-out-done") in found
    assert ("edges[5].target", "greet-out-nowhere") in found
    assert ("edges[6].source_port", "greet-error-done") in found  # `error` only with on_error=error


def test_switch_case_ports_are_valid_sources() -> None:
    d = definition(
        [
            node("t", "manual_trigger"),
            node("s", "switch", {"value": "x", "cases": [{"port": "big", "value": 1}]}),
            node("e", "end"),
        ],
        [edge("t", "s"), edge("s", "e", "big"), edge("s", "e", "small")],
    )
    assert paths(d) == ["edges[2].source_port"]


def test_trigger_count_and_edges_into_triggers() -> None:
    d = chain(node("greet", "set", {"assignments": []}), node("done", "end"))
    assert "nodes" in paths(d)
    d = valid()
    d["nodes"].append(node("hook", "webhook_trigger"))
    d["edges"].append(edge("greet", "hook"))
    found = [(p[0], p[1] or p[2]) for p in problems(d)]
    assert ("nodes[3].type", "hook") in found
    assert ("edges[2].target", "greet-out-hook") in found


def test_unreachable_nodes_and_cycles() -> None:
    d = valid()
    d["nodes"] += [
        node("island", "log", {"message": "x"}),
        node("a", "log", {"message": "a"}),
        node("b", "log", {"message": "b"}),
    ]
    d["edges"] += [edge("greet", "a"), edge("a", "b"), edge("b", "a")]
    found = [(p[0], p[1] or p[2], p[3]) for p in problems(d)]
    unconnected = "node 'island' is not reachable from the trigger: connect it to the trigger's path"
    assert ("nodes[3]", "island", unconnected) in found
    assert any(f[0] == "edges[4]" and "cycle" in f[2] for f in found)


def test_all_problems_are_returned_at_once() -> None:
    d = chain(node("start", "manual_trigger"), node("x", "nope"), node("f", "http_request", {"url": "{{"}))
    d["edges"].append(edge("x", "ghost"))
    assert len(validate_definition(d)) >= 3


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=10), children, max_size=5),
    max_leaves=30,
)
node_like = st.fixed_dictionaries(
    {
        "id": st.one_of(st.text(max_size=3), st.integers(), st.none()),
        "type": st.sampled_from([*NODE_TYPES, "x"]) | json_values,
        "config": json_values | st.fixed_dictionaries({"url": st.text(max_size=10), "cases": json_values}),
        "retry": json_values,
        "on_error": json_values,
    },
)
definition_like = st.fixed_dictionaries(
    {
        "nodes": st.lists(node_like, max_size=6) | json_values,
        "edges": st.lists(
            st.fixed_dictionaries(
                {
                    "id": json_values,
                    "source": st.text(max_size=3) | json_values,
                    "target": st.text(max_size=3),
                    "source_port": json_values,
                }
            ),
            max_size=6,
        )
        | json_values,
        "variables": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(json_values, definition_like))
def test_never_raises_on_arbitrary_json(data: Any) -> None:
    found = validate_definition(data)
    assert isinstance(found, list)
    for problem in found:
        assert isinstance(problem.path, str) and isinstance(problem.message, str)
        assert not problem.message.startswith("could not validate")


def test_sticky_notes_are_checked_for_shape_only_and_never_run() -> None:
    definition = linear_definition()
    definition["notes"] = [
        {"id": "note_1", "text": "Ask finance before changing the URL", "position": {"x": 10, "y": -40}},
        {"id": "note_2", "text": "", "position": {"x": 0, "y": 0}, "width": 300, "height": 160, "color": "yellow"},
    ]
    assert validate_definition(definition) == []
    first_node = definition["nodes"][0]["id"]
    definition["notes"] = [
        {"id": first_node, "text": "x", "position": {"x": 0, "y": 0}},
        {"id": "n", "text": 5, "position": {"x": "0", "y": 0}, "width": 10},
        "note",
    ]
    problems = validate_definition(definition)
    assert [(p.path, p.incomplete) for p in problems] == [
        ("notes[0].id", False),
        ("notes[1].text", False),
        ("notes[1].position", False),
        ("notes[1].width", False),
        ("notes[2]", False),
    ]
    assert validate_definition({**linear_definition(), "notes": {}})[0].path == "notes"
    assert "at most 200 notes" in validate_definition({**linear_definition(), "notes": [{}] * 201})[0].message
