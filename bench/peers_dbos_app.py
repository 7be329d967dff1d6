"""The standard workload on DBOS Transact, for `make bench-peers` (bench/peers.py): a peer to compare with.

    $DBOS_PYTHON bench/peers_dbos_app.py      # PEERS_DBOS_URL, PEERS_DBOS_PORT from bench/peers.py

Runs in DBOS's own virtualenv (only dbos and the standard library are imported): a threaded HTTP
server whose `POST /hook` starts the workflow below with `DBOS.start_workflow` and answers 202
with the workflow id, so that, as with our webhook, the answer means "accepted and durable" (the
workflow's status row is written before `start_workflow` returns) and the run happens after it.
The workflow is bench/workload.py's standard one as 11 `@DBOS.step`s (trigger, 8 x counter + 1,
condition, set result); DBOS checkpoints every step's output in its system database on PostgreSQL
(`dbos.operation_outputs`) and the workflow's status and output in `dbos.workflow_status`, which
bench/peers.py reads to count and check. DBOS's defaults otherwise (pickle serializer, pool sizes,
unbounded executor, log level INFO).
"""

from __future__ import annotations

import json
import os
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from dbos import DBOS, DBOSConfig

DBOS(
    config=DBOSConfig(
        name="schema-peers",
        system_database_url=os.environ["PEERS_DBOS_URL"],
        log_level=os.environ.get("PEERS_DBOS_LOG_LEVEL", "INFO"),
    )
)


@DBOS.step()
def webhook_trigger(payload: dict[str, Any]) -> dict[str, Any]:
    return {"counter": 0, "trigger": payload}


@DBOS.step()
def counter_plus_one(variables: dict[str, Any]) -> dict[str, Any]:
    return {**variables, "counter": variables["counter"] + 1}


@DBOS.step()
def condition(variables: dict[str, Any]) -> bool:
    return bool(variables["counter"] >= 8)


@DBOS.step()
def set_result(variables: dict[str, Any]) -> dict[str, Any]:
    return {**variables, "result": variables["counter"]}


@DBOS.workflow()
def standard(payload: dict[str, Any]) -> dict[str, Any]:
    variables = webhook_trigger(payload)
    for _ in range(8):
        variables = counter_plus_one(variables)
    if condition(variables):
        variables = set_result(variables)
    return {"counter": variables["counter"], "result": variables.get("result")}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as the load generator expects
    # TCP_NODELAY, as gunicorn and Node.js set it: the handler sends the head and the body in two
    # writes, and Nagle's algorithm against the client's delayed ACK held the body for ~40 ms
    disable_nagle_algorithm = True

    def _answer(self, status: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._answer(200, {"ok": True})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        payload = json.loads(self.rfile.read(length) or b"{}")
        if self.path != "/hook":
            self._answer(404, {"detail": "not found"})
            return
        handle = DBOS.start_workflow(standard, payload)
        self._answer(202, {"id": handle.workflow_id})

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no stdlib access line on stderr per request (DBOS's own logging stays at its default)


def main() -> None:
    DBOS.launch()
    server = ThreadingHTTPServer(("127.0.0.1", int(os.environ.get("PEERS_DBOS_PORT", "8131"))), Handler)
    server.daemon_threads = True
    try:
        server.serve_forever()
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    main()
