"""Execution policies: the schema settings that govern how its executions are run.

They live in the definition (`definition["settings"]`, format in docs/contracts.md), so they are
versioned and pinned with it: an execution obeys the settings of the version it started with,
like its graph. This module is the pure part: parsing, validation (every problem located, in plain
words) and the concurrency key. Enforcing them is the host's work (executions_app/admission.py,
executions_app/policies.py).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .expressions import check_syntax, evaluate, has_template

SETTINGS_KEY = "settings"
MAX_CONCURRENCY_LIMIT = 10_000
MAX_TIMEOUT_SECONDS = 366 * 24 * 3600  # a year: longer waits belong to a schedule, not a timeout
MAX_KEY_TEMPLATE = 500
MAX_KEY_LENGTH = 255  # the stored key (executions.concurrency_key)
SETTING_NAMES = (
    "max_concurrency",
    "concurrency_key",
    "hold_slot_while_paused",
    "timeout_seconds",
    "error_schema",
    "when_paused",
    "priority",
    "max_call_priority",
)
WHEN_PAUSED = ("queue", "refuse")  # what a trigger call does while the schema is paused
MIN_PRIORITY, DEFAULT_PRIORITY, MAX_PRIORITY = 0, 5, 9  # higher starts first
HIGH_PRIORITY = 7  # from here an execution's start goes to the priority queue (taken ahead of a backlog)


@dataclass(frozen=True)
class ExecutionPolicy:
    """The parsed settings; every field None/False when not set."""

    max_concurrency: int | None = None
    concurrency_key: str | None = None  # an expression, e.g. "{{ trigger.customer_id }}"
    hold_slot_while_paused: bool = False
    timeout_seconds: int | None = None
    error_schema: str | None = None  # a schema id
    when_paused: str = "queue"  # while the schema is paused, webhook and manual calls are queued or refused
    priority: int = DEFAULT_PRIORITY
    max_call_priority: int | None = None  # how high one trigger call may raise it (None: to `priority`)

    @property
    def limited(self) -> bool:
        return self.max_concurrency is not None


NO_POLICY = ExecutionPolicy()


def _int(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != int(value):
        return None
    return int(value)


def settings_problems(definition: Any) -> list[tuple[str, str]]:
    """(path, message) for each malformed setting; nothing when the settings are absent."""
    if not isinstance(definition, dict) or definition.get(SETTINGS_KEY) is None:
        return []
    raw = definition[SETTINGS_KEY]
    if not isinstance(raw, dict):
        return [(SETTINGS_KEY, "settings must be an object")]
    problems: list[tuple[str, str]] = []
    for name in raw:
        if name not in SETTING_NAMES:
            problems.append((f"{SETTINGS_KEY}.{name}", f"unknown setting (known: {', '.join(SETTING_NAMES)})"))
    limit = raw.get("max_concurrency")
    if limit is not None and not (_int(limit) is not None and 1 <= _int(limit) <= MAX_CONCURRENCY_LIMIT):  # type: ignore[operator]
        problems.append(
            (
                f"{SETTINGS_KEY}.max_concurrency",
                f"max_concurrency must be a whole number from 1 to {MAX_CONCURRENCY_LIMIT}",
            )
        )
    key = raw.get("concurrency_key")
    if key is not None and key != "":
        path = f"{SETTINGS_KEY}.concurrency_key"
        if not isinstance(key, str):
            problems.append((path, "concurrency_key must be a text, e.g. {{ trigger.customer_id }}"))
        elif len(key) > MAX_KEY_TEMPLATE:
            problems.append((path, f"concurrency_key is longer than {MAX_KEY_TEMPLATE} characters"))
        else:
            error = check_syntax(key) if has_template(key) else None
            if error:
                problems.append((path, error))
            if limit is None:
                problems.append((path, "concurrency_key needs max_concurrency (the limit per key)"))
    hold = raw.get("hold_slot_while_paused")
    if hold is not None and not isinstance(hold, bool):
        problems.append((f"{SETTINGS_KEY}.hold_slot_while_paused", "hold_slot_while_paused must be true or false"))
    timeout = raw.get("timeout_seconds")
    if timeout is not None and not (_int(timeout) is not None and 1 <= _int(timeout) <= MAX_TIMEOUT_SECONDS):  # type: ignore[operator]
        problems.append(
            (
                f"{SETTINGS_KEY}.timeout_seconds",
                f"timeout_seconds must be a whole number from 1 to {MAX_TIMEOUT_SECONDS}",
            )
        )
    when_paused = raw.get("when_paused")
    if when_paused is not None and when_paused not in WHEN_PAUSED:
        problems.append((f"{SETTINGS_KEY}.when_paused", 'when_paused must be "queue" or "refuse"'))
    for name in ("priority", "max_call_priority"):
        value = raw.get(name)
        if value is not None and not (_int(value) is not None and MIN_PRIORITY <= _int(value) <= MAX_PRIORITY):  # type: ignore[operator]
            problems.append(
                (f"{SETTINGS_KEY}.{name}", f"{name} must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}")
            )
    target = raw.get("error_schema")
    if target is not None and target != "":
        try:
            uuid.UUID(str(target))
            if not isinstance(target, str):
                raise ValueError
        except ValueError:
            problems.append((f"{SETTINGS_KEY}.error_schema", "error_schema must be the id of a schema"))
    return problems


def execution_policy(definition: Any) -> ExecutionPolicy:
    """The policy of a (validated) definition; NO_POLICY when it has no settings. Cheap when absent:
    the worker calls it for every walk."""
    raw = definition.get(SETTINGS_KEY) if isinstance(definition, dict) else None
    if not raw or not isinstance(raw, dict) or settings_problems(definition):
        return NO_POLICY
    key = raw.get("concurrency_key")
    timeout = raw.get("timeout_seconds")
    return ExecutionPolicy(
        max_concurrency=_int(raw.get("max_concurrency")),
        concurrency_key=key if isinstance(key, str) and key else None,
        hold_slot_while_paused=bool(raw.get("hold_slot_while_paused")),
        timeout_seconds=_int(timeout) if timeout is not None else None,
        error_schema=str(raw["error_schema"]) if raw.get("error_schema") else None,
        when_paused=str(raw.get("when_paused") or "queue"),
        priority=_int(raw["priority"]) if raw.get("priority") is not None else DEFAULT_PRIORITY,  # type: ignore[arg-type]
        max_call_priority=_int(raw.get("max_call_priority")),
    )


def call_priority(policy: ExecutionPolicy, requested: Any = None) -> int:
    """The priority of one trigger call: the schema's, or the one the call asks for — lower freely,
    higher only up to `max_call_priority`. ValueError (in plain words) for anything else."""
    if requested is None or requested == "":
        return policy.priority
    value = (
        _int(requested)
        if not isinstance(requested, str)
        else _int(int(requested))
        if requested.strip().lstrip("-").isdigit()
        else None
    )
    if value is None or not MIN_PRIORITY <= value <= MAX_PRIORITY:
        raise ValueError(f"priority must be a whole number from {MIN_PRIORITY} to {MAX_PRIORITY}")
    ceiling = max(
        policy.priority, policy.max_call_priority if policy.max_call_priority is not None else policy.priority
    )
    if value > ceiling:
        raise ValueError(
            f"priority {value} is above what this schema allows a call ({ceiling}: settings.max_call_priority)"
        )
    return value


def concurrency_key(policy: ExecutionPolicy, trigger_payload: Any, variables: dict[str, Any]) -> str | None:
    """The key an execution is counted under: None when the schema has no limit, "" for one limit
    for the whole schema, else the key expression's value as text (an expression that fails, or
    gives nothing, counts under "" — the whole schema's limit still holds)."""
    if not policy.limited:
        return None
    if not policy.concurrency_key:
        return ""
    scope = {"trigger": trigger_payload, "vars": variables, "input": trigger_payload, "nodes": {}}
    try:
        value = evaluate(policy.concurrency_key, scope, field="settings.concurrency_key")
    except Exception:  # noqa: BLE001 - a key that cannot be computed falls back to the schema-wide key
        return ""
    if value is None:
        return ""
    return (value if isinstance(value, str) else str(value))[:MAX_KEY_LENGTH]
