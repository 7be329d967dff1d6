"""Closed-loop webhook load: N virtual clients, each with N = executions in flight end to end.

A client POSTs the webhook (keep-alive HTTP/1.1 on raw asyncio streams: the generator shares the
2 cores with the system under test, so it has to be cheap), records the accept latency, waits until
its execution is finished in the database, and sends the next one. A single watcher polls the
database for the in-flight ids (a primary-key lookup every few milliseconds). Throughput and
end-to-end latency are computed afterwards from the database's own timestamps (created_at →
finished_at), not from the polling, so the polling interval does not distort them.
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Sample:
    t_send: float  # wall clock (time.time) when the request was sent
    accept_ms: float
    status: int
    execution_id: str | None


@dataclass
class LoadResult:
    samples: list[Sample] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    accepted_ids: list[str] = field(default_factory=list)


class HttpClient:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _connect(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, bytes]:
        for attempt in range(2):
            if self.writer is None:
                await self._connect()
            assert self.reader is not None and self.writer is not None
            head = f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
            head += f"Content-Length: {len(body)}\r\nConnection: keep-alive\r\n"
            head += "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
            try:
                self.writer.write(head.encode() + body)
                await self.writer.drain()
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionError("closed")
                status = int(status_line.split()[1])
                length, close = 0, False
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.decode("latin-1").partition(":")
                    lname = name.strip().lower()
                    if lname == "content-length":
                        length = int(value.strip())
                    elif lname == "connection" and value.strip().lower() == "close":
                        close = True
                data = await self.reader.readexactly(length) if length else b""
                if close:
                    await self.close()
                return status, data
            except (ConnectionError, asyncio.IncompleteReadError, OSError, IndexError, ValueError):
                await self.close()
                if attempt:
                    raise
        raise ConnectionError("unreachable")

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            try:
                await self.writer.wait_closed()
            except Exception:
                pass
        self.reader = self.writer = None


class CompletionWatcher:
    """Resolves a future per execution id once the database shows it finished."""

    # The ids among %s that are finished; bench/peers.py asks a peer's own table instead.
    FINISHED_SQL = "SELECT id::text FROM executions WHERE id = ANY(%s::uuid[]) AND finished_at IS NOT NULL"

    def __init__(self, database_url: str, interval: float = 0.002) -> None:
        self.database_url = database_url
        self.interval = interval
        self.waiting: dict[str, asyncio.Future[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self.polls = 0

    async def start(self) -> None:
        import psycopg

        self.conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
        self._task = asyncio.create_task(self._run())

    def wait_for(self, execution_id: str) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.waiting[execution_id] = future
        return future

    async def _run(self) -> None:
        while True:
            if not self.waiting:
                await asyncio.sleep(self.interval)
                continue
            ids = list(self.waiting)
            try:
                cur = await self.conn.execute(self.FINISHED_SQL, [ids])
                rows = await cur.fetchall()
            except Exception:  # the shared server restarted (other people's failure tests): reconnect
                import psycopg

                await asyncio.sleep(0.5)
                try:
                    self.conn = await psycopg.AsyncConnection.connect(self.database_url, autocommit=True)
                except Exception:
                    pass
                continue
            self.polls += 1
            for (execution_id,) in rows:
                future = self.waiting.pop(execution_id, None)
                if future is not None and not future.done():
                    future.set_result(None)
            await asyncio.sleep(self.interval)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
        await self.conn.close()


async def run_load(
    *,
    host: str,
    port: int,
    path: str,
    headers: dict[str, str],
    payload: dict[str, Any],
    concurrency: int,
    duration: float,
    watcher: CompletionWatcher,
    completion_timeout: float = 60.0,
) -> LoadResult:
    result = LoadResult()
    body = json.dumps(payload).encode()
    stop_at = time.monotonic() + duration

    async def client() -> None:
        http = HttpClient(host, port)
        try:
            while time.monotonic() < stop_at:
                t_wall, t0 = time.time(), time.perf_counter()
                try:
                    status, data = await http.post(path, body, headers)
                except Exception as exc:
                    result.errors.append(f"{type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.05)
                    continue
                accept_ms = (time.perf_counter() - t0) * 1000
                execution_id = None
                if status in (200, 202):
                    execution_id = json.loads(data)["id"]
                    result.accepted_ids.append(execution_id)
                else:
                    result.errors.append(f"HTTP {status}: {data[:200]!r}")
                result.samples.append(Sample(t_wall, accept_ms, status, execution_id))
                if execution_id is not None:
                    try:
                        await asyncio.wait_for(watcher.wait_for(execution_id), completion_timeout)
                    except TimeoutError:
                        watcher.waiting.pop(execution_id, None)
                        result.errors.append(f"execution {execution_id} not finished after {completion_timeout}s")
                else:
                    await asyncio.sleep(0.05)
        finally:
            await http.close()

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return result


def percentile(values: list[float], p: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1))))
    return round(ordered[k], 2)
