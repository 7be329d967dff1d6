"""Validation of schema definitions: every problem at once, each located by path and node/edge id.

`validate_definition` accepts any JSON value and never raises. Sticky notes (`notes`: text on the
canvas, never executed) are checked for shape only and never make a definition unfinished.
Problems reported: size limits
(`MAX_NODES`, `MAX_EDGES`, `MAX_DEPTH` levels of nesting, `MAX_ID_LENGTH` for ids — they end up
in `varchar(255)` columns of step rows), malformed structure, duplicate ids, unknown node types,
config not matching the type's JSON Schema (every error, with its path) or its semantic checks
(cron, time zone, switch ports), bad expression syntax, bad retry policy / on_error, dangling
edges, unknown source ports, trigger count (exactly one), edges into a trigger, unreachable nodes
and cycles. Cycles are forbidden: the walker runs each node at most once per execution (see
`engine.walker`), so a loop could never iterate anyway.

Problems come in two kinds. A definition the editor could not even load (not an object, missing or
duplicate ids, unknown types, edges between nodes that do not exist, over the limits) is *invalid*
and never stored. One that is only unfinished — a field not filled in, a node not connected yet, no
trigger yet, a bad expression — is *incomplete* (`Problem.incomplete`): a draft may be saved like that,
but it cannot be activated or run until it is complete."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from engine.config_messages import config_messages
from engine.expressions import check_syntax, has_template
from engine.graph import DEFAULT_PORT, ERROR_PORT
from engine.nodes import NODE_TYPES
from engine.nodes.base import NodeType
from engine.retry import RETRY_SCHEMA, retry_problems

MAX_NODES = 500
MAX_EDGES = 2000
MAX_DEPTH = 32
MAX_ID_LENGTH = 128
MAX_NAME_LENGTH = 255
MAX_NOTES = 200
MAX_NOTE_TEXT = 10_000
NOTE_SIZE = (40, 4000)  # width and height bounds of a note, in canvas pixels

_validators: dict[str, Draft202012Validator] = {}
_retry_validator = Draft202012Validator(RETRY_SCHEMA)


@dataclass(frozen=True)
class Problem:
    path: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    incomplete: bool = False  # unfinished (a draft may be saved so), not malformed

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "node_id": self.node_id,
            "edge_id": self.edge_id,
            "message": self.message,
            "incomplete": self.incomplete,
        }


def _depth_exceeds(value: Any, limit: int) -> bool:
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(item, dict):
            stack.extend((child, depth + 1) for child in item.values())
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)
    return False


def size_problems(data: Any) -> list[Problem]:
    """Limits checked before anything else (so a huge definition costs little to refuse)."""
    problems: list[Problem] = []
    if _depth_exceeds(data, MAX_DEPTH):
        problems.append(Problem(path="", message=f"the definition is nested deeper than {MAX_DEPTH} levels"))
    if isinstance(data, dict):
        for key, limit in (("nodes", MAX_NODES), ("edges", MAX_EDGES)):
            items = data.get(key)
            if isinstance(items, list) and len(items) > limit:
                problems.append(Problem(path=key, message=f"at most {limit} {key} are allowed ({len(items)} given)"))
    return problems


def validate_definition(data: Any) -> list[Problem]:
    try:
        too_big = size_problems(data)
        if too_big:
            return too_big
        return _Validator().run(data)
    except Exception as exc:  # noqa: BLE001 - the API must never 500 on a definition; this is a bug if it ever shows
        return [Problem(path="", message=f"could not validate the definition: {type(exc).__name__}: {exc}")]


def _schema_validator(node_type: NodeType) -> Draft202012Validator:
    if node_type.type not in _validators:
        _validators[node_type.type] = Draft202012Validator(node_type.config_schema)
    return _validators[node_type.type]


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_path(base: str, parts: Any) -> str:
    path = base
    for part in parts:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


class _Validator:
    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.nodes: dict[str, tuple[int, dict[str, Any], NodeType | None]] = {}
        self.edges: list[tuple[int, str | None, str, str, str]] = []  # index, id, source, target, port

    def add(
        self,
        path: str,
        message: str,
        node_id: str | None = None,
        edge_id: str | None = None,
        *,
        incomplete: bool = False,
    ) -> None:
        self.problems.append(
            Problem(path=path, message=message, node_id=node_id, edge_id=edge_id, incomplete=incomplete)
        )

    def unfinished(self, path: str, message: str, node_id: str | None = None, edge_id: str | None = None) -> None:
        self.add(path, message, node_id, edge_id, incomplete=True)

    def run(self, data: Any) -> list[Problem]:
        if not isinstance(data, dict):
            self.add("", "definition must be a JSON object with nodes, edges and variables")
            return self.problems
        variables = data.get("variables", {})
        if variables is not None and not isinstance(variables, dict):
            self.add("variables", "variables must be an object")
        nodes = data.get("nodes")
        if nodes is None:
            self.add("nodes", "nodes is required")
        elif not isinstance(nodes, list):
            self.add("nodes", "nodes must be a list")
        else:
            for index, raw in enumerate(nodes):
                self.check_node(index, raw)
        edges = data.get("edges", [])
        if edges is not None and not isinstance(edges, list):
            self.add("edges", "edges must be a list")
        elif edges:
            for index, raw in enumerate(edges):
                self.check_edge(index, raw)
        if isinstance(nodes, list):
            self.check_graph()
        self.check_notes(data.get("notes"))
        return self.problems

    def check_notes(self, notes: Any) -> None:
        """Sticky notes: `[{"id", "text", "position": {x, y}, "width"?, "height"?}]`, ids apart from
        the nodes' (the editor draws both on one canvas). Never executed, never unfinished."""
        if notes is None:
            return
        if not isinstance(notes, list):
            self.add("notes", "notes must be a list")
            return
        if len(notes) > MAX_NOTES:
            self.add("notes", f"at most {MAX_NOTES} notes are allowed ({len(notes)} given)")
            return
        seen: set[str] = set()
        for index, note in enumerate(notes):
            base = f"notes[{index}]"
            if not isinstance(note, dict):
                self.add(base, "note must be an object")
                continue
            note_id = note.get("id")
            if not isinstance(note_id, str) or not note_id or len(note_id) > MAX_ID_LENGTH:
                self.add(f"{base}.id", f"note id is required: a string of 1 to {MAX_ID_LENGTH} characters")
            elif note_id in seen or note_id in self.nodes:
                self.add(f"{base}.id", f"note id {note_id!r} is already used by another note or a node")
            else:
                seen.add(note_id)
            text = note.get("text", "")
            if not isinstance(text, str) or len(text) > MAX_NOTE_TEXT:
                self.add(f"{base}.text", f"note text must be a string of at most {MAX_NOTE_TEXT} characters")
            position = note.get("position")
            if not (isinstance(position, dict) and all(_number(position.get(a)) for a in "xy")):
                self.add(f"{base}.position", "position must be an object with numeric x and y")
            for key in ("width", "height"):
                if key in note and not (_number(note[key]) and NOTE_SIZE[0] <= note[key] <= NOTE_SIZE[1]):
                    self.add(f"{base}.{key}", f"{key} must be a number from {NOTE_SIZE[0]} to {NOTE_SIZE[1]}")

    def check_node(self, index: int, raw: Any) -> None:
        base = f"nodes[{index}]"
        if not isinstance(raw, dict):
            self.add(base, "node must be an object")
            return
        node_id = raw.get("id")
        nid = node_id if isinstance(node_id, str) and node_id else None
        register = nid is not None
        if nid is None:
            self.add(f"{base}.id", "node id is required and must be a non-empty string")
        elif len(nid) > MAX_ID_LENGTH:
            self.add(f"{base}.id", f"node id is longer than {MAX_ID_LENGTH} characters")
            nid, register = None, False
        elif nid in self.nodes:
            self.add(f"{base}.id", f"duplicate node id {nid!r}", node_id=nid)
            register = False  # the first node with this id is the one edges refer to
        type_name = raw.get("type")
        node_type = NODE_TYPES.get(type_name) if isinstance(type_name, str) else None
        if not isinstance(type_name, str) or not type_name:
            self.add(f"{base}.type", "node type is required and must be a string", node_id=nid)
        elif node_type is None:
            self.add(f"{base}.type", f"unknown node type {type_name!r}", node_id=nid)
        for key in ("name",):
            if key in raw and not isinstance(raw[key], str):
                self.add(f"{base}.{key}", f"{key} must be a string", node_id=nid)
            elif key in raw and len(raw[key]) > MAX_NAME_LENGTH:
                self.add(f"{base}.{key}", f"{key} is longer than {MAX_NAME_LENGTH} characters", node_id=nid)
        position = raw.get("position")
        if position is not None and not (
            isinstance(position, dict)
            and all(isinstance(position.get(a), int | float) and not isinstance(position.get(a), bool) for a in "xy")
        ):
            self.add(f"{base}.position", "position must be an object with numeric x and y", node_id=nid)
        config = raw.get("config", {})
        if config is None:
            config = {}
        if not isinstance(config, dict):
            self.add(f"{base}.config", "config must be an object", node_id=nid)
            config = {}
        elif node_type is not None:
            self.check_config(base, nid, node_type, config)
        on_error = raw.get("on_error", "fail")
        if on_error is not None and on_error not in ("fail", "error"):
            self.add(f"{base}.on_error", "on_error must be 'fail' or 'error'", node_id=nid)
        self.check_retry(base, nid, raw.get("retry"))
        if register and nid is not None:
            self.nodes[nid] = (index, {**raw, "config": config}, node_type)

    def check_config(self, base: str, nid: str | None, node_type: NodeType, config: dict[str, Any]) -> None:
        try:
            messages = list(config_messages(node_type.config_schema, config, _schema_validator(node_type)))
        except (SchemaError, RecursionError) as exc:
            self.add(f"{base}.config", f"config cannot be checked: {exc}", node_id=nid)
            return
        for parts, message in messages:
            self.unfinished(_json_path(f"{base}.config", parts), message, node_id=nid)
        if not messages:
            for path, message in node_type.config_problems(config):
                self.unfinished(f"{base}.config.{path}", message, node_id=nid)
        self.check_expressions(f"{base}.config", nid, config, 0)

    def check_expressions(self, path: str, nid: str | None, value: Any, depth: int) -> None:
        if depth > 50:
            return
        if isinstance(value, str) and has_template(value):
            error = check_syntax(value)
            if error:
                self.unfinished(path, error, node_id=nid)
        elif isinstance(value, dict):
            for key, item in value.items():
                self.check_expressions(f"{path}.{key}", nid, item, depth + 1)
        elif isinstance(value, list):
            for i, item in enumerate(value):
                self.check_expressions(f"{path}[{i}]", nid, item, depth + 1)

    def check_retry(self, base: str, nid: str | None, retry: Any) -> None:
        if retry is None:
            return
        if not isinstance(retry, dict):
            self.add(f"{base}.retry", "retry must be an object", node_id=nid)
            return
        for parts, message in config_messages(RETRY_SCHEMA, retry, _retry_validator):
            self.unfinished(_json_path(f"{base}.retry", parts), message, node_id=nid)
        for key, message in retry_problems(retry):
            self.unfinished(f"{base}.retry.{key}", message, node_id=nid)

    def check_edge(self, index: int, raw: Any) -> None:
        base = f"edges[{index}]"
        if not isinstance(raw, dict):
            self.add(base, "edge must be an object")
            return
        edge_id = raw.get("id")
        eid = edge_id if isinstance(edge_id, str) and edge_id else None
        if eid is None:
            self.add(f"{base}.id", "edge id is required and must be a non-empty string")
        elif len(eid) > MAX_ID_LENGTH:
            self.add(f"{base}.id", f"edge id is longer than {MAX_ID_LENGTH} characters")
            eid = None
        elif any(e[1] == eid for e in self.edges):
            self.add(f"{base}.id", f"duplicate edge id {eid!r}", edge_id=eid)
        ok = True
        ends: dict[str, str] = {}
        for end in ("source", "target"):
            value = raw.get(end)
            if not isinstance(value, str) or not value:
                self.add(f"{base}.{end}", f"edge {end} is required and must be a node id", edge_id=eid)
                ok = False
            elif value not in self.nodes:
                self.add(f"{base}.{end}", f"edge {end} {value!r} is not a node", edge_id=eid)
                ok = False
            else:
                ends[end] = value
        port = raw.get("source_port", DEFAULT_PORT)
        if port is None:
            port = DEFAULT_PORT
        if not isinstance(port, str):
            self.add(f"{base}.source_port", "source_port must be a string", edge_id=eid)
            ok = False
        elif "source" in ends:
            _, node, node_type = self.nodes[ends["source"]]
            if node_type is not None:
                ports = node_type.output_ports(node["config"])
                if node.get("on_error") == "error":
                    ports.append(ERROR_PORT)
                if port not in ports:
                    allowed = ", ".join(ports) or "none"
                    self.unfinished(
                        f"{base}.source_port",
                        f"node {ends['source']!r} has no port {port!r} (ports: {allowed})",
                        edge_id=eid,
                    )
                    ok = False
        if "target" in ends:
            target_type = self.nodes[ends["target"]][2]
            if target_type is not None and target_type.is_trigger:
                self.unfinished(
                    f"{base}.target", f"a trigger ({ends['target']!r}) cannot have incoming edges", edge_id=eid
                )
                ok = False
        if ok:
            self.edges.append((index, eid, ends["source"], ends["target"], str(port)))

    def check_graph(self) -> None:
        triggers = [nid for nid, (_, _, t) in self.nodes.items() if t is not None and t.is_trigger]
        if not triggers:
            self.unfinished("nodes", "the schema needs a trigger node: add a Manual, Webhook or Schedule trigger")
        for extra in triggers[1:]:
            self.unfinished(
                f"nodes[{self.nodes[extra][0]}].type",
                f"the schema needs exactly one trigger node; {extra!r} is an extra one",
                node_id=extra,
            )
        adjacency: dict[str, list[tuple[str, int, str | None]]] = {nid: [] for nid in self.nodes}
        for index, eid, source, target, _port in self.edges:
            adjacency[source].append((target, index, eid))
        if triggers:
            seen: set[str] = set()
            stack = list(triggers)
            while stack:
                current = stack.pop()
                if current not in seen:
                    seen.add(current)
                    stack.extend(t for t, _, _ in adjacency[current])
            for nid, (index, _, _) in self.nodes.items():
                if nid not in seen:
                    self.unfinished(
                        f"nodes[{index}]",
                        f"node {nid!r} is not reachable from the trigger: connect it to the trigger's path",
                        node_id=nid,
                    )
        self.check_cycles(adjacency)
        self.check_merges()

    def check_merges(self) -> None:
        """A node that joins branches needs branches to join: a `merge` with fewer than two
        inbound edges never waits for anything (and one with none could never run)."""
        inbound: dict[str, int] = {}
        for _, _, _, target, _ in self.edges:
            inbound[target] = inbound.get(target, 0) + 1
        for nid, (index, _, node_type) in self.nodes.items():
            if node_type is None or not node_type.accepts_many_inputs:
                continue
            count = inbound.get(nid, 0)
            if count < 2:  # unfinished, not malformed: the second edge is usually about to be drawn
                self.unfinished(
                    f"nodes[{index}]",
                    f"merge {nid!r} has {count} inbound edge{'s' if count != 1 else ''}: it joins branches, "
                    "so connect at least two (or remove it)",
                    node_id=nid,
                )

    def check_cycles(self, adjacency: dict[str, list[tuple[str, int, str | None]]]) -> None:
        # Iterative DFS (no recursion limit on big graphs); report the edge closing each cycle.
        state: dict[str, int] = {}  # 1 = on the stack, 2 = done
        for root, edges in adjacency.items():
            if root in state:
                continue
            path = [root]
            stack = [(root, iter(edges))]
            state[root] = 1
            while stack:
                current, children = stack[-1]
                for target, index, eid in children:
                    if state.get(target) == 1:
                        loop = [*path[path.index(target) :], target]
                        self.unfinished(
                            f"edges[{index}]",
                            f"edge creates a cycle ({' → '.join(loop)}); cycles are not allowed",
                            edge_id=eid,
                        )
                    elif target not in state:
                        state[target] = 1
                        path.append(target)
                        stack.append((target, iter(adjacency[target])))
                        break
                else:
                    state[current] = 2
                    path.pop()
                    stack.pop()
