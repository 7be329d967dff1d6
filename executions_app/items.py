"""The inputs of a node's child executions (`for_each` items, a `call_schema` input), kept apart.

The walker saves them once when the node runs and reads a slice each time it starts more children
(`ExecutionStore.save_items` / `load_items`); the checkpoint keeps only the loop's progress, so its
size — rewritten at every checkpoint — does not grow with the number of items. The rows go with
their execution (cascade).
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from engine.errors import NodeError

from .models import ExecutionItem


def items_save(execution_id: str, *, node_id: str, attempt: int, inputs: list[Any]) -> None:
    """One `execution_items` row per input, written once: a repeated save (a walk repeated after a
    crash) keeps the rows there, with which the children already started were started."""
    if len(inputs) > settings.SCHEMA_MAX_ITEMS:
        raise NodeError(f"{len(inputs)} items: at most {settings.SCHEMA_MAX_ITEMS} are allowed (SCHEMA_MAX_ITEMS)")
    ExecutionItem.objects.bulk_create(
        (
            ExecutionItem(execution_id=execution_id, node_id=node_id, attempt=attempt, index=index, payload=payload)
            for index, payload in enumerate(inputs)
        ),
        batch_size=1000,
        ignore_conflicts=True,
    )


def items_load(execution_id: str, *, node_id: str, attempt: int, start: int, count: int) -> list[Any]:
    """The saved inputs `start` .. `start + count - 1`, in order."""
    rows = ExecutionItem.objects.filter(
        execution_id=execution_id, node_id=node_id, attempt=attempt, index__gte=start, index__lt=start + count
    ).order_by("index")
    return list(rows.values_list("payload", flat=True))
