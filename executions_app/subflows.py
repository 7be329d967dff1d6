"""Sub-schemas: the child executions of `call_schema` and `for_each` nodes on PostgreSQL.

The walker asks the store (`DjangoExecutionStore`) to start children and to read how far they
are; these functions do it. A child is a real execution (`trigger_type` `subflow`) linked to its
parent by `parent_execution`, `parent_node_id` and `parent_key` ("<node>:<attempt>:<item>",
unique per parent), so a walk that starts the same item again — after a crash, a redelivered
message — gets the child it started before. Only the parent's walk starts its children, under
the parent's execution lock (fenced: a walk that lost its lease starts none). A child's end
(completed, failed or cancelled) wakes its parent through the timer path, in the same transaction
as the child's last write: a due `child` timer row, its message published on commit (not when a
walk holds the parent then: see `_wake_unless_walked`), the reconciler firing it if the message is
lost. A parent's walk takes every wake-up pending when it reads its children's progress and marks
them fired once its next checkpoint committed, so one walk serves a batch of ended children and
their other messages find nothing to do; a wake-up arriving while the parent is being walked is
not retried: that walk reads the progress again before it pauses, and its worker looks for
wake-ups left after it let go of the lock (executions_app/runner.py).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Collection
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Case, Count, FloatField, Q, Value, When
from django.utils import timezone

from engine.errors import NodeError
from engine.store import ChildResult
from schemas_app.models import Schema, SchemaStatus, SchemaVersion

from .dispatch import publish_execution
from .locks import is_locked_elsewhere, lease_fence
from .models import FINISHED_STATUSES, Execution, ExecutionStatus, ExecutionTimer, TimerStatus, TriggerType

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


ChildTarget = tuple[Execution, Schema, SchemaVersion | None]  # the parent, the schema, its pinned version


def children_target(execution_id: str, spawn: dict[str, Any]) -> ChildTarget:
    """What a node's children are started from, once checked: not too many items, not too deep,
    a schema the parent schema's owner may run (`NodeError` otherwise). The same for every batch of
    the node: the store keeps it for the rest of its walk."""
    total = int(spawn.get("total", 1))
    if total > settings.SCHEMA_MAX_ITEMS:
        raise NodeError(f"{total} items: at most {settings.SCHEMA_MAX_ITEMS} are allowed (SCHEMA_MAX_ITEMS)")
    if _call_depth(execution_id) >= settings.SCHEMA_MAX_CALL_DEPTH:
        raise NodeError(
            f"sub-schemas nested deeper than {settings.SCHEMA_MAX_CALL_DEPTH} levels (SCHEMA_MAX_CALL_DEPTH): "
            "does a schema call itself?"
        )
    parent = Execution.objects.select_related("schema__created_by").get(pk=execution_id)
    target, version = _target(parent, spawn)
    return parent, target, version


def children_start(
    execution_id: str,
    *,
    node_id: str,
    attempt: int,
    start: int,
    inputs: list[Any],
    target: ChildTarget,
    create: Callable[..., tuple[Execution, bool]],
) -> list[str]:
    """`ExecutionStore.start_children` (see `engine.store`): one child per input, started once, the
    batch in one transaction. `target`: `children_target`'s answer. `create` is
    `services.execution_create` (passed in: services use this module to cancel and wake)."""
    parent, schema, version = target
    keys = [f"{node_id}:{attempt}:{start + offset}" for offset in range(len(inputs))]
    existing = dict(
        Execution.objects.filter(parent_execution_id=uuid.UUID(str(execution_id)), parent_key__in=keys).values_list(
            "parent_key", "id"
        )
    )
    ids = dict(existing)
    if len(ids) < len(keys):
        with transaction.atomic():  # the batch in one transaction, each linked before it is published (on commit)
            lease_fence(execution_id)  # a walk that lost its lease starts no child
            for key, payload in zip(keys, inputs, strict=True):
                if key in ids:
                    continue
                child, _ = create(
                    schema=schema,
                    trigger_type=TriggerType.SUBFLOW,
                    payload=payload,
                    created_by=parent.created_by,
                    request_id=parent.request_id,
                    version=version,
                    parent_link=(execution_id, node_id, key),  # linked by its insert, before it is published
                )
                ids[key] = child.pk
    return [str(ids[key]) for key in keys]


def _children(execution_id: str, node_id: str, attempt: int) -> Any:
    return Execution.objects.filter(
        parent_execution_id=uuid.UUID(str(execution_id)),
        parent_node_id=node_id,
        parent_key__startswith=f"{node_id}:{attempt}:",
    )


def children_progress(execution_id: str, node_id: str, attempt: int) -> tuple[int, int]:
    finished = _children(execution_id, node_id, attempt).filter(status__in=FINISHED_STATUSES)
    counts = finished.aggregate(done=Count("id"), failed=Count("id", filter=~Q(status=ExecutionStatus.COMPLETED)))
    return int(counts["done"]), int(counts["failed"])


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
    if parent is None:
        return
    due = timezone.now()
    timer = ExecutionTimer.objects.create(execution=parent, due_at=due, reason=CHILD_TIMER_REASON, node_id=row[1])
    parent_id, timer_id, request_id = str(parent.pk), timer.id, parent.request_id
    transaction.on_commit(lambda: _wake_unless_walked(parent_id, timer_id, request_id, due))


def _wake_unless_walked(parent_id: str, timer_id: int, request_id: str, due: Any) -> None:
    """After the wake-up row committed: its message, unless a live walk holds the parent. That walk
    takes the row: it reads the progress before it pauses, and its worker looks for rows left once
    it let go of the lock — which it does after this read, so after this row committed. (A walk
    frozen past its lease: the reconciler fires the row, as any overdue timer.) Spares a publish,
    a delivery and a busy lock attempt per child while its parent keeps walking."""
    if is_locked_elsewhere(parent_id):
        return
    publish_execution(parent_id, eta=due, timer_id=timer_id, request_id=request_id)


def child_wakeups_pending(execution_id: str) -> list[int]:
    """The `child` wake-ups of this execution that no walk has taken yet (ids of scheduled rows).
    Read before the children's progress: a wake-up row commits with its child's end, so every child
    these stand for is seen finished by the progress read that follows."""
    rows = ExecutionTimer.objects.filter(
        execution_id=execution_id, reason=CHILD_TIMER_REASON, status=TimerStatus.SCHEDULED
    )
    return list(rows.values_list("id", flat=True))


def child_wakeups_taken(timer_ids: Collection[int]) -> list[float]:
    """Marks these wake-ups fired once a checkpoint written after their progress read committed
    (so a fired `child` timer always stands for a saved progress: its message has nothing to do).
    Returns their lateness in seconds (for the metric)."""
    now = timezone.now()
    rows = ExecutionTimer.objects.filter(pk__in=list(timer_ids), status=TimerStatus.SCHEDULED)
    lateness = {pk: max(0.0, (now - due).total_seconds()) for pk, due in rows.values_list("id", "due_at")}
    if lateness:
        rows.filter(pk__in=list(lateness)).update(
            status=TimerStatus.FIRED,
            fired_at=now,
            lateness_ms=Case(
                *(When(pk=pk, then=Value(s * 1000)) for pk, s in lateness.items()), output_field=FloatField()
            ),
        )
    return list(lateness.values())


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
