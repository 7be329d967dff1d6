"""`make bench-peers`: the standard workload on the peers of issue 20, n8n and DBOS Transact, on this machine.

    N8N_HOME=/tmp/peers/n8n DBOS_PYTHON=/tmp/peers/dbos-venv/bin/python \\
        .venv/bin/python bench/peers.py [--duration 20] [--warmup 5] [--rounds 2] [--concurrency 1,8,32]
        [--peers n8n,dbos] [--n8n-save-progress] [--keep]

The peers are installed outside the repository and never committed (docs/performance.md, "Peers"):
N8N_HOME is a directory holding `node_modules/n8n` (n8n 2.8.4 installed with npm in it), DBOS_PYTHON
a Python with `dbos` (`pip install dbos==3.4.0` in a virtualenv of its own). Without them the
command prints how to install them and exits 2.

1. n8n: its default SQLite database in a user folder of its own (PEERS_DIR, default /tmp/peers,
   `n8n-user/`, wiped per run), every execution saved (EXECUTIONS_DATA_SAVE_ON_SUCCESS=all, no
   pruning), diagnostics, version checks and templates off, listening on 127.0.0.1 only. The
   standard workload as an n8n workflow (Webhook → 8 x Set `counter = counter + 1` → If
   `counter >= 8` → Set `result`: 11 nodes; the webhook answers when the last node finishes, with
   that node's JSON and the execution id) is imported and published with n8n's own CLI.
2. DBOS: bench/peers_dbos_app.py in DBOS_PYTHON on its own PostgreSQL database
   (`schema_peers_dbos`, dropped and recreated): `POST /hook` starts the workflow (11 `@DBOS.step`s,
   each checkpointed) and answers 202 with its id.
3. Both are started, then measured as `make bench` measures ours and the ceiling (bench/run.py):
   closed loop with bench/loadgen.py at each concurrency, the peers in interleaved rounds, the same
   windows and warm-ups, the rounds combined with bench/run.py's `combine`; executions/s from the
   peer's own store (n8n's `execution_entity.stoppedAt`, DBOS's `workflow_status.updated_at`), CPU
   per execution per component from /proc, peak RSS/PSS of the peer's process tree.
   n8n answers at the end of the run, so its "accept" latency is the whole execution's.
4. Checks: every accepted execution is in the peer's store once, finished successfully, ran each
   of its 11 nodes / steps exactly once and ended with counter 8 and result 8; nothing else ran.
Writes bench/results/peers-latest.{json,md} (`peers-n8n-save-progress-latest.*` with
--n8n-save-progress; + a timestamped copy) and sets the figures beside ours
from bench/results/latest.json with the minutes between the two runs. Exits 1 when a check fails.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import io
import itertools
import json
import os
import pickle
import shutil
import sqlite3
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    PG_ADMIN_URL,
    RESULTS,
    ROOT,
    Proc,
    cpu_breakdown,
    cpu_ticks,
    descendants,
    drop_database,
    log,
    machine_info,
    memory_kib,
    pg_connect,
    postmaster_started,
    recreate_database,
    wait_http,
    write_json,
)
from bench.loadgen import CompletionWatcher, percentile, run_load
from bench.run import combine
from bench.workload import PAYLOAD, STEPS_PER_EXECUTION

PEERS_DIR = Path(os.environ.get("PEERS_DIR", "/tmp/peers"))
N8N_VERSION = "2.8.4"
DBOS_VERSION = "3.4.0"
N8N_PORT = int(os.environ.get("PEERS_N8N_PORT", "8130"))
DBOS_PORT = int(os.environ.get("PEERS_DBOS_PORT", "8131"))
DBOS_DB = os.environ.get("PEERS_DBOS_DB", "schema_peers_dbos")
N8N_WORKFLOW_ID = "SchemaBenchStd01"
N8N_HOOK_PATH = "schema-bench"
# n8n pins xlsx to a tarball outside the npm registry (unreachable here); the override takes the
# registry's last xlsx instead. Only n8n's spreadsheet node uses it, not this workload.
N8N_PACKAGE_JSON = json.dumps(
    {"private": True, "dependencies": {"n8n": N8N_VERSION}, "overrides": {"xlsx": "0.18.5"}}, separators=(",", ":")
)
INSTALL_HELP = f"""\
The peers are not installed (they live outside the repository and are never committed):
  mkdir -p /tmp/peers/n8n && cd /tmp/peers/n8n && echo '{N8N_PACKAGE_JSON}' > package.json
  npm install --no-audit --no-fund        # n8n and its ~2,100 packages, 2.3 GB, several minutes
  python3 -m venv /tmp/peers/dbos-venv && /tmp/peers/dbos-venv/bin/pip install dbos=={DBOS_VERSION}
then: N8N_HOME=/tmp/peers/n8n DBOS_PYTHON=/tmp/peers/dbos-venv/bin/python make bench-peers"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--duration", type=float, default=20.0, help="per peer and concurrency, split in rounds")
    parser.add_argument("--warmup", type=float, default=5.0)
    parser.add_argument("--rounds", type=int, default=2, help="interleaved windows per peer and concurrency")
    parser.add_argument("--concurrency", default="1,8,32")
    parser.add_argument("--peers", default="n8n,dbos")
    parser.add_argument(
        "--n8n-save-progress",
        action="store_true",
        help="n8n saves the execution after every node (EXECUTIONS_DATA_SAVE_ON_PROGRESS=true)",
    )
    parser.add_argument("--keep", action="store_true", help="keep DBOS's database and n8n's user folder")
    return parser.parse_args()


# --- n8n ----------------------------------------------------------------------------------------------
NODE_NAMES = ["Webhook", *(f"counter + 1 (#{i})" for i in range(1, 9)), "counter >= 8", "result"]


def n8n_set_node(name: str, assignments: list[tuple[str, str, str]], x: int, keep_fields: bool) -> dict[str, Any]:
    return {
        "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"schema-bench/{name}")),
        "name": name,
        "type": "n8n-nodes-base.set",
        "typeVersion": 3.4,
        "position": [x, 0],
        "parameters": {
            "mode": "manual",
            "assignments": {
                "assignments": [
                    {"id": f"{name}/{field}", "name": field, "value": value, "type": kind}
                    for field, value, kind in assignments
                ]
            },
            "includeOtherFields": keep_fields,
            "options": {},
        },
    }


def n8n_workflow() -> dict[str, Any]:
    """bench/workload.py's standard workload in n8n's terms: 11 nodes, the same expressions."""
    nodes: list[dict[str, Any]] = [
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "schema-bench/Webhook")),
            "name": "Webhook",
            "type": "n8n-nodes-base.webhook",
            "typeVersion": 2,
            "position": [0, 0],
            "webhookId": str(uuid.uuid5(uuid.NAMESPACE_URL, "schema-bench/webhook-id")),
            "parameters": {
                "httpMethod": "POST",
                "path": N8N_HOOK_PATH,
                "responseMode": "lastNode",  # "When Last Node Finishes"
                "responseData": "firstEntryJson",
                "options": {},
            },
        }
    ]
    for i in range(1, 9):  # the trigger's item has no counter yet: our schema's variables start at 0
        increment = [("counter", "={{ ($json.counter || 0) + 1 }}", "number")]
        nodes.append(n8n_set_node(NODE_NAMES[i], increment, 200 * i, keep_fields=False))
    nodes.append(
        {
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, "schema-bench/check")),
            "name": "counter >= 8",
            "type": "n8n-nodes-base.if",
            "typeVersion": 2.2,
            "position": [1800, 0],
            "parameters": {
                "conditions": {
                    "options": {"caseSensitive": True, "leftValue": "", "typeValidation": "strict", "version": 2},
                    "conditions": [
                        {
                            "id": "counter-gte-8",
                            "leftValue": "={{ $json.counter }}",
                            "rightValue": 8,
                            "operator": {"type": "number", "operation": "gte"},
                        }
                    ],
                    "combinator": "and",
                },
                "options": {},
            },
        }
    )
    # the answer carries the execution id, which the load generator records as the accepted id
    result = [("result", "={{ $json.counter }}", "number"), ("id", "={{ $execution.id }}", "string")]
    nodes.append(n8n_set_node("result", result, 2000, keep_fields=True))
    connections: dict[str, Any] = {}
    for source, target in itertools.pairwise(NODE_NAMES):
        connections[source] = {"main": [[{"node": target, "type": "main", "index": 0}]]}
    connections["counter >= 8"]["main"].append([])  # the false branch leads nowhere
    return {
        "id": N8N_WORKFLOW_ID,
        "name": "Schema standard workload",
        "nodes": nodes,
        "connections": connections,
        "active": False,
        "settings": {"executionOrder": "v1"},
        "pinData": {},
    }


def unflatten(text: str) -> Any:
    """n8n stores execution data with `flatted` (JSON with shared references): a JSON array whose
    first entry is the root and in which every string inside an object or array is the index of
    another entry (strings themselves are entries)."""
    table = json.loads(text)
    revived: dict[int, Any] = {}

    def revive(index: int) -> Any:
        if index in revived:
            return revived[index]
        value = table[index]
        if isinstance(value, dict):
            obj: dict[str, Any] = {}
            revived[index] = obj
            for key, item in value.items():
                obj[key] = revive(int(item)) if isinstance(item, str) else item
            return obj
        if isinstance(value, list):
            seq: list[Any] = []
            revived[index] = seq
            seq.extend(revive(int(item)) if isinstance(item, str) else item for item in value)
            return seq
        return value

    return revive(0)


def parse_time(value: Any) -> float:
    """n8n's SQLite timestamps ('2026-12-01 22:10:00.123', UTC) as epoch seconds."""
    text = str(value).replace("T", " ").rstrip("Z")
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


class AnsweredWatcher(CompletionWatcher):
    """n8n answers the webhook when the execution has finished: nothing to wait for afterwards."""

    def __init__(self) -> None:
        super().__init__("")

    async def start(self) -> None:
        pass

    def wait_for(self, execution_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        future.set_result(None)
        return future

    async def stop(self) -> None:
        pass


class N8n:
    name = "n8n"
    port = N8N_PORT
    path = f"/webhook/{N8N_HOOK_PATH}"

    def __init__(self, home: Path, save_progress: bool) -> None:
        self.home = home
        self.cli = home / "node_modules" / "n8n" / "bin" / "n8n"
        self.version = json.loads((home / "node_modules" / "n8n" / "package.json").read_text())["version"]
        self.user_folder = PEERS_DIR / "n8n-user"
        self.database = self.user_folder / ".n8n" / "database.sqlite"
        self.save_progress = save_progress
        self.proc: Proc | None = None
        self.extra_ids: list[str] = []

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("N8N_", "DB_", "EXECUTIONS_"))}
        env.update(
            N8N_USER_FOLDER=str(self.user_folder),
            N8N_PORT=str(self.port),
            N8N_LISTEN_ADDRESS="127.0.0.1",
            N8N_HOST="127.0.0.1",
            N8N_PROTOCOL="http",
            WEBHOOK_URL=f"http://127.0.0.1:{self.port}/",
            DB_TYPE="sqlite",
            EXECUTIONS_MODE="regular",
            EXECUTIONS_DATA_SAVE_ON_SUCCESS="all",
            EXECUTIONS_DATA_SAVE_ON_ERROR="all",
            EXECUTIONS_DATA_SAVE_ON_PROGRESS="true" if self.save_progress else "false",
            EXECUTIONS_DATA_PRUNE="false",  # the checks read every execution back
            N8N_DIAGNOSTICS_ENABLED="false",
            N8N_VERSION_NOTIFICATIONS_ENABLED="false",
            N8N_TEMPLATES_ENABLED="false",
            N8N_PERSONALIZATION_ENABLED="false",
            N8N_HIRING_BANNER_ENABLED="false",
            N8N_DYNAMIC_BANNERS_ENABLED="false",
            N8N_LICENSE_AUTO_RENEW_ENABLED="false",
            N8N_ENFORCE_SETTINGS_FILE_PERMISSIONS="false",
            N8N_GRACEFUL_SHUTDOWN_TIMEOUT="10",
            N8N_LOG_OUTPUT="console",
            NODE_ENV="production",  # as n8n's own container image sets it
        )
        return env

    def cli_run(self, *args: str) -> str:
        node = shutil.which("node") or "node"
        argv = [node, str(self.cli), *args]
        out = subprocess.run(argv, env=self.env(), capture_output=True, text=True, timeout=180, check=False)
        if out.returncode != 0:
            raise RuntimeError(
                f"n8n {' '.join(args)} failed ({out.returncode}):\n{out.stdout[-2000:]}{out.stderr[-2000:]}"
            )
        return out.stdout + out.stderr

    def setup(self) -> None:
        shutil.rmtree(self.user_folder / ".n8n", ignore_errors=True)
        self.user_folder.mkdir(parents=True, exist_ok=True)
        workflow = PEERS_DIR / "n8n-standard-workflow.json"
        write_json(workflow, n8n_workflow())
        log(f"n8n {self.version}: importing and publishing the workflow (its CLI; user folder {self.user_folder})")
        self.cli_run("import:workflow", f"--input={workflow}")
        self.cli_run("publish:workflow", f"--id={N8N_WORKFLOW_ID}")

    def start(self) -> None:
        node = shutil.which("node") or "node"
        self.proc = Proc("peer-n8n", [node, str(self.cli), "start"], self.env())
        wait_http(f"http://127.0.0.1:{self.port}/healthz/readiness", timeout=120)
        deadline = time.monotonic() + 60
        while True:  # the webhook answers once the published workflow is active
            if not self.proc.alive():
                raise RuntimeError(f"n8n died:\n{self.proc.tail()}")
            status, body = post(self.port, self.path, PAYLOAD)
            if status == 200:
                answer = json.loads(body)
                self.extra_ids.append(str(answer["id"]))
                log(f"n8n answers: {answer}")
                return
            if time.monotonic() > deadline:
                raise RuntimeError(f"n8n's webhook answered {status}: {body[:300]!r}\n{self.proc.tail()}")
            time.sleep(1)

    def watcher(self) -> CompletionWatcher:
        return AnsweredWatcher()

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def connect(self) -> contextlib.closing[sqlite3.Connection]:
        return contextlib.closing(sqlite3.connect(f"file:{self.database}?mode=ro", uri=True, timeout=30))

    def finished_between(self, t0: datetime, t1: datetime) -> tuple[int, int, list[float]]:
        time.sleep(0.5)  # n8n may write the finished execution just after answering
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT status, createdAt, stoppedAt FROM execution_entity"
                " WHERE workflowId = ? AND stoppedAt IS NOT NULL",
                [N8N_WORKFLOW_ID],
            ).fetchall()
        a, b = t0.timestamp(), t1.timestamp()
        done = [(parse_time(c), parse_time(s)) for status, c, s in rows if status == "success"]
        completed = sum(1 for _, s in done if a <= s < b)
        e2e = [(s - c) * 1000 for c, s in done if a <= c < b]
        return completed, completed * STEPS_PER_EXECUTION, e2e

    def check(self, accepted: list[str]) -> dict[str, Any]:
        accepted_set = set(accepted) | set(self.extra_ids)
        bad: list[str] = []
        with self.connect() as conn:
            rows = conn.execute(
                "SELECT e.id, e.status, e.finished, e.mode, d.data FROM execution_entity e"
                " LEFT JOIN execution_data d ON d.executionId = e.id WHERE e.workflowId = ?",
                [N8N_WORKFLOW_ID],
            ).fetchall()
        in_db = set()
        for number, status, finished, mode, data in rows:
            execution_id = str(number)
            in_db.add(execution_id)
            problem = None
            if status != "success" or not finished:
                problem = f"status {status}, finished {finished}"
            elif data is None:
                problem = "no execution data saved"
            else:
                run_data = unflatten(data)["resultData"]["runData"]
                runs = {node: len(run_data.get(node, [])) for node in NODE_NAMES}
                if set(run_data) != set(NODE_NAMES) or any(n != 1 for n in runs.values()):
                    problem = f"nodes run: {runs}"
                else:
                    item = run_data["result"][0]["data"]["main"][0][0]["json"]
                    if item.get("counter") != 8 or item.get("result") != 8:
                        problem = f"result {item}"
            if problem:
                bad.append(f"{execution_id} ({mode}): {problem}")
        return check_summary(accepted, accepted_set, in_db, bad)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def cleanup(self) -> None:
        shutil.rmtree(self.user_folder / ".n8n", ignore_errors=True)


# --- DBOS ---------------------------------------------------------------------------------------------
class DbosWatcher(CompletionWatcher):
    FINISHED_SQL = (
        "SELECT workflow_uuid FROM dbos.workflow_status WHERE workflow_uuid = ANY(%s::text[])"
        " AND status NOT IN ('PENDING', 'ENQUEUED')"
    )


class _NoClasses(pickle.Unpickler):
    """DBOS's default serializer is base64 pickle; the outputs checked here are dicts of ints."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"{module}.{name} is not expected in a step output")


def unpickle(text: str | None) -> Any:
    return _NoClasses(io.BytesIO(base64.b64decode(text or ""))).load() if text else None


class Dbos:
    name = "dbos"
    port = DBOS_PORT
    path = "/hook"

    def __init__(self, python: str) -> None:
        self.python = python
        self.proc: Proc | None = None
        self.database_url = ""
        out = subprocess.run([python, "-c", "import importlib.metadata as m; print(m.version('dbos'))"],
                             capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
        self.version = out.stdout.strip()
        self.extra_ids: list[str] = []

    def setup(self) -> None:
        log(f"DBOS {self.version}: database {DBOS_DB} recreated")
        self.database_url = recreate_database(DBOS_DB)

    def start(self) -> None:
        env = dict(os.environ)
        env.update(
            PEERS_DBOS_URL="postgresql://" + self.database_url.split("://", 1)[1],
            PEERS_DBOS_PORT=str(self.port),
            PYTHONUNBUFFERED="1",
        )
        self.proc = Proc("peer-dbos", [self.python, str(ROOT / "bench" / "peers_dbos_app.py")], env)
        wait_http(f"http://127.0.0.1:{self.port}/health", timeout=120)

    def watcher(self) -> CompletionWatcher:
        return DbosWatcher(self.database_url)

    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def finished_between(self, t0: datetime, t1: datetime) -> tuple[int, int, list[float]]:
        a, b = int(t0.timestamp() * 1000), int(t1.timestamp() * 1000)
        with pg_connect(self.database_url) as conn:
            completed = conn.execute(
                "SELECT count(*) FROM dbos.workflow_status WHERE status = 'SUCCESS' AND updated_at >= %s"
                " AND updated_at < %s",
                [a, b],
            ).fetchone()[0]
            steps = conn.execute(
                "SELECT count(*) FROM dbos.operation_outputs WHERE completed_at_epoch_ms >= %s"
                " AND completed_at_epoch_ms < %s",
                [a, b],
            ).fetchone()[0]
            e2e = [
                float(r[0])
                for r in conn.execute(
                    "SELECT updated_at - created_at FROM dbos.workflow_status WHERE status = 'SUCCESS'"
                    " AND created_at >= %s AND created_at < %s",
                    [a, b],
                ).fetchall()
            ]
        return completed, steps, e2e

    def check(self, accepted: list[str]) -> dict[str, Any]:
        expected = ["webhook_trigger", *["counter_plus_one"] * 8, "condition", "set_result"]
        with pg_connect(self.database_url) as conn:
            rows = conn.execute(
                """SELECT s.workflow_uuid, s.name, s.status, s.recovery_attempts, o.output,
                          array_agg(op.function_name ORDER BY op.function_id),
                          array_agg(op.function_id ORDER BY op.function_id)
                   FROM dbos.workflow_status s
                   LEFT JOIN dbos.workflow_output o ON o.workflow_uuid = s.workflow_uuid
                   LEFT JOIN dbos.operation_outputs op ON op.workflow_uuid = s.workflow_uuid
                   GROUP BY s.workflow_uuid, s.name, s.status, s.recovery_attempts, o.output"""
            ).fetchall()
        in_db, bad = set(), []
        for workflow_id, name, status, attempts, output, functions, ids in rows:
            in_db.add(workflow_id)
            result = unpickle(output)
            problem = None
            if name != "standard" or status != "SUCCESS":
                problem = f"{name} {status}"
            elif attempts != 1:
                problem = f"started {attempts} times"
            elif list(functions) != expected or list(ids) != list(range(1, STEPS_PER_EXECUTION + 1)):
                problem = f"steps {list(zip(ids, functions, strict=False))}"
            elif result != {"counter": 8, "result": 8}:
                problem = f"result {result}"
            if problem:
                bad.append(f"{workflow_id}: {problem}")
        return check_summary(accepted, set(accepted), in_db, bad)

    def stop(self) -> None:
        if self.proc:
            self.proc.stop()

    def cleanup(self) -> None:
        drop_database(DBOS_DB)


Peer = N8n | Dbos


def check_summary(accepted: list[str], accepted_set: set[str], in_db: set[str], bad: list[str]) -> dict[str, Any]:
    return {
        "accepted": len(accepted_set),
        "duplicate_accept_ids": len(accepted) - len(set(accepted)),
        "in_store": len(in_db),
        "missing_in_store": len(accepted_set - in_db),
        "not_accepted_but_in_store": len(in_db - accepted_set),
        "not_finished_once_with_counter_8": len(bad),
        "bad_examples": bad[:3],
        "ok": not bad and accepted_set == in_db and len(accepted) == len(set(accepted)),
    }


def post(port: int, path: str, payload: dict[str, Any]) -> tuple[int, bytes]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=json.dumps(payload).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")  # fmt: skip
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError as exc:
        return 0, str(exc).encode()


# --- measuring ----------------------------------------------------------------------------------------
def io_stalled_us() -> int:
    """Microseconds some task waited on I/O since boot (/proc/pressure/io): a neighbour's disk work
    slows every commit's fsync without showing in anyone's CPU."""
    try:
        line = Path("/proc/pressure/io").read_text().splitlines()[0]
    except (OSError, IndexError):
        return 0
    return int(line.rsplit("total=", 1)[1])


async def measure(peer: Peer, concurrency: int, duration: float, warmup: float) -> dict[str, Any]:
    """One window, the keys of bench/run.py's `measure` so that its `combine` applies."""
    watcher = peer.watcher()
    await watcher.start()
    kwargs: dict[str, Any] = {"host": "127.0.0.1", "port": peer.port, "path": peer.path, "headers": {},
                              "payload": PAYLOAD, "concurrency": concurrency, "watcher": watcher}  # fmt: skip
    warm = await run_load(duration=warmup, **kwargs) if warmup > 0 else None
    memory: list[tuple[int, int]] = []

    async def sample_memory() -> None:
        while True:
            memory.append(memory_kib(descendants(peer.pid())))
            await asyncio.sleep(1.0)

    sampler = asyncio.create_task(sample_memory())
    pg_started = postmaster_started(PG_ADMIN_URL)
    pids = set(descendants(peer.pid()))
    ticks0, cpu0, io0, t0 = cpu_ticks(), os.times(), io_stalled_us(), datetime.now(UTC)
    result = await run_load(duration=duration, **kwargs)
    t1, cpu1, io1, ticks1 = datetime.now(UTC), os.times(), io_stalled_us(), cpu_ticks()
    sampler.cancel()
    await watcher.stop()
    window = (t1 - t0).total_seconds()
    pids |= set(descendants(peer.pid()))
    cpu = cpu_breakdown(ticks0, ticks1, {peer.name: pids, "loadgen": {os.getpid()}}, window)
    completed, steps, e2e = peer.finished_between(t0, t1)
    accepts = [s.accept_ms for s in result.samples if s.execution_id]
    rss, pss = max(memory, default=(0, 0))
    errors = result.errors + (warm.errors if warm else [])
    return {
        "system": peer.name,
        "concurrency": concurrency,
        "window_s": round(window, 2),
        "warmup_accepted": len(warm.accepted_ids) if warm else 0,
        "accepted": len(accepts),
        "accepted_per_s": round(len(accepts) / window, 1),
        "executions_per_s": round(completed / window, 1),
        "steps_per_s": round(steps / window, 1),
        "accept_ms": {"p50": percentile(accepts, 50), "p99": percentile(accepts, 99), "max": percentile(accepts, 100)},
        "e2e_ms": {"p50": percentile(e2e, 50), "p99": percentile(e2e, 99), "max": percentile(e2e, 100)},
        "errors": len(errors),
        "postgres_restarted_during_window": postmaster_started(PG_ADMIN_URL) != pg_started,
        "error_examples": errors[:5],
        "memory": {"rss_mib": round(rss / 1024, 1), "pss_mib": round(pss / 1024, 1)},
        "loadgen_cpu_s": round((cpu1.user - cpu0.user) + (cpu1.system - cpu0.system), 2),
        "io_stalled_share": round((io1 - io0) / 1e6 / window, 3),
        "cpu_cores": cpu,
        "cpu_ms_per_execution": {k: round(v * 1000 / max(completed / window, 0.001), 2) for k, v in cpu.items()},
        "accepted_ids": [str(i) for i in result.accepted_ids + (warm.accepted_ids if warm else [])],
        "completed": completed,
        "steps": steps,
        "accept_samples": accepts,
        "e2e_samples": e2e,
    }


# --- report -------------------------------------------------------------------------------------------
def ours_beside(report: dict[str, Any]) -> dict[str, Any] | None:
    """Our figures from the latest `make bench` (bench/results/latest.json), with how far apart the runs were."""
    path = RESULTS / "latest.json"
    if not path.exists():
        return None
    ours = json.loads(path.read_text())
    finished = datetime.fromisoformat(ours["finished_at"])
    ours_eps = {r["concurrency"]: r["executions_per_s"] for r in ours["runs"] if r["system"] == "ours"}
    ratios: dict[str, dict[int, float]] = {}
    for run in report["runs"]:
        c = run["concurrency"]
        if c in ours_eps and run["executions_per_s"]:
            ratios.setdefault(run["system"], {})[c] = round(ours_eps[c] / run["executions_per_s"], 2)
    started = datetime.fromisoformat(report["started_at"])
    return {
        "finished_at": ours["finished_at"],
        "minutes_before_this_run": round((started - finished).total_seconds() / 60, 1),
        "executions_per_s": ours_eps,
        "ours_over_peer": ratios,
    }


def markdown(report: dict[str, Any]) -> str:
    m = report["machine"]
    setups = {
        "n8n": "n8n: SQLite, webhook answering when the last node finishes, every execution saved (save on"
        f" progress: {'yes' if report['args']['n8n_save_progress'] else 'no, its default'}).",
        "dbos": "DBOS: 11 `@DBOS.step`s on PostgreSQL, 202 once the workflow is started.",
    }
    lines = [
        f"# Peers on the standard workload — {report['finished_at']}",
        "",
        f"Machine: {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB; PostgreSQL"
        f" {m['versions'].get('postgresql')}; load average at start"
        f" {', '.join(f'{x:.2f}' for x in m['load_avg_at_start'])}, at the end"
        f" {', '.join(f'{x:.2f}' for x in report['load_avg_at_end'])}.",
        f"Peers: {', '.join(f'{k} {v}' for k, v in report['peers'].items())}."
        f" {' '.join(setups[k] for k in report['peers'])} Windows of"
        f" {report['args']['duration']} s per peer and concurrency in {report['args']['rounds']} interleaved"
        f" rounds after {report['args']['warmup']} s warm-up, as `make bench`.",
        "",
        "| peer | conc. | exec/s (rounds) | accept p50 / p99 ms | e2e p50 / p99 ms | RSS (PSS) MiB | errors |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in report["runs"]:
        rounds = ", ".join(str(x) for x in r["executions_per_s_by_round"])
        lines.append(
            f"| {r['system']} | {r['concurrency']} | {r['executions_per_s']} ({rounds}) |"
            f" {r['accept_ms']['p50']} / {r['accept_ms']['p99']} | {r['e2e_ms']['p50']} / {r['e2e_ms']['p99']} |"
            f" {r['memory']['rss_mib']} ({r['memory']['pss_mib']}) | {r['errors']} |"
        )
    parts = ["postgres", "rabbitmq", "loadgen", "other"]
    lines += [
        "",
        "n8n answers at the end of the execution: its accept latency is the whole run's."
        if "n8n" in report["peers"]
        else "",
        "CPU per execution (ms, from /proc over the windows; the peer's own process tree, then the rest)."
        " Someone else's work shows as 'other' CPU and as the share of the window in which some task waited"
        " on I/O (/proc/pressure/io): either slows a peer that commits per execution or per step.",
        "",
        "| peer | conc. | peer's processes | " + " | ".join(parts) + " | peer + PostgreSQL | other, cores"
        " | I/O stalled (rounds) |",
        "|---|---:|---:|" + "---:|" * (len(parts) + 3),
    ]
    for r in report["runs"]:
        cpu = r["cpu_ms_per_execution"]
        cells = " | ".join(f"{cpu.get(p, 0):.2f}" for p in [r["system"], *parts])
        total = cpu.get(r["system"], 0) + cpu.get("postgres", 0)
        other = r["cpu_cores"].get("other", 0)  # someone else's work on the box: > 0.1 core disturbs the figure
        stalled = ", ".join(f"{x:.0%}" for x in r.get("io_stalled_share_by_round", []))
        lines.append(f"| {r['system']} | {r['concurrency']} | {cells} | {total:.2f} | {other:.2f} | {stalled} |")
    ours = report.get("ours")
    if ours:
        apart = ours["minutes_before_this_run"]
        levels = " / ".join(str(k) for k in ours["executions_per_s"])
        parts = [" / ".join(str(v) for v in ours["executions_per_s"].values()) + f" exec/s at {levels} in flight"]
        parts += [f"ours / {peer} " + " / ".join(f"{v}x" for v in by_level.values())
                  for peer, by_level in ours["ours_over_peer"].items()]  # fmt: skip
        lines += [
            "",
            f"Ours (`make bench`, bench/results/latest.json, finished {ours['finished_at']}, {abs(apart)} min"
            f" {'before' if apart >= 0 else 'after'} this run started): {'; '.join(parts)}.",
        ]
    lines.append("")
    for name, c in report["correctness"].items():
        lines.append(
            f"Correctness, {name}: {c['accepted']} accepted, {c['in_store']} in its store,"
            f" {c['not_finished_once_with_counter_8']} not finished once with each node once and counter 8,"
            f" {c['missing_in_store']} missing, {c['not_accepted_but_in_store']} not accepted but ran"
            f" → {'OK' if c['ok'] else 'FAILED ' + str(c['bad_examples'])}."
        )
    return "\n".join(lines) + "\n"


def installed_peers(names: list[str], save_progress: bool) -> list[Peer]:
    peers: list[Peer] = []
    missing = []
    if "n8n" in names:
        home = Path(os.environ.get("N8N_HOME", PEERS_DIR / "n8n"))
        if (home / "node_modules" / "n8n" / "bin" / "n8n").exists() and shutil.which("node"):
            peers.append(N8n(home, save_progress))
        else:
            missing.append(f"n8n: no node_modules/n8n in N8N_HOME={home} (or no node)")
    if "dbos" in names:
        python = os.environ.get("DBOS_PYTHON", str(PEERS_DIR / "dbos-venv" / "bin" / "python"))
        try:
            peers.append(Dbos(python))
        except (OSError, subprocess.CalledProcessError):
            missing.append(f"DBOS: DBOS_PYTHON={python} cannot import dbos")
    if missing:
        print("\n".join(missing) + "\n" + INSTALL_HELP, file=sys.stderr)
        raise SystemExit(2)
    return peers


def main() -> int:
    args = parse_args()
    levels = [int(x) for x in args.concurrency.split(",")]
    peers = installed_peers(args.peers.split(","), args.n8n_save_progress)
    report: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "workload": "standard",
        "machine": machine_info(),
        "peers": {p.name: p.version for p in peers},
        "args": {
            "duration": args.duration,
            "warmup": args.warmup,
            "rounds": args.rounds,
            "concurrency": levels,
            "n8n_save_progress": args.n8n_save_progress,
        },
        "runs": [],
    }
    accepted: dict[str, list[str]] = {p.name: [] for p in peers}
    try:
        for peer in peers:
            peer.setup()
            peer.start()
        report["memory_idle_rss_mib"] = {p.name: round(memory_kib(descendants(p.pid()))[0] / 1024, 1) for p in peers}
        for level in levels:
            rounds: dict[str, list[dict[str, Any]]] = {p.name: [] for p in peers}
            for number in range(args.rounds):
                warmup = args.warmup if number == 0 else min(args.warmup, 2.0)
                window = args.duration / args.rounds
                for peer in peers:
                    log(f"{peer.name}: concurrency {level}, round {number + 1}/{args.rounds}, {warmup}s + {window}s")
                    run = asyncio.run(measure(peer, level, window, warmup))
                    accepted[peer.name] += run.pop("accepted_ids")
                    rounds[peer.name].append(run)
                    log(f"  {run['executions_per_s']} exec/s, accept p99 {run['accept_ms']['p99']} ms")
            for peer in peers:
                run = combine(rounds[peer.name])
                run["io_stalled_share_by_round"] = [r["io_stalled_share"] for r in rounds[peer.name]]
                report["runs"].append(run)
                log(
                    f"{peer.name} at {level}: {run['executions_per_s']} exec/s (rounds"
                    f" {run['executions_per_s_by_round']}), CPU ms/execution {run['cpu_ms_per_execution']}"
                )
        time.sleep(2)  # anything still finishing
        report["correctness"] = {p.name: p.check(accepted[p.name]) for p in peers}
    finally:
        for peer in peers:
            peer.stop()
        if not args.keep:
            for peer in peers:
                peer.cleanup()
    report["finished_at"] = datetime.now(UTC).isoformat(timespec="seconds")
    report["load_avg_at_end"] = os.getloadavg()
    report["ours"] = ours_beside(report)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    name = "peers-n8n-save-progress" if args.n8n_save_progress else "peers"  # a variant keeps the standard figures
    write_json(RESULTS / f"{name}-{stamp}.json", report)
    write_json(RESULTS / f"{name}-latest.json", report)
    (RESULTS / f"{name}-latest.md").write_text(markdown(report))
    print(markdown(report))
    return 0 if all(c["ok"] for c in report["correctness"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
