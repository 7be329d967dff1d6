"""The durable graph walker: runs an execution from its last checkpoint until it ends or pauses.

`walk(store, execution_id)` is what the worker task calls (after taking the lease). It
walks many steps in one call and checkpoints through the `ExecutionStore`:

* Steps of pure nodes are batched; a checkpoint is flushed before and right after every
  side-effecting node and when the walk stops, so a crash loses at most re-runnable pure work and
  never re-records a success step. A side-effecting node interrupted by a crash runs again with
  the same idempotency key `"{execution_id}:{node_id}:{attempt}"`.
* Branches are independent: when a node's chosen port has several edges every target starts (a
  queue item per ready branch). Side-effecting nodes that are ready on different branches run
  concurrently, at most `branch_concurrency` at once (threads; every node's own deadline bounds
  them), and are recorded in queue order once all of them finished. Each node runs at most once.
* Joins (a node with several inbound edges) use dead-path elimination: every edge is signalled
  once — live when its source took that port, dead when the source took another port or is itself
  dead — and the node runs when every inbound edge is signalled and one of them is live (`merge`
  `first`: on the first live arrival, later ones become `skipped` steps). Input: the one arrived
  output, or an object keyed by predecessor id in edge order (`merge` `append`: a list). Checkpoints
  of version 1 keep the old rule (a join runs on its first arrival). Every finished node's output is
  visible as `nodes.<id>.output`. Cycles are rejected by validation.
* `delay`, `wait` and retry back-off pause only their branch (an entry of the checkpoint's
  `waiting` list, with its own timer); other branches go on. A `wait` is resumed through the store
  (`resumes`: recorded by the API, also while this walk runs), read when the walk starts and
  again before it pauses. A branch waiting on child executions (`call_schema`, `for_each`) reads
  their progress the same way: when the walk starts and again before it pauses, taking every child
  finished meanwhile in one batch and starting the next ones. The execution pauses when every live
  branch waits (the store schedules the earliest timer in the same transaction), completes when no
  branch is left or at an `end` node (which drops the other branches), and fails when a branch fails
  without an `error` port (side effects already in flight on other branches are recorded first).
* Node errors retry per the node's policy, then follow the `error` port (`on_error: error`) or
  fail the execution. A failed step records the node's message as its `error` and the type and
  details as its output (`engine.errors.step_failure`); an exception that is not an `EngineError`
  is a bug of ours: a generic sentence, its traceback only under the staff-only output key.
* Cancellation is checked before every step.
"""

from __future__ import annotations

import contextvars
import re
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from random import Random
from typing import Any

from engine.control import apply_resumes, open_waits
from engine.errors import DefinitionError, NodeError, fail_node_output, step_failure
from engine.graph import ERROR_PORT, Graph, NodeSpec
from engine.limits import MAX_EXECUTION_BYTES, MAX_STEP_BYTES, ValueTooLarge, json_safe, safe_text
from engine.nodes import NODE_TYPES, NodeContext, NodeResult, NodeServices, NodeType
from engine.retry import RetryPolicy
from engine.store import (
    TERMINAL_STATUSES,
    Checkpoint,
    ExecutionSnapshot,
    ExecutionStore,
    OwnershipLost,
    StepRecord,
    Waiting,
)

CHECKPOINT_VERSION = 2
DEFAULT_BRANCH_CONCURRENCY = 8
MAX_CHILDREN_ROUNDS = 20  # batches of finished children one walk takes before it pauses (saves progress)
# How a sub-schema's failure reads in its caller's error (the message above this line's use).
_CHILD_FAILED = re.compile(
    r"(?:the sub-schema|item \d+) failed \(execution [^,()]+, \w+\)(?: through (\d+) nested sub-schema runs?)?: "
)


def innermost_cause(error: str) -> tuple[str, int]:
    """A child's error that is itself a sub-schema's failure, shortened to its innermost cause and the
    number of runs in between: ten nested calls read as one sentence, not ten (each run keeps its own
    error for whoever follows the links)."""
    links = list(_CHILD_FAILED.finditer(error))
    if not links:
        return error, 0
    return error[links[-1].end() :], sum(1 + int(link.group(1) or 0) for link in links)


_DUE_NOW = datetime.min.replace(tzinfo=UTC)  # a resumed `wait`: its branch continues at once


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class WalkOutcome:
    """What one call did. `running` means the step budget ran out: publish the execution again."""

    status: str  # completed | failed | paused | cancelled | running
    steps: int  # steps recorded by this call
    resume_at: datetime | None = None
    error: str | None = None


@dataclass
class _Ran:
    """One node run of a concurrent batch: its result or exception, and when it ran."""

    item: dict[str, Any]
    node: NodeSpec
    started: datetime
    t0: float
    t1: float = 0.0
    result: NodeResult | None = None
    exc: Exception | None = None


def walk(
    store: ExecutionStore,
    execution_id: str,
    *,
    services: NodeServices | None = None,
    clock: Callable[[], datetime] = utc_now,
    node_types: dict[str, NodeType] | None = None,
    max_steps: int = 10_000,
    batch_size: int = 200,
    rng: Random | None = None,
    branch_concurrency: int = DEFAULT_BRANCH_CONCURRENCY,
) -> WalkOutcome:
    """Continues `execution_id` from its checkpoint. Idempotent for finished or not-yet-due executions."""
    walk = _Walk(
        store=store,
        execution_id=execution_id,
        services=services or NodeServices(),
        clock=clock,
        node_types=node_types or NODE_TYPES,
        max_steps=max_steps,
        batch_size=batch_size,
        rng=rng,
        branch_concurrency=max(1, branch_concurrency),
    )
    return walk.run()


def initial_checkpoint(graph: Graph, trigger_node_id: str, trigger_payload: Any) -> Checkpoint:
    return {
        "v": CHECKPOINT_VERSION,
        "vars": dict(graph.variables),
        "outputs": {},
        "queue": [{"node_id": trigger_node_id, "input": trigger_payload, "attempt": 1, "tries": 1}],
        "scheduled": [trigger_node_id],
        "joins": {},
        "seq": 0,
        "last_output": None,
        "result": None,
        "waiting": [],
        "failed": None,
    }


def upgrade_checkpoint(state: Checkpoint) -> Checkpoint:
    """Reads a version-1 checkpoint (an execution paused or failed before branches were
    independent) as version 2: its one waiting entry becomes the list's only entry (a retry takes
    its item from the queue's head) and its joins keep running on the first arrival."""
    if int(state.get("v", 1)) >= CHECKPOINT_VERSION:
        return state
    waiting = state.get("waiting")
    entries: list[dict[str, Any]] = []
    if isinstance(waiting, dict):
        if waiting.get("kind") == "retry" and state.get("queue"):
            waiting = {**waiting, "item": state["queue"].pop(0)}
        entries.append(waiting)
    state.update(v=CHECKPOINT_VERSION, waiting=entries, joins={}, legacy_joins=True)
    return state


class _Walk:
    def __init__(
        self,
        *,
        store: ExecutionStore,
        execution_id: str,
        services: NodeServices,
        clock: Callable[[], datetime],
        node_types: dict[str, NodeType],
        max_steps: int,
        batch_size: int,
        rng: Random | None,
        branch_concurrency: int,
    ) -> None:
        self.store = store
        self.execution_id = execution_id
        self.services = services
        self.clock = clock
        self.node_types = node_types
        self.max_steps = max_steps
        self.batch_size = batch_size
        self.rng = rng
        self.branch_concurrency = branch_concurrency
        self.pending: list[StepRecord] = []
        self.recorded = 0
        self.state: Checkpoint = {}
        self.scheduled: set[str] = set()
        self.next_due: datetime | None = None  # earliest moment a waiting branch continues
        self.pool: ThreadPoolExecutor | None = None
        self.children_rounds = 0

    # -- entry -------------------------------------------------------------------------------
    def run(self) -> WalkOutcome:
        snapshot = self.store.load(self.execution_id)
        if snapshot.status in TERMINAL_STATUSES:
            return WalkOutcome(snapshot.status, 0)
        try:
            self.graph = Graph.from_dict(snapshot.definition)
            self.state = upgrade_checkpoint(snapshot.checkpoint or self._initial(snapshot))
        except DefinitionError as exc:
            message = f"invalid definition: {exc}"
            self.store.fail(self.execution_id, [], snapshot.checkpoint, message, None)
            return WalkOutcome("failed", 0, error=message)
        self.trigger = snapshot.trigger_payload
        self.scheduled = set(self.state.get("scheduled", []))
        self.simple_joins = bool(self.state.get("legacy_joins")) or not self.graph.joins
        if self.state["waiting"]:
            self._take_resumes()
            self._refresh_due()
        try:
            outcome = self._advance_all_children()
            return outcome if outcome is not None else self._loop()
        finally:
            if self.pool is not None:
                self.pool.shutdown(wait=True)

    def _initial(self, snapshot: ExecutionSnapshot) -> Checkpoint:
        triggers = self.graph.trigger_ids(lambda t: bool(self.node_types.get(t) and self.node_types[t].is_trigger))
        if not triggers:
            raise DefinitionError("the definition has no trigger node")
        return initial_checkpoint(self.graph, triggers[0], snapshot.trigger_payload)

    # -- waiting branches --------------------------------------------------------------------
    def _refresh_due(self) -> None:
        due: datetime | None = None
        for entry in self.state["waiting"]:
            if entry["kind"] == "wait":
                moment = _DUE_NOW if entry.get("resumed") else None
            elif entry["kind"] == "children":
                moment = None  # a finished child wakes the execution (`_advance_children`)
            else:
                moment = datetime.fromisoformat(entry["resume_at"])
            if moment is not None and (due is None or moment < due):
                due = moment
        self.next_due = due

    def _take_resumes(self) -> bool:
        """Applies the resumes recorded for this execution's open waits (a resume made while a walk
        ran is recorded by the API, not written into the checkpoint the walk owns); True if any."""
        waits = open_waits(self.state)
        if not waits:
            return False
        return apply_resumes(self.state, self.store.resumes(self.execution_id, waits)) > 0

    def _wait_branch(self, entry: dict[str, Any]) -> None:
        self.state["waiting"].append(entry)
        self._refresh_due()

    def _wake_due(self) -> None:
        """Continues every waiting branch whose pause is over (a resumed `wait`, a due timer)."""
        now = self.clock()
        keep: list[dict[str, Any]] = []
        over: list[dict[str, Any]] = []
        for entry in self.state["waiting"]:
            if entry["kind"] == "wait":
                (over if entry.get("resumed") else keep).append(entry)
            elif entry["kind"] == "children":
                keep.append(entry)
            else:
                (over if datetime.fromisoformat(entry["resume_at"]) <= now else keep).append(entry)
        self.state["waiting"] = keep
        for entry in over:
            if entry["kind"] == "wait":
                self._finish_paused_node(entry, entry.get("payload"))
            elif entry["kind"] == "delay":
                self._finish_paused_node(entry, entry.get("output"))
            else:  # retry: the node runs again with its next attempt number
                self.state["queue"].insert(0, entry["item"])
        self._refresh_due()

    def _finish_paused_node(self, waiting: dict[str, Any], output: Any) -> None:
        node = self.graph.node(waiting["node_id"])
        started = datetime.fromisoformat(waiting["started_at"])
        self._record(
            node,
            "success",
            attempt=int(waiting.get("attempt", 1)),
            input_=self._waiting_input(waiting),
            output=output,
            error=None,
            started=started,
            t0=time.perf_counter() - (self.clock() - started).total_seconds(),
        )
        self._succeeded(node, output, "out")

    # -- child executions (call_schema, for_each) ----------------------------------------------
    def _spawn(
        self,
        node: NodeSpec,
        item: dict[str, Any],
        result: NodeResult,
        *,
        recorded_input: Any,
        started: datetime,
        t0: float,
        t1: float | None = None,
        defer: bool = False,
    ) -> WalkOutcome | None:
        """A node asked for child executions: fire them (output: their ids) or wait on them as a
        `children` entry of the waiting list, `concurrency` in flight, progress in the checkpoint."""
        spawn = result.spawn
        assert spawn is not None
        plan = {
            "schema_id": spawn.schema_id,
            "version": spawn.version,
            "mode": spawn.mode,
            "concurrency": max(1, int(spawn.concurrency)),
            "on_item_error": spawn.on_item_error,
            "each": spawn.each,
            "total": len(spawn.inputs),
        }
        if spawn.mode == "fire":
            try:
                ids = self.store.start_children(
                    self.execution_id,
                    node_id=node.id,
                    attempt=int(item["attempt"]),
                    spawn=plan,
                    start=0,
                    inputs=spawn.inputs,
                )
            except OwnershipLost:
                raise
            except Exception as exc:  # noqa: BLE001 - refused (unknown schema, depth...): a node error
                return self._node_error(node, item, exc, started, t0, t1=t1, defer=defer)
            output = {"execution_ids": ids} if spawn.each else {"execution_id": ids[0]}
            self._record(
                node, "success", attempt=item["attempt"], input_=recorded_input, output=output, error=None,
                started=started, t0=t0, t1=t1,
            )  # fmt: skip
            self._dequeue(item)
            self._succeeded(node, output, "out")
            return None
        try:  # stored once, outside the checkpoint (which keeps only the progress): bounded size
            self.store.save_items(self.execution_id, node_id=node.id, attempt=int(item["attempt"]), inputs=spawn.inputs)
        except Exception as exc:  # noqa: BLE001 - refused (too many items...): a node error
            return self._node_error(node, item, exc, started, t0, t1=t1, defer=defer)
        self._dequeue(item)
        entry = {
            "node_id": node.id,
            "kind": "children",
            "resume_at": None,
            "started_at": started.isoformat(),
            "attempt": item["attempt"],
            "tries": item["tries"],
            **self._input_ref(node, item.get("input")),
            "spawn": plan,
            "next": 0,
            "done": 0,
            "failed": 0,
            "total": len(spawn.inputs),
        }
        self.state["waiting"].append(entry)
        return self._advance_children(entry, defer=defer, inputs=spawn.inputs)

    def _input_ref(self, node: NodeSpec, input_: Any) -> dict[str, Any]:
        """How a `children` entry keeps its node's input: by the id of the predecessor whose output
        it is (a for_each's input is often a large list that the checkpoint has in `outputs`
        already, and that every write of the loop's progress would store twice), else as is."""
        outputs = self.state["outputs"]
        for edge in self.graph.in_edges(node.id):
            if edge.source in outputs and outputs[edge.source] == input_:
                return {"input_of": edge.source}
        return {"input": input_}

    def _waiting_input(self, waiting: dict[str, Any]) -> Any:
        if "input_of" in waiting:
            return self.state["outputs"].get(waiting["input_of"])
        return waiting.get("input")

    def _advance_all_children(self) -> WalkOutcome | None:
        for entry in [w for w in self.state["waiting"] if w["kind"] == "children"]:
            outcome = self._advance_children(entry)
            if outcome is not None:
                return outcome
        return None

    def _take_finished_children(self) -> WalkOutcome | bool:
        """Before pausing: reads the progress of the branches waiting on children again, so children
        that finished while this walk ran are taken now, in one batch, and the next ones started
        (rather than by another walk, which their wake-ups would have to wait for). True when that
        moved something (a walk does it at most `MAX_CHILDREN_ROUNDS` times: then it pauses and
        saves the progress, and the worker walks again if more finished; see executions_app/runner.py)."""
        entries = [w for w in self.state["waiting"] if w["kind"] == "children"]
        if not entries or self.children_rounds >= MAX_CHILDREN_ROUNDS:
            return False
        self.children_rounds += 1
        before = [(w["node_id"], w["next"], w["done"], w["failed"]) for w in entries]
        outcome = self._advance_all_children()
        if outcome is not None:
            return outcome
        after = [
            (w["node_id"], w["next"], w["done"], w["failed"]) for w in self.state["waiting"] if w["kind"] == "children"
        ]
        return after != before or bool(self.state["queue"])

    def _advance_children(
        self, entry: dict[str, Any], *, defer: bool = False, inputs: list[Any] | None = None
    ) -> WalkOutcome | None:
        """Reads how many children finished, starts more up to the node's concurrency, and when all
        finished (or one failed with `on_item_error: fail`) finishes the node. The items to start
        are read from the store (`inputs`: the whole list, when the node has just run)."""
        node = self.graph.node(entry["node_id"])
        attempt, plan = int(entry["attempt"]), entry["spawn"]
        try:
            done, failed = self.store.children_progress(self.execution_id, node.id, attempt)
            entry["done"], entry["failed"] = done, failed
            if failed and plan["on_item_error"] == "fail":
                results = self.store.children_results(self.execution_id, node.id, attempt)
                bad = next(r for r in results if r.status != "completed")
                what = f"item {bad.index}" if plan["each"] else "the sub-schema"
                cause, nested = innermost_cause(bad.error or bad.status)
                through = f" through {nested} nested sub-schema run{'s' if nested > 1 else ''}" if nested else ""
                raise NodeError(
                    f"{what} failed (execution {bad.execution_id}, {bad.status}){through}: {cause}",
                    details={"execution_id": bad.execution_id, "index": bad.index, "nested": nested},
                )
            room = plan["concurrency"] - (entry["next"] - done)
            if room > 0 and entry["next"] < entry["total"]:
                start = entry["next"]
                count = min(room, entry["total"] - start)
                if inputs is not None:
                    batch = inputs[start : start + count]
                elif "items" in entry:  # a checkpoint written before the items were stored apart
                    batch = entry["items"][start : start + count]
                else:
                    batch = self.store.load_items(
                        self.execution_id, node_id=node.id, attempt=attempt, start=start, count=count
                    )
                self.store.start_children(
                    self.execution_id, node_id=node.id, attempt=attempt, spawn=plan, start=start, inputs=batch
                )
                entry["next"] = start + len(batch)
            if done < entry["total"]:
                return None
            results = self.store.children_results(self.execution_id, node.id, attempt)
        except OwnershipLost:
            raise
        except Exception as exc:  # noqa: BLE001 - a refused start or a failed child: the node's error
            return self._children_failed(entry, node, exc, defer)
        self.state["waiting"] = [w for w in self.state["waiting"] if w is not entry]
        if plan["each"]:
            output: Any = [
                r.result if r.status == "completed" else {"error": r.error or r.status, "execution_id": r.execution_id}
                for r in results
            ]
        else:
            output = results[0].result if results else None
        self._finish_paused_node(entry, output)
        return None

    def _children_failed(
        self, entry: dict[str, Any], node: NodeSpec, exc: Exception, defer: bool
    ) -> WalkOutcome | None:
        """The node failed through its children: its retry policy and `on_error` apply (a retry is a
        new attempt: new children)."""
        self.state["waiting"] = [w for w in self.state["waiting"] if w is not entry]
        item = {
            "node_id": node.id,
            "input": self._waiting_input(entry),
            "attempt": entry["attempt"],
            "tries": entry["tries"],
        }
        self.state["queue"].insert(0, item)
        started = datetime.fromisoformat(entry["started_at"])
        t0 = time.perf_counter() - (self.clock() - started).total_seconds()
        return self._node_error(node, item, exc, started, t0, defer=defer)

    def _pause_all(self) -> WalkOutcome:
        """Every live branch waits: the execution pauses until the earliest timer (or a resume)."""
        entries = self.state["waiting"]
        timed = [e for e in entries if e.get("resume_at")]
        if timed:
            first = min(timed, key=lambda e: datetime.fromisoformat(e["resume_at"]))
            return self._pause(Waiting(first["node_id"], first["kind"], datetime.fromisoformat(first["resume_at"])))
        return self._pause(Waiting(entries[0]["node_id"], entries[0]["kind"], None))

    # -- main loop ---------------------------------------------------------------------------
    def _loop(self) -> WalkOutcome:
        queue: list[dict[str, Any]] = self.state["queue"]
        while True:
            if self.next_due is not None and self.next_due <= self.clock():
                self._wake_due()
            if not queue:
                if self.state["waiting"]:
                    if self._take_resumes():  # resumed while this walk ran: that branch goes on now
                        self._refresh_due()
                        continue
                    moved = self._take_finished_children()
                    if isinstance(moved, WalkOutcome):
                        return moved
                    if moved:  # children finished while this walk ran: their loop goes on now
                        continue
                    return self._pause_all()
                return self._complete(self.state.get("last_output"))
            if self.recorded + len(self.pending) >= self.max_steps:
                self._flush()
                return WalkOutcome("running", self.recorded)
            if self.store.is_cancelled(self.execution_id):
                steps = self._take_pending()
                self.store.cancel(self.execution_id, steps, self._checkpoint())
                return WalkOutcome("cancelled", self.recorded)
            item = queue[0]
            node = self.graph.node(item["node_id"])
            node_type = self.node_types.get(node.type)
            side_effects = node_type is not None and node_type.side_effects
            if side_effects and len(queue) > 1:
                batch = self._side_effect_batch(queue)
                if batch is None:  # a pure node is ready on another branch: it goes first (it is quick)
                    continue
                if len(batch) > 1:
                    outcome = self._run_batch(batch)
                    if outcome is not None:
                        return outcome
                    continue
            if side_effects:
                self._flush()  # everything before a side effect is durable first
            started, t0 = self.clock(), time.perf_counter()
            try:
                if node_type is None:
                    raise NodeError(f"unknown node type {node.type!r}")
                result = self._bounded(node, node_type.run(self._context(node, item, started)))
            except Exception as exc:  # noqa: BLE001 - any node failure is a business result (retry/error port)
                outcome = self._node_error(node, item, exc, started, t0)
                if outcome is not None:
                    return outcome
                continue
            outcome = self._node_result(node, item, result, started, t0)
            if outcome is not None:
                return outcome
            if side_effects or len(self.pending) >= self.batch_size:
                self._flush()

    def _is_side_effecting(self, item: dict[str, Any]) -> bool:
        node_type = self.node_types.get(self.graph.node(item["node_id"]).type)
        return node_type is not None and node_type.side_effects

    def _side_effect_batch(self, queue: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The side-effecting branches to run at once; None (after moving it to the head) when a
        pure node is ready on another branch."""
        batch: list[dict[str, Any]] = []
        for index, item in enumerate(queue):
            if not self._is_side_effecting(item):
                queue.insert(0, queue.pop(index))
                return None
            if len(batch) < self.branch_concurrency:
                batch.append(item)
        return batch

    def _run_batch(self, batch: list[dict[str, Any]]) -> WalkOutcome | None:
        """Runs side-effecting nodes of several branches concurrently, then records them in queue
        order. A terminal result (a failure without `error` port, an `end`) wins after every other
        result of the batch is recorded: their side effects happened, so their steps exist."""
        self._flush()
        if self.pool is None:
            self.pool = ThreadPoolExecutor(max_workers=self.branch_concurrency, thread_name_prefix="branch")
        runs = []
        for item in batch:
            node = self.graph.node(item["node_id"])
            runs.append(_Ran(item, node, self.clock(), time.perf_counter()))
        futures = [
            self.pool.submit(
                contextvars.copy_context().run, self._run_node, ran, self._context(ran.node, ran.item, ran.started)
            )
            for ran in runs
        ]
        for future in futures:
            future.result()
        terminal: WalkOutcome | None = None
        kept: tuple[Any, Any] = (None, None)
        for ran in runs:
            outcome: WalkOutcome | None
            if ran.exc is None and ran.result is not None:
                try:
                    result = self._bounded(ran.node, ran.result)
                except NodeError as exc:
                    outcome = self._node_error(ran.node, ran.item, exc, ran.started, ran.t0, t1=ran.t1, defer=True)
                else:
                    outcome = self._node_result(ran.node, ran.item, result, ran.started, ran.t0, t1=ran.t1, defer=True)
            else:
                error = ran.exc if ran.exc is not None else NodeError("the node returned nothing")
                outcome = self._node_error(ran.node, ran.item, error, ran.started, ran.t0, t1=ran.t1, defer=True)
            if outcome is not None and terminal is None:
                terminal, kept = outcome, (self.state.get("failed"), self.state.get("result"))
        if terminal is not None:
            self.state["failed"], self.state["result"] = kept
            if terminal.status == "completed":
                return self._complete(self.state["result"])
            return self._fail(terminal.error or "failed", (self.state.get("failed") or {}).get("node_id"))
        self._flush()
        return None

    def _run_node(self, ran: _Ran, context: NodeContext) -> None:
        node_type = self.node_types[ran.node.type]
        try:
            ran.result = node_type.run(context)
        except Exception as exc:  # noqa: BLE001 - recorded by the walker's thread like any node error
            ran.exc = exc
        ran.t1 = time.perf_counter()

    def _bounded(self, node: NodeSpec, result: NodeResult) -> NodeResult:
        """Makes what a node returns storable (jsonb-safe) and bounded (see `engine.limits`):
        an oversized output fails the step with a clear error instead of bloating the checkpoint."""
        try:
            result.output, size = json_safe(result.output, limit=MAX_STEP_BYTES, what=f"the output of node {node.id!r}")
            if result.recorded_input is not None:
                result.recorded_input, _ = json_safe(
                    result.recorded_input, limit=MAX_STEP_BYTES, what=f"the input of node {node.id!r}"
                )
            if result.set_vars:
                result.set_vars, _ = json_safe(result.set_vars)
                json_safe(
                    {**self.state["vars"], **result.set_vars}, limit=MAX_STEP_BYTES, what="the execution variables"
                )
            total = int(self.state.get("stored_bytes", 0)) + size
            if total > MAX_EXECUTION_BYTES:
                raise ValueTooLarge(
                    f"the outputs kept by this execution (with node {node.id!r})", total, MAX_EXECUTION_BYTES
                )
        except ValueTooLarge as exc:
            raise NodeError(f"{exc}; return less data (e.g. pick fields with an expression)") from None
        if result.fail_message is not None:
            result.fail_message = safe_text(result.fail_message)
        self.state["stored_bytes"] = total
        return result

    def _context(self, node: NodeSpec, item: dict[str, Any], now: datetime) -> NodeContext:
        attempt = int(item["attempt"])
        return NodeContext(
            execution_id=self.execution_id,
            node=node,
            attempt=attempt,
            idempotency_key=f"{self.execution_id}:{node.id}:{attempt}",
            input=item.get("input"),
            vars=self.state["vars"],
            trigger=self.trigger,
            outputs=self.state["outputs"],
            now=now,
            services=self.services,
        )

    def _dequeue(self, item: dict[str, Any]) -> None:
        queue = self.state["queue"]
        if queue and queue[0] is item:
            queue.pop(0)
            return
        for index, queued in enumerate(queue):
            if queued is item:
                del queue[index]
                return

    def _node_result(
        self,
        node: NodeSpec,
        item: dict[str, Any],
        result: NodeResult,
        started: datetime,
        t0: float,
        *,
        t1: float | None = None,
        defer: bool = False,
    ) -> WalkOutcome | None:
        recorded_input = result.recorded_input if result.recorded_input is not None else item.get("input")
        if result.fail_message is not None:
            self._record(
                node,
                "failed",
                attempt=item["attempt"],
                input_=recorded_input,
                output=fail_node_output(result.fail_message),
                error=result.fail_message,
                started=started,
                t0=t0,
                t1=t1,
            )
            self._dequeue(item)
            self.state["failed"] = {
                "node_id": node.id,
                "attempt": item["attempt"],
                "error": result.fail_message,
                "item": item,
            }
            if defer:
                return WalkOutcome("failed", 0, error=result.fail_message)
            return self._fail(result.fail_message, node.id)
        if result.spawn is not None:
            return self._spawn(
                node, item, result, recorded_input=recorded_input, started=started, t0=t0, t1=t1, defer=defer
            )
        if result.pause_kind is not None:
            self._dequeue(item)
            self._wait_branch(
                {
                    "node_id": node.id,
                    "kind": result.pause_kind,
                    "resume_at": result.resume_at.isoformat() if result.resume_at else None,
                    "started_at": started.isoformat(),
                    "attempt": item["attempt"],
                    "input": recorded_input,
                    "output": result.output,
                    "resumed": False,
                }
            )
            return None
        self._record(
            node,
            "success",
            attempt=item["attempt"],
            input_=recorded_input,
            output=result.output,
            error=None,
            started=started,
            t0=t0,
            t1=t1,
        )
        self._dequeue(item)
        if result.set_vars:
            self.state["vars"].update(result.set_vars)
        if result.end:
            self.state["outputs"][node.id] = result.output
            self.state["result"] = result.output
            if defer:
                return WalkOutcome("completed", 0)
            return self._complete(result.output)
        self._succeeded(node, result.output, result.port)
        return None

    def _node_error(
        self,
        node: NodeSpec,
        item: dict[str, Any],
        exc: Exception,
        started: datetime,
        t0: float,
        *,
        t1: float | None = None,
        defer: bool = False,
    ) -> WalkOutcome | None:
        failure = step_failure(exc, clean=safe_text)
        message = failure.message
        self._record(
            node,
            "failed",
            attempt=item["attempt"],
            input_=item.get("input"),
            output=json_safe(failure.output)[0],
            error=message,
            started=started,
            t0=t0,
            t1=t1,
        )
        policy = RetryPolicy.from_dict(node.retry)
        if item["tries"] < policy.max_attempts:
            delay = policy.delay_seconds(item["tries"], self.rng)
            item["attempt"] += 1
            item["tries"] += 1
            if delay <= 0:
                return None  # retry inline; the side-effect flush records the failed step first
            self._dequeue(item)
            self._wait_branch(
                {
                    "node_id": node.id,
                    "kind": "retry",
                    "resume_at": (self.clock() + timedelta(seconds=delay)).isoformat(),
                    "started_at": started.isoformat(),
                    "attempt": item["attempt"],
                    "item": item,
                }
            )
            return None
        self._dequeue(item)
        if node.on_error == "error":
            # The flow sees what the owner sees: the message (never an internal error's own text).
            details = exc.details if isinstance(exc, NodeError) else {}
            output, _ = json_safe({"error": message, "type": type(exc).__name__, **details})
            self._succeeded(node, output, ERROR_PORT)
            return None
        self.state["failed"] = {"node_id": node.id, "attempt": item["attempt"], "error": message, "item": item}
        error = f"node {node.id!r} failed: {message}"
        if defer:
            return WalkOutcome("failed", 0, error=error)
        return self._fail(error, node.id)

    # -- branches and joins ------------------------------------------------------------------
    def _succeeded(self, node: NodeSpec, output: Any, port: str | None) -> None:
        self.state["outputs"][node.id] = output
        self.state["last_output"] = output
        if self.simple_joins:  # no join in this graph (or a version-1 checkpoint): follow the port
            if port is not None:
                for target in self.graph.successors(node.id, port):
                    self._schedule(target, output)
            return
        dead: list[str] = []
        for edge in self.graph.out_edges(node.id):
            if edge.source_port == port:
                self._arrive(edge.target, node.id, output)
            else:
                dead.append(edge.target)
        if dead:
            self._dead_edges(dead)

    def _schedule(self, target: str, input_: Any) -> None:
        if target not in self.scheduled:
            self.scheduled.add(target)
            self.state["queue"].append({"node_id": target, "input": input_, "attempt": 1, "tries": 1})

    def _join_mode(self, node_id: str) -> str:
        node = self.graph.node(node_id)
        node_type = self.node_types.get(node.type)
        return node_type.join_mode(node.config) if node_type is not None else "auto"

    def _join_entry(self, node_id: str) -> dict[str, Any]:
        joins: dict[str, dict[str, Any]] = self.state.setdefault("joins", {})
        entry = joins.get(node_id)
        if entry is None:
            entry = joins[node_id] = {"n": 0, "from": [], "fired": False}
        return entry

    def _arrive(self, target: str, source: str, output: Any) -> None:
        """A live edge from `source` (which produced `output`) reaches `target`."""
        if target not in self.graph.joins:
            self._schedule(target, output)
            return
        entry = self._join_entry(target)
        entry["n"] += 1
        entry["from"].append(source)
        if self._join_mode(target) == "first":
            if not entry["fired"]:
                entry["fired"] = True
                self._schedule(target, output)
            else:
                self._record_skipped(target, source, output)
        self._join_resolved(target, entry)

    def _join_resolved(self, target: str, entry: dict[str, Any]) -> bool:
        """When every inbound edge of `target` is signalled: runs it (something arrived) and
        returns False, or returns True (every branch into it was dead: it is dead too)."""
        if entry["n"] < len(self.graph.in_edges(target)):
            return False
        del self.state["joins"][target]
        if entry["fired"]:
            return False
        if not entry["from"]:
            return True
        self._schedule(target, self._join_input(target, entry["from"]))
        return False

    def _join_input(self, target: str, arrived_from: list[str]) -> Any:
        outputs = self.state["outputs"]
        arrived = set(arrived_from)
        sources = list(dict.fromkeys(e.source for e in self.graph.in_edges(target) if e.source in arrived))
        mode = self._join_mode(target)
        if mode == "append":
            return [outputs.get(source) for source in sources]
        if mode == "auto" and len(sources) == 1:
            return outputs.get(sources[0])
        return {source: outputs.get(source) for source in sources}

    def _dead_edges(self, targets: list[str]) -> None:
        """Dead-path elimination: each of `targets` gets a dead inbound edge; a node whose every
        inbound edge is dead is dead itself and passes it on."""
        stack = list(targets)
        while stack:
            target = stack.pop()
            if target in self.graph.joins:
                entry = self._join_entry(target)
                entry["n"] += 1
                if not self._join_resolved(target, entry):
                    continue
            stack.extend(edge.target for edge in self.graph.out_edges(target))

    def _record_skipped(self, node_id: str, source: str, output: Any) -> None:
        """A `merge` in `first` mode already ran: a later arrival is recorded and dropped."""
        now = self.clock()
        self._record(
            self.graph.node(node_id),
            "skipped",
            attempt=1,
            input_=output,
            output={"skipped": f"arrived from {source!r} after the merge ran (mode first)", "from": source},
            error=None,
            started=now,
            t0=time.perf_counter(),
        )

    # -- persistence -------------------------------------------------------------------------
    def _record(
        self,
        node: NodeSpec,
        status: str,
        *,
        attempt: int,
        input_: Any,
        output: Any,
        error: str | None,
        started: datetime,
        t0: float,
        t1: float | None = None,
    ) -> None:
        self.state["seq"] = int(self.state.get("seq", 0)) + 1
        duration = max(0.0, ((time.perf_counter() if t1 is None else t1) - t0) * 1000)
        self.pending.append(
            StepRecord(
                seq=self.state["seq"],
                node_id=node.id,
                node_type=node.type,
                status=status,
                attempt=int(attempt),
                input=input_,
                output=output,
                error=error,
                started_at=started,
                finished_at=started + timedelta(milliseconds=duration),
                duration_ms=round(duration, 3),
            )
        )

    def _checkpoint(self) -> Checkpoint:
        self.state["scheduled"] = sorted(self.scheduled)
        return self.state

    def _take_pending(self) -> list[StepRecord]:
        steps, self.pending = self.pending, []
        self.recorded += len(steps)
        return steps

    def _flush(self) -> None:
        if self.pending:
            steps = self.pending
            self.store.save_checkpoint(self.execution_id, steps, self._checkpoint())
            # Only after the store committed: a raising store leaves them pending (never lost).
            self.pending = []
            self.recorded += len(steps)

    def _pause(self, waiting: Waiting) -> WalkOutcome:
        self.store.pause(self.execution_id, self.pending, self._checkpoint(), waiting)
        self._take_pending()
        return WalkOutcome("paused", self.recorded, resume_at=waiting.resume_at)

    def _complete(self, result: Any) -> WalkOutcome:
        self.state["queue"], self.state["waiting"], self.state["joins"] = [], [], {}  # an `end` drops the rest
        self.store.complete(self.execution_id, self.pending, self._checkpoint(), result)
        self._take_pending()
        return WalkOutcome("completed", self.recorded)

    def _fail(self, error: str, node_id: str | None) -> WalkOutcome:
        self.store.fail(self.execution_id, self.pending, self._checkpoint(), error, node_id)
        self._take_pending()
        return WalkOutcome("failed", self.recorded, error=error)
