"""Sub-schemas: the child executions of `call_schema` and `for_each` nodes on PostgreSQL.

The walker asks the store (`DjangoExecutionStore`) to start children and to read how far they
are; these functions do it. A child is a real execution (`trigger_type` `subflow`) linked to its
parent by `parent_execution`, `parent_node_id` and `parent_key` ("<node>:<attempt>:<item>",
unique per parent), so a walk that starts the same item again — after a crash, a redelivered
message — gets the child it started before. Only the parent's walk starts its children, under
the parent's execution lock (fenced: a walk that lost its lease starts none). A child's end
(completed, failed or cancelled) wakes its parent through the timer path, in the same transaction
as the child's last write: a due `child` timer row, its message published on commit, the
reconciler firing it if the message is lost.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from engine.errors import NodeError
from engine.store import ChildResult
from schemas_app.models import Schema, SchemaStatus, SchemaVersion

from .locks import lease_fence
from .models import FINISHED_STATUSES, Execution, ExecutionStatus, ExecutionTimer, TimerStatus, TriggerType
from .timers import timer_schedule

CHILD_TIMER_REASON = "child"


def _call_depth(execution_id: str) -> int:
    """1 for a top-level execution, 2 for its child, ..."""
    depth, current = 1, Execution.objects.values_list("parent_execution_id", flat=True).get(pk=execution_id)
    while current is not None and depth <= settings.SCHEMA_MAX_CALL_DEPTH:
        depth += 1
        current = Execution.objects.values_list("parent_execution_id", flat=True).get(pk=current)
    return depth


def _target(parent: Execution, spawn: dict[str, Any]) -> tuple[Schema, SchemaVersion | None]:
    """The schema (and pinned version) a node may start: it exists, is not archived, and the
    parent schema's owner may run it (their own schema, or any when they are staff)."""
    refused = NodeError(
        f"schema {spawn['schema_id']!r} does not exist or may not be run by this schema's owner",
        details={"schema_id": str(spawn["schema_id"])},
    )
    try:
        schema_id = uuid.UUID(str(spawn["schema_id"]))
    except ValueError:
        raise refused from None
    target = Schema.objects.filter(pk=schema_id).exclude(status=SchemaStatus.ARCHIVED).first()
    owner = parent.schema.created_by  # None: a schema made by an operator's script may call its likes
    if target is None or not (target.created_by_id == parent.schema.created_by_id or (owner and owner.is_staff)):
        raise refused
    version = spawn.get("version", "current")
    if version == "current":
        return target, None
    pinned = SchemaVersion.objects.filter(schema=target, version=int(version)).first()
    if pinned is None:
        raise NodeError(f"schema {target.name!r} has no version {version}", details={"schema_id": str(target.pk)})
    return target, pinned


def children_start(
    execution_id: str,
    *,
    node_id: str,
    attempt: int,
    spawn: dict[str, Any],
    start: int,
    inputs: list[Any],
    create: Callable[..., tuple[Execution, bool]],
) -> list[str]:
    """`ExecutionStore.start_children` (see `engine.store`): one child per input, started once.
    `create` is `services.execution_create` (passed in: services use this module to cancel and wake)."""
    total = int(spawn.get("total", len(inputs)))
    if total > settings.SCHEMA_MAX_ITEMS:
        raise NodeError(f"{total} items: at most {settings.SCHEMA_MAX_ITEMS} are allowed (SCHEMA_MAX_ITEMS)")
    if _call_depth(execution_id) >= settings.SCHEMA_MAX_CALL_DEPTH:
        raise NodeError(
            f"sub-schemas nested deeper than {settings.SCHEMA_MAX_CALL_DEPTH} levels (SCHEMA_MAX_CALL_DEPTH): "
            "does a schema call itself?"
        )
    parent = Execution.objects.select_related("schema__created_by").get(pk=execution_id)
    target, version = _target(parent, spawn)
    keys = [f"{node_id}:{attempt}:{start + offset}" for offset in range(len(inputs))]
    existing = dict(
        Execution.objects.filter(parent_execution_id=uuid.UUID(str(execution_id)), parent_key__in=keys).values_list(
            "parent_key", "id"
        )
    )
    ids = []
    for key, payload in zip(keys, inputs, strict=True):
        if key in existing:
            ids.append(str(existing[key]))
            continue
        with transaction.atomic():  # linked before it is published (on commit)
            lease_fence(execution_id)  # a walk that lost its lease starts no child
            child, _ = create(
                schema=target,
                trigger_type=TriggerType.SUBFLOW,
                payload=payload,
                created_by=parent.created_by,
                request_id=parent.request_id,
                version=version,
            )
            Execution.objects.filter(pk=child.pk).update(
                parent_execution_id=execution_id, parent_node_id=node_id, parent_key=key
            )
        ids.append(str(child.pk))
    return ids


def _children(execution_id: str, node_id: str, attempt: int) -> Any:
    return Execution.objects.filter(
        parent_execution_id=uuid.UUID(str(execution_id)),
        parent_node_id=node_id,
        parent_key__startswith=f"{node_id}:{attempt}:",
    )


def children_progress(execution_id: str, node_id: str, attempt: int) -> tuple[int, int]:
    finished = _children(execution_id, node_id, attempt).filter(status__in=FINISHED_STATUSES)
    statuses = list(finished.values_list("status", flat=True))
    return len(statuses), sum(1 for s in statuses if s != ExecutionStatus.COMPLETED)


def children_results(execution_id: str, node_id: str, attempt: int) -> list[ChildResult]:
    rows = _children(execution_id, node_id, attempt).filter(status__in=FINISHED_STATUSES)
    results = [
        ChildResult(int(key.rsplit(":", 1)[1]), str(pk), status, result, error)
        for key, pk, status, result, error in rows.values_list("parent_key", "id", "status", "result", "error")
    ]
    return sorted(results, key=lambda r: r.index)


def parent_wake(child_id: str) -> None:
    """The child has finished: a due timer wakes its parent (call inside the child's last write's
    transaction, so the two commit together)."""
    row = Execution.objects.filter(pk=child_id).values_list("parent_execution_id", "parent_node_id").first()
    if row is None or row[0] is None:
        return
    parent = Execution.objects.filter(pk=row[0]).exclude(status__in=FINISHED_STATUSES).only("id", "request_id").first()
    if parent is not None:
        timer_schedule(execution=parent, due_at=timezone.now(), reason=CHILD_TIMER_REASON, node_id=row[1])


def children_cancel(execution: Execution) -> int:
    """Cancels every unfinished descendant of a cancelled execution (their timers too)."""
    cancelled, frontier = 0, [execution.pk]
    while frontier:
        children = list(
            Execution.objects.filter(parent_execution_id__in=frontier)
            .exclude(status__in=FINISHED_STATUSES)
            .values_list("pk", flat=True)
        )
        if children:
            Execution.objects.filter(pk__in=children).update(
                status=ExecutionStatus.CANCELLED, finished_at=timezone.now()
            )
            ExecutionTimer.objects.filter(execution_id__in=children, status=TimerStatus.SCHEDULED).update(
                status=TimerStatus.CANCELLED
            )
        cancelled += len(children)
        frontier = children
    return cancelled
