"""Connections to vetted addresses only, with one deadline over the whole call.

When the policy offers `resolve(host, port)` the connection goes to one of exactly the addresses
`resolve` vetted: the host name is resolved once, so a DNS answer that changes between a check and
the connection (DNS rebinding) cannot reach a private address; TLS still verifies the certificate
against the host name. A watchdog shuts the call's sockets at its deadline, so a server trickling
bytes cannot hold a worker, and the body is read up to a cap. Proxies from the environment are
ignored.
"""

from __future__ import annotations

import contextvars
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from engine.errors import NodeError


class Guard:
    """Per call: where connections may go (`resolve`), the deadline, and the open sockets."""

    def __init__(self, resolve: Callable[[str, int], list[str]] | None, deadline: float) -> None:
        self.resolve = resolve
        self.deadline = deadline
        self.expired = False
        self._lock = threading.Lock()
        self._watched: list[socket.socket] = []

    def remaining(self) -> float:
        return self.deadline - time.monotonic()

    def connect(self, host: str, port: int, timeout: Any, source_address: Any, socket_options: Any) -> socket.socket:
        if self.resolve is not None:
            addresses = self.resolve(host, port)  # vetted; raises NodeError when refused
        else:
            addresses = [str(info[4][0]) for info in socket.getaddrinfo(host, port, proto=socket.IPPROTO_TCP)]
        error: OSError | None = None
        for address in addresses:
            family = socket.AF_INET6 if ":" in address else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            try:
                for option in socket_options or []:
                    sock.setsockopt(*option)
                if isinstance(timeout, int | float):
                    sock.settimeout(min(float(timeout), max(self.remaining(), 0.001)))
                if source_address:
                    sock.bind(source_address)
                sock.connect((address, port))
            except OSError as exc:
                sock.close()
                error = exc
                continue
            self._watch(sock)
            return sock
        raise error or OSError(f"no address to connect to for {host}")

    def _watch(self, sock: socket.socket) -> None:
        # A duplicate descriptor survives TLS wrapping (which detaches the original object);
        # shutting it down ends every blocking read on the connection.
        with self._lock:
            self._watched.append(sock.dup())
            if self.expired:
                self._shutdown_all()

    def expire(self) -> None:
        with self._lock:
            self.expired = True
            self._shutdown_all()

    def _shutdown_all(self) -> None:
        for sock in self._watched:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self) -> None:
        with self._lock:
            for sock in self._watched:
                sock.close()
            self._watched.clear()


_GUARD: contextvars.ContextVar[Guard | None] = contextvars.ContextVar("http_request_guard", default=None)


class GuardedConnectionMixin:
    host: str
    port: int
    timeout: Any
    source_address: Any
    socket_options: Any
    _dns_host: str

    def _new_conn(self) -> socket.socket:
        guard = _GUARD.get()
        if guard is None:
            return super()._new_conn()  # type: ignore[misc,no-any-return]
        try:
            return guard.connect(self._dns_host, self.port, self.timeout, self.source_address, self.socket_options)
        except TimeoutError as exc:
            raise ConnectTimeoutError(self, f"Connection to {self.host} timed out.") from exc
        except OSError as exc:
            raise NewConnectionError(self, f"Failed to establish a new connection: {exc}") from exc  # type: ignore[arg-type]


class GuardedHTTPConnection(GuardedConnectionMixin, HTTPConnection):
    pass


class GuardedHTTPSConnection(GuardedConnectionMixin, HTTPSConnection):
    pass


class GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = GuardedHTTPConnection


class GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = GuardedHTTPSConnection


class GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": GuardedHTTPPool, "https": GuardedHTTPSPool}


def guarded_session() -> requests.Session:
    """A session whose connections go only where the current guard allows; no env proxies."""
    session = requests.Session()
    session.trust_env = False
    adapter = GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextmanager
def guarded(resolve: Callable[[str, int], list[str]] | None, seconds: float) -> Iterator[Guard]:
    guard = Guard(resolve, time.monotonic() + seconds)
    token = _GUARD.set(guard)
    timer = threading.Timer(seconds, guard.expire)
    timer.daemon = True
    timer.start()
    try:
        yield guard
    finally:
        timer.cancel()
        _GUARD.reset(token)
        guard.close()


def failure_reason(exc: BaseException) -> str:
    """A short cause of a failed request without the URL (requests puts path and query in it)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, OSError) and current.strerror:
            return current.strerror
        if isinstance(current, NodeError):
            return str(current)
        current = (
            current.__cause__
            or current.__context__
            or (current.args[0] if current.args and isinstance(current.args[0], BaseException) else None)
        )
    return type(exc).__name__


def read_limited(response: requests.Response, guard: Guard, timeout: float, max_bytes: int) -> None:
    """Reads the body with a cap, so a huge download cannot fill the worker's memory or a checkpoint;
    the guard's watchdog ends a read that runs past the call's deadline."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(16 * 1024):
            size += len(chunk)
            if size > max_bytes:
                response.close()
                raise NodeError(f"response body larger than {max_bytes} bytes")
            if guard.expired or guard.remaining() <= 0:
                break
            chunks.append(chunk)
    except NodeError:
        raise
    except (requests.RequestException, OSError) as exc:
        if not guard.expired:
            raise NodeError(f"reading the response failed: {type(exc).__name__}: {failure_reason(exc)}") from None
    if guard.expired or guard.remaining() <= 0:
        response.close()
        raise NodeError(f"timed out after {timeout}s reading the response")
    response._content = b"".join(chunks)
