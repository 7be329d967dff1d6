"""`http_request`: one HTTP call with `requests`; output `{status, headers, body}`.

Safety (the host injects the policy as `ctx.services.outbound_policy`):

* **Addresses are vetted at connect time.** When the policy offers `resolve(host, port)` (the
  worker's does, see `executions_app.outbound`), the connection goes to one of exactly the
  addresses that `resolve` vetted — the host name is resolved once, so a DNS answer that changes
  between a check and the connection (DNS rebinding) cannot reach a private address. TLS still
  verifies the certificate against the host name. Redirects are followed here, not by `requests`,
  and each hop is vetted the same way. Proxies from the environment are ignored.
* **Limits.** `timeout_seconds` bounds the whole call (all redirect hops, connecting and reading):
  a watchdog shuts the socket when it is over, so a server trickling bytes cannot hold a worker.
  The response body is read up to `MAX_BODY_BYTES`.
* **No secrets recorded.** Authorization-like headers (and the same names in query parameters and
  JSON bodies), passwords in URLs (`user:pass@`) are redacted in the step's input, in the kept
  response headers, and in error messages (which are logged and stored).
"""

from __future__ import annotations

import contextvars
import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import requests
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NewConnectionError

from engine.errors import NodeError
from engine.limits import MAX_STEP_BYTES
from engine.nodes.base import NodeContext, NodeResult, NodeType, expression_string

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"]
MAX_BODY_BYTES = MAX_STEP_BYTES
MAX_REDIRECTS = 5
SENSITIVE_HEADER_PARTS = (
    "authorization",
    "cookie",
    "token",
    "secret",
    "api-key",
    "apikey",
    "api_key",
    "password",
    "passwd",
    "signature",
    "credential",
    "session",
    "private",
)
REDACTED = "[redacted]"
STATUS_PATTERN = r"^([1-5]xx|[1-5]\d\d(-[1-5]\d\d)?)$"


def is_sensitive(name: str) -> bool:
    lowered = name.lower()
    return any(part in lowered for part in SENSITIVE_HEADER_PARTS)


def redact_headers(headers: dict[str, Any]) -> dict[str, Any]:
    return {k: REDACTED if is_sensitive(k) else v for k, v in headers.items()}


def redact_value(value: Any, depth: int = 0) -> Any:
    """A JSON value with the values of sensitive-looking keys replaced (for the recorded body)."""
    if depth > 50:
        return value
    if isinstance(value, dict):
        return {k: REDACTED if is_sensitive(str(k)) else redact_value(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_value(v, depth + 1) for v in value]
    return value


def redact_url(url: str) -> str:
    """The URL without a password in its user info and with sensitive query values redacted."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            userinfo, _, hostport = netloc.rpartition("@")
            user = userinfo.split(":", 1)[0]
            netloc = f"{user}:{REDACTED}@{hostport}" if ":" in userinfo else f"{user}@{hostport}"
        query = parts.query
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(is_sensitive(k) for k, _ in pairs):
                query = urlencode([(k, REDACTED if is_sensitive(k) else v) for k, v in pairs], safe="[]")
        return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))
    except ValueError:
        return "<invalid URL>"


def status_expected(status: int, expected: list[Any]) -> bool:
    for item in expected:
        if isinstance(item, int) and status == item:
            return True
        if isinstance(item, str):
            if item.endswith("xx") and str(status)[0] == item[0]:
                return True
            low, _, high = item.partition("-")
            if low.isdigit() and int(low) <= status <= int(high or low):
                return True
    return False


# --- connections to vetted addresses only ----------------------------------------------------------


class _Guard:
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


_GUARD: contextvars.ContextVar[_Guard | None] = contextvars.ContextVar("http_request_guard", default=None)


class _GuardedConnectionMixin:
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


class _GuardedHTTPConnection(_GuardedConnectionMixin, HTTPConnection):
    pass


class _GuardedHTTPSConnection(_GuardedConnectionMixin, HTTPSConnection):
    pass


class _GuardedHTTPPool(HTTPConnectionPool):
    ConnectionCls = _GuardedHTTPConnection


class _GuardedHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _GuardedHTTPSConnection


class _GuardedAdapter(HTTPAdapter):
    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _GuardedHTTPPool, "https": _GuardedHTTPSPool}


def guarded_session() -> requests.Session:
    """A session whose connections go only where the current guard allows; no env proxies."""
    session = requests.Session()
    session.trust_env = False
    adapter = _GuardedAdapter(max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


@contextmanager
def _guarded(resolve: Callable[[str, int], list[str]] | None, seconds: float) -> Iterator[_Guard]:
    guard = _Guard(resolve, time.monotonic() + seconds)
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


def _reason(exc: BaseException) -> str:
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


class HttpRequestNode(NodeType):
    type = "http_request"
    label = "HTTP request"
    group = "action"
    description = "Calls an HTTP endpoint. Output: {status, headers, body}; JSON responses are parsed."
    side_effects = True
    config_schema = {
        "type": "object",
        "properties": {
            "method": {"enum": METHODS, "default": "GET"},
            "url": expression_string("Absolute http(s) URL.", minLength=1),
            "headers": {"type": "object", "additionalProperties": expression_string("Header value.")},
            "query": {"type": "object", "additionalProperties": expression_string("Query parameter value.")},
            "body_type": {"enum": ["none", "json", "text"], "default": "json"},
            "body": {"x-expression": True, "description": "JSON value (strings may be expressions) or text."},
            "timeout_seconds": {
                "type": "number",
                "exclusiveMinimum": 0,
                "maximum": 300,
                "default": 30,
                "description": "Limit of the whole call, redirects included.",
            },
            "expected_status": {
                "type": "array",
                "items": {
                    "anyOf": [
                        {"type": "integer", "minimum": 100, "maximum": 599},
                        {"type": "string", "pattern": STATUS_PATTERN},
                    ]
                },
                "default": ["2xx"],
                "description": 'Accepted statuses: 200, "2xx" or "200-299".',
            },
            "follow_redirects": {"type": "boolean", "default": True},
            "idempotency_header": {
                "type": "string",
                "description": "If set, this header carries the step's idempotency key (e.g. Idempotency-Key).",
            },
        },
        "required": ["url"],
        "additionalProperties": False,
    }

    def run(self, ctx: NodeContext) -> NodeResult:
        config = ctx.config
        method = str(config.get("method", "GET")).upper()
        url = str(ctx.field("url"))
        headers = {str(k): str(v) for k, v in (ctx.field("headers") or {}).items()}
        query = {str(k): v for k, v in (ctx.field("query") or {}).items()}
        if config.get("idempotency_header"):
            headers[str(config["idempotency_header"])] = ctx.idempotency_key
        body_type = config.get("body_type", "json")
        body = ctx.field("body") if body_type != "none" else None
        data: bytes | None = None
        if body is not None and body_type == "json":
            data = json.dumps(body).encode()
            headers.setdefault("Content-Type", "application/json")
        elif body is not None and body_type == "text":
            data = (body if isinstance(body, str) else json.dumps(body)).encode()
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
        recorded = {
            "method": method,
            "url": redact_url(url),
            "headers": redact_headers(headers),
            "query": redact_value(query),
            "body": redact_value(body),
        }
        response = self._send(ctx, method=method, url=url, headers=headers, query=query, data=data)
        output = {
            "status": response.status_code,
            "headers": redact_headers(dict(response.headers)),
            "body": _parse_body(response),
        }
        expected = config.get("expected_status") or ["2xx"]
        if not status_expected(response.status_code, expected):
            raise NodeError(
                f"HTTP {response.status_code} from {redact_url(url)} (expected {', '.join(map(str, expected))})",
                details={"response": output},
            )
        return NodeResult(output=output, recorded_input=recorded)

    def _send(
        self,
        ctx: NodeContext,
        *,
        method: str,
        url: str,
        headers: dict[str, str],
        query: dict[str, Any],
        data: bytes | None,
    ) -> requests.Response:
        timeout = float(ctx.config.get("timeout_seconds", 30))
        follow = bool(ctx.config.get("follow_redirects", True))
        policy = ctx.services.outbound_policy
        resolve = getattr(policy, "resolve", None)
        own_session = ctx.services.http_session is None
        session = guarded_session() if own_session else ctx.services.http_session
        try:
            with _guarded(resolve, timeout) as guard:
                for _hop in range(MAX_REDIRECTS + 1):
                    if not url.lower().startswith(("http://", "https://")):
                        raise NodeError(f"only http(s) URLs are allowed, got {redact_url(url)!r}")
                    if policy is not None and (resolve is None or not own_session):
                        policy.check(method, url)  # vetted again at connect time when resolve exists
                    response = self._request(
                        session, guard, method=method, url=url, headers=headers, query=query, data=data, timeout=timeout
                    )
                    if not (follow and response.is_redirect and "location" in response.headers):
                        _read_limited(response, guard, timeout)
                        return response
                    url = urljoin(url, response.headers["location"])
                    query = {}
                    if response.status_code in (301, 302, 303) and method != "HEAD":
                        method, data = "GET", None
                    response.close()
                raise NodeError(f"more than {MAX_REDIRECTS} redirects")
        finally:
            if own_session:
                session.close()

    @staticmethod
    def _request(
        session: Any,
        guard: _Guard,
        *,
        method: str,
        url: str,
        headers: dict[str, str],
        query: dict[str, Any],
        data: bytes | None,
        timeout: float,
    ) -> requests.Response:
        remaining = guard.remaining()
        if remaining <= 0 or guard.expired:
            raise NodeError(f"timed out after {timeout}s calling {redact_url(url)}")
        try:
            response: requests.Response = session.request(
                method,
                url,
                headers=headers,
                params=query,
                data=data,
                timeout=remaining,
                allow_redirects=False,
                stream=True,
            )
        except NodeError:
            raise  # refused by the outbound policy at connect time
        except requests.Timeout:
            raise NodeError(f"timed out after {timeout}s calling {redact_url(url)}") from None
        except (requests.RequestException, OSError) as exc:
            if guard.expired:
                raise NodeError(f"timed out after {timeout}s calling {redact_url(url)}") from None
            raise NodeError(f"request to {redact_url(url)} failed: {type(exc).__name__}: {_reason(exc)}") from None
        return response


def _read_limited(response: requests.Response, guard: _Guard, timeout: float) -> None:
    """Reads the body with a cap, so a huge download cannot fill the worker's memory or a checkpoint;
    the guard's watchdog ends a read that runs past the call's deadline."""
    chunks: list[bytes] = []
    size = 0
    try:
        for chunk in response.iter_content(16 * 1024):
            size += len(chunk)
            if size > MAX_BODY_BYTES:
                response.close()
                raise NodeError(f"response body larger than {MAX_BODY_BYTES} bytes")
            if guard.expired or guard.remaining() <= 0:
                break
            chunks.append(chunk)
    except NodeError:
        raise
    except (requests.RequestException, OSError) as exc:
        if not guard.expired:
            raise NodeError(f"reading the response failed: {type(exc).__name__}: {_reason(exc)}") from None
    if guard.expired or guard.remaining() <= 0:
        response.close()
        raise NodeError(f"timed out after {timeout}s reading the response")
    response._content = b"".join(chunks)


def _parse_body(response: requests.Response) -> Any:
    content_type = response.headers.get("content-type", "").lower()
    if not response.content:
        return None
    if "json" in content_type:
        try:
            return response.json()
        except ValueError:
            return response.text
    return response.text
