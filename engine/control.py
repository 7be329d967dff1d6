"""Control actions on an execution's checkpoint: resume a `wait` with a payload, retry a failed step.

Pure functions the API service and the walker share. A resume is checked against the committed
checkpoint (`resume_target`), recorded by the store, and applied to the checkpoint by the walk that
owns it (`apply_resumes`) — so it works while other branches are running. A retry rewrites the
checkpoint of a failed execution (`prepare_retry`) inside the service's transaction; the walker then
continues from there. Wrong states raise `InvalidTransition` (→ 409).
Cancel needs no checkpoint change: the service marks the execution cancelled (paused/pending) or
requests cancellation (running), which the walker observes through `ExecutionStore.is_cancelled`.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterable
from typing import Any

from engine.errors import InvalidTransition
from engine.store import Checkpoint, ExecutionSnapshot, waiting_entries

RESUMABLE_STATUSES = frozenset({"pending", "running", "paused"})


def resume_target(snapshot: ExecutionSnapshot, node_id: str | None = None, recorded: Collection[str] = ()) -> str:
    """The `wait` node a resume is for: `node_id`, or the only open wait. Raises `InvalidTransition`
    when the execution has finished, does not wait there, or that wait was resumed already
    (`recorded`: wait nodes with a resume recorded but not applied yet).

    Any unfinished execution may be resumed, also while other branches run: the resume is recorded
    (the store's `resumes`) and the walk that owns the checkpoint applies it (`apply_resumes`)."""
    if snapshot.status not in RESUMABLE_STATUSES:
        raise InvalidTransition(f"the execution is {snapshot.status}: only an unfinished execution can be resumed")
    waits = [w for w in waiting_entries(snapshot.checkpoint) if w.get("kind") == "wait"]
    if not waits:
        raise InvalidTransition("only an execution paused at a wait node can be resumed")
    done = {w["node_id"] for w in waits if w.get("resumed")} | set(recorded)
    open_waits = [w["node_id"] for w in waits if w["node_id"] not in done]
    if node_id is not None:
        if node_id in done:
            raise InvalidTransition(f"the wait node {node_id!r} was already resumed")
        if node_id not in open_waits:
            names = ", ".join(repr(n) for n in open_waits) or "none"
            raise InvalidTransition(f"node {node_id!r} is not a wait node this execution waits at (waiting: {names})")
        return node_id
    if not open_waits:
        raise InvalidTransition("the execution was already resumed")
    if len(open_waits) > 1:
        names = ", ".join(repr(n) for n in open_waits)
        raise InvalidTransition(f"several branches wait ({names}): say which one with node_id")
    return str(open_waits[0])


def open_waits(checkpoint: Checkpoint) -> list[str]:
    """The `wait` nodes of a checkpoint that wait for a resume (not resumed yet)."""
    return [w["node_id"] for w in waiting_entries(checkpoint) if w.get("kind") == "wait" and not w.get("resumed")]


def apply_resumes(checkpoint: Checkpoint, resumes: Iterable[tuple[str, Any]]) -> int:
    """Marks each open `wait` named by `resumes` ((node id, payload), oldest first) resumed, with
    its payload as the node's output; returns how many. Idempotent: a resume whose wait was resumed
    or has finished is ignored (each node runs at most once), so a recorded resume may be applied by
    every walk until one of them committed it."""
    applied = 0
    entries = {w["node_id"]: w for w in waiting_entries(checkpoint) if w.get("kind") == "wait"}
    for node_id, payload in resumes:
        entry = entries.get(node_id)
        if entry is not None and not entry.get("resumed"):
            entry.update({"resumed": True, "payload": payload})
            applied += 1
    return applied


def prepare_retry(snapshot: ExecutionSnapshot) -> Checkpoint:
    """Checkpoint that runs the failed node again (next attempt number, fresh retry budget)."""
    failed = snapshot.checkpoint.get("failed")
    if snapshot.status != "failed" or not failed:
        raise InvalidTransition("only an execution that failed at a node can be retried")
    checkpoint = copy.deepcopy(snapshot.checkpoint)
    item = dict(failed["item"])
    item.update({"attempt": int(failed["attempt"]) + 1, "tries": 1})
    checkpoint["queue"].insert(0, item)
    checkpoint["failed"] = None
    return checkpoint
