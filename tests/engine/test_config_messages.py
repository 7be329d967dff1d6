"""What a person reads when a node is not filled in: plain words naming the form's fields, and
which problems only mark a draft unfinished (saved, but not activated or run)."""

from __future__ import annotations

from typing import Any

from engine.validation import validate_definition
from tests.builders import chain, definition, edge, node


def messages(data: Any) -> dict[str, str]:
    return {p.path: p.message for p in validate_definition(data)}


def test_an_empty_condition_names_both_ways_to_fill_it_in() -> None:
    found = messages(chain(node("t", "manual_trigger"), node("check", "condition", {})))
    assert found == {"nodes[1].config": "Set Expression, or Left and Operator."}


def test_a_delay_with_both_duration_and_until_says_use_one() -> None:
    found = messages(chain(node("t", "manual_trigger"), node("d", "delay", {"duration_seconds": 5, "until": "x"})))
    assert found["nodes[1].config"] == "Use only one of Duration seconds, or Until."


def test_an_empty_required_string_counts_as_missing() -> None:
    found = messages(chain(node("t", "manual_trigger"), node("say", "log", {"message": "  "})))
    assert found == {"nodes[1].config.message": "Fill in Message."}
    found = messages(chain(node("t", "manual_trigger"), node("say", "log", {})))
    assert found == {"nodes[1].config.message": "Fill in Message."}


def test_fields_inside_lists_are_named_with_their_position() -> None:
    d = chain(node("t", "manual_trigger"), node("s", "set", {"assignments": [{"name": "a", "value": 1}, {"value": 2}]}))
    assert messages(d) == {"nodes[1].config.assignments[1].name": "Fill in Assignments 2: Name."}


def test_wrong_values_say_what_is_expected() -> None:
    d = chain(
        node("t", "manual_trigger"),
        node("call", "http_request", {"url": "https://x.test", "method": "BREW", "timeout_seconds": "soon", "x": 1}),
    )
    found = messages(d)
    assert found["nodes[1].config.method"].startswith("Method must be one of: GET, ")
    assert "Timeout seconds must be" in found["nodes[1].config.timeout_seconds"]
    assert found["nodes[1].config.x"] == "'x' is not a setting of this node."
    assert not any("valid under" in m or "required property" in m for m in found.values())


def test_unfinished_problems_are_marked_incomplete_and_malformed_ones_are_not() -> None:
    unfinished = definition(
        [node("t", "manual_trigger"), node("say", "log", {}), node("loose", "log", {"message": "hi"})],
        [edge("t", "say")],
    )
    problems = validate_definition(unfinished)
    assert problems and all(p.incomplete for p in problems)
    assert {p.node_id for p in problems} == {"say", "loose"}
    no_trigger = definition([node("say", "log", {"message": "hi"})], [])
    assert all(p.incomplete for p in validate_definition(no_trigger))

    malformed = definition([node("t", "manual_trigger"), node("t", "teleport")], [edge("t", "nowhere")])
    assert validate_definition(malformed) and not any(p.incomplete for p in validate_definition(malformed))
