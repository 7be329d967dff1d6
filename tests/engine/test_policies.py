"""The pure part of execution policies (`engine/policies.py`): what settings are accepted, the parsed
policy, and the concurrency key an execution is counted under. No database."""

from __future__ import annotations

from typing import Any

from engine.policies import NO_POLICY, concurrency_key, execution_policy, settings_problems


def _def(settings: Any) -> dict[str, Any]:
    return {"nodes": [], "edges": [], "settings": settings}


def test_no_settings_is_no_policy_and_no_problem() -> None:
    assert execution_policy({"nodes": []}) is NO_POLICY
    assert execution_policy(_def(None)) is NO_POLICY
    assert settings_problems({"nodes": []}) == [] and settings_problems(_def({})) == []


def test_every_malformed_setting_is_located() -> None:
    problems = dict(
        settings_problems(
            _def(
                {
                    "max_concurrency": 1.5,
                    "timeout_seconds": 0,
                    "hold_slot_while_paused": "yes",
                    "error_schema": "not-an-id",
                    "priority": 12,  # 0-9
                }
            )
        )
    )
    assert set(problems) == {
        "settings.max_concurrency",
        "settings.timeout_seconds",
        "settings.hold_slot_while_paused",
        "settings.error_schema",
        "settings.priority",
    }
    assert "whole number from 1" in problems["settings.max_concurrency"]
    key_alone = dict(settings_problems(_def({"concurrency_key": "{{ trigger.id }}"})))
    assert "needs max_concurrency" in key_alone["settings.concurrency_key"]
    assert settings_problems(_def({"max_concurrency": True})) != []  # a boolean is not a number
    assert settings_problems(_def("fast")) == [("settings", "settings must be an object")]


def test_a_valid_policy_is_parsed() -> None:
    policy = execution_policy(
        _def({"max_concurrency": 2, "concurrency_key": "{{ trigger.c }}", "timeout_seconds": 30.0})
    )
    assert (policy.max_concurrency, policy.concurrency_key, policy.timeout_seconds) == (2, "{{ trigger.c }}", 30)
    assert policy.limited and not policy.hold_slot_while_paused and policy.error_schema is None


def test_the_concurrency_key() -> None:
    keyed = execution_policy(_def({"max_concurrency": 1, "concurrency_key": "{{ trigger.customer.id }}"}))
    assert concurrency_key(keyed, {"customer": {"id": 42}}, {}) == "42"
    assert concurrency_key(keyed, {"customer": {}}, {}) == ""  # nothing: the schema-wide key
    assert concurrency_key(keyed, None, {}) == ""  # an expression that fails: the schema-wide key
    assert concurrency_key(keyed, {"customer": {"id": "x" * 400}}, {}) == "x" * 255
    assert concurrency_key(execution_policy(_def({"max_concurrency": 1})), {"a": 1}, {}) == ""
    assert concurrency_key(NO_POLICY, {"a": 1}, {}) is None
