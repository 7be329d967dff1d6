"""A TCP proxy that cuts a process off the network for real, for the system tests.

Each worker's PostgreSQL and RabbitMQ traffic goes through its own `CutProxy` (one per upstream).
`blackhole()` stops moving bytes in both directions while keeping every socket open: no RST, no
FIN — the peers see what a partitioned host, a frozen VM or a torn-down pod network looks like
from the other side: silence. Bytes sent meanwhile wait in the proxy's socket buffers (the
kernel under the proxy still acknowledges them, so TCP keepalives of either side get answers:
only application-level liveness — AMQP heartbeats, the execution lease — notices the cut).
`heal()` moves the held bytes on, in order, as a healed network would deliver retransmissions.

`freeze(pid)` / `thaw(pid)` stop and continue a process group (SIGSTOP/SIGCONT), like a frozen VM.
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import threading
from urllib.parse import urlsplit, urlunsplit

_CHUNK = 65536


class CutProxy:
    """Forwards 127.0.0.1:<port> to `upstream`, one thread for all connections (a selector)."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.setblocking(False)
        self.port: int = self._listener.getsockname()[1]
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._listener, selectors.EVENT_READ, None)
        self._pairs: dict[socket.socket, socket.socket] = {}
        self._cut = threading.Event()
        self._closing = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._selector.register(self._wake_r, selectors.EVENT_READ, "wake")
        self.connections = 0  # accepted so far
        self._thread = threading.Thread(target=self._loop, name=f"cut-proxy-{self.port}", daemon=True)
        self._thread.start()

    # --- control ---------------------------------------------------------------------------------
    @property
    def cut(self) -> bool:
        return self._cut.is_set()

    def blackhole(self) -> None:
        """Stop forwarding (both directions, every connection, new ones too); sockets stay open."""
        self._cut.set()
        self._wake()

    def heal(self) -> None:
        self._cut.clear()
        self._wake()

    def close(self) -> None:
        self._closing.set()
        self._wake()
        self._thread.join(timeout=5)
        for sock in [*self._pairs, self._listener, self._wake_r, self._wake_w]:
            try:
                sock.close()
            except OSError:
                pass

    def url(self, url: str) -> str:
        """`url` (postgres://, amqp://) pointed at this proxy instead of the upstream."""
        parts = urlsplit(url)
        auth = parts.netloc.rpartition("@")[0]
        netloc = f"{auth}@127.0.0.1:{self.port}" if auth else f"127.0.0.1:{self.port}"
        return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))

    # --- the loop ----------------------------------------------------------------------------------
    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except OSError:
            pass

    def _loop(self) -> None:
        while not self._closing.is_set():
            for key, _ in self._selector.select(timeout=0.5):
                if key.data == "wake":
                    self._wake_r.recv(4096)
                elif key.data is None:
                    self._accept()
                elif not self._cut.is_set():
                    self._forward(key.fileobj)  # type: ignore[arg-type]
            self._update_interest()

    def _accept(self) -> None:
        try:
            client, _ = self._listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(self.upstream, timeout=10)
        except OSError:
            client.close()
            return
        self.connections += 1
        for sock in (client, upstream):
            sock.setblocking(False)
        self._pairs[client], self._pairs[upstream] = upstream, client

    def _update_interest(self) -> None:
        """While cut, nobody reads: bytes stay in the kernel buffers, nothing is closed."""
        reading = not self._cut.is_set()
        for sock in list(self._pairs):
            try:
                registered = sock in self._selector.get_map()
                if reading and not registered:
                    self._selector.register(sock, selectors.EVENT_READ, "conn")
                elif not reading and registered:
                    self._selector.unregister(sock)
            except (KeyError, ValueError, OSError):
                pass

    def _forward(self, sock: socket.socket) -> None:
        peer = self._pairs.get(sock)
        if peer is None:
            return
        try:
            data = sock.recv(_CHUNK)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if not data:  # the peer closed (or reset): close the other side too
            self._drop(sock)
            return
        try:
            peer.setblocking(True)
            peer.sendall(data)
            peer.setblocking(False)
        except OSError:
            self._drop(sock)

    def _drop(self, sock: socket.socket) -> None:
        peer = self._pairs.pop(sock, None)
        if peer is not None:
            self._pairs.pop(peer, None)
        for s in (sock, peer):
            if s is None:
                continue
            try:
                self._selector.unregister(s)
            except (KeyError, ValueError):
                pass
            try:
                s.close()
            except OSError:
                pass


def freeze(pid: int) -> None:
    """SIGSTOP a process group (a worker and its pool processes): no instruction runs, but the kernel
    still answers TCP (keepalives are acknowledged, sockets stay open)."""
    os.killpg(pid, signal.SIGSTOP)


def thaw(pid: int) -> None:
    os.killpg(pid, signal.SIGCONT)
